package nstest

import (
	"fmt"
	"net/netip"

	"github.com/ti-mo/conntrack"
)

// FlowKey names a test flow by what the tests vary.
type FlowKey struct {
	Src   netip.Addr
	Sport uint16
}

// TestFlow is the i-th test flow's key: sources from 198.18.200.0/22,
// ports 1024-51023, so up to 200,000 distinct flows.
func TestFlow(i int) FlowKey {
	src := netip.AddrFrom4([4]byte{198, 18, 200 + byte(i/50000), 1})
	return FlowKey{Src: src, Sport: uint16(1024 + i%50000)}
}

// testFlowDst is where every test flow goes. No packet is ever sent: the
// flows are written into the kernel table over ctnetlink.
var testFlowDst = netip.MustParseAddr("198.19.201.1")

// CreateFlows puts n established TCP flows into the namespace's kernel
// table over ctnetlink, as if traffic had passed; a conntrackd there picks
// them up from the events and syncs them to its peer.
func (n *NS) CreateFlows(count int) error {
	return n.Do(func() error {
		c, err := conntrack.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < count; i++ {
			k := TestFlow(i)
			// Status bits are left to the kernel: ctnetlink refuses
			// (EBUSY) a create that sets ASSURED or SEEN_REPLY here.
			f := conntrack.NewFlow(6, 0, k.Src, testFlowDst, k.Sport, 80, 3600, 0)
			f.ProtoInfo.TCP = &conntrack.ProtoInfoTCP{State: 3} // ESTABLISHED
			if err := c.Create(f); err != nil {
				return fmt.Errorf("creating flow %d: %w", i, err)
			}
		}
		return nil
	})
}

// MissingFlows returns how many of the first count test flows the
// namespace's kernel table lacks.
func (n *NS) MissingFlows(count int) (int, error) {
	have := map[FlowKey]bool{}
	err := n.Do(func() error {
		c, err := conntrack.Dial(nil)
		if err != nil {
			return err
		}
		defer c.Close()
		flows, err := c.Dump(nil)
		if err != nil {
			return err
		}
		for _, f := range flows {
			have[FlowKey{Src: f.TupleOrig.IP.SourceAddress, Sport: f.TupleOrig.Proto.SourcePort}] = true
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	missing := 0
	for i := 0; i < count; i++ {
		if !have[TestFlow(i)] {
			missing++
		}
	}
	return missing, nil
}
