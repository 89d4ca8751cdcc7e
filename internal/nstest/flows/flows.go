// Package flows puts test flows into the kernel conntrack table of a
// test namespace and counts them there, over ctflow: the conntrackd of
// the namespace picks them up from the events and syncs them to its
// peer, as if traffic had passed. It is apart from nstest because
// ctflow's own tests use nstest.
package flows

import (
	"net/netip"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/nstest"
)

// Key names a test flow by what the tests vary.
type Key struct {
	Src   netip.Addr
	Sport uint16
}

// KeyOf is the i-th test flow's key: sources from 198.18.200.0/22,
// ports 1024-51023, so up to 200,000 distinct flows.
func KeyOf(i int) Key {
	src := netip.AddrFrom4([4]byte{198, 18, 200 + byte(i/50000), 1})
	return Key{Src: src, Sport: uint16(1024 + i%50000)}
}

// dst is where every test flow goes. No packet is ever sent: the flows
// are written into the kernel table over ctnetlink.
var dst = netip.MustParseAddr("198.19.201.1")

// Create puts count established TCP flows into the namespace's kernel
// table. Their status bits are left to the kernel.
func Create(ns *nstest.NS, count int) error {
	fs := make([]ctflow.Flow, count)
	for i := range fs {
		k := KeyOf(i)
		fs[i] = ctflow.EstablishedTCP(k.Src, dst, k.Sport, 80, 3600)
	}
	return ns.Do(func() error {
		c, err := ctflow.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		return ctflow.Create(c, fs)
	})
}

// Missing returns how many of the first count test flows the
// namespace's kernel table lacks.
func Missing(ns *nstest.NS, count int) (int, error) {
	have := map[Key]bool{}
	err := ns.Do(func() error {
		c, err := ctflow.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		return ctflow.Dump(c, ctflow.Query{Family: ctflow.FamilyIPv4}, func(f *ctflow.Flow) error {
			have[Key{Src: f.Orig.Src, Sport: f.Orig.SrcPort}] = true
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	missing := 0
	for i := range count {
		if !have[KeyOf(i)] {
			missing++
		}
	}
	return missing, nil
}
