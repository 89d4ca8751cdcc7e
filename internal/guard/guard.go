// Package guard is the switchover guard: a small nftables table owned by
// ctsync that keeps a router from answering, or re-tracking, packets of
// flows whose conntrack entries it has not committed yet.
//
// keepalived raises the virtual addresses before the master hook has
// committed conntrackd's external cache into the kernel table (keepalived
// issue 2254). Until the commit is done, a mid-stream packet of a synced
// flow meets a table that does not know it: addressed to a virtual
// address (the SNAT address, say) it goes to the router's own TCP stack,
// which answers with a reset and kills the flow; forwarded with
// nf_conntrack_tcp_loose=1 it is picked up as a new flow with a NAT
// mapping of its own, which then collides with the committed entry. The
// guard drops exactly those packets (TCP, not a SYN, conntrack state new
// or invalid), so the peers retransmit, and their retransmissions pass
// once the entry is in the kernel.
//
// The guard is up while the node is backup or fault, and the master hook
// lifts it once its commit is verified. Everything lives in one table,
// inet ctsync_guard, replaced or deleted in one netlink transaction, so
// the operator's own tables and rules are never read or touched and the
// guard is never half there.
//
// The drop rules match only while the set "armed" holds the element tcp.
// The master hook re-arms the guard with a timeout equal to what is left
// of its own time budget when it starts: should the hook be killed, or
// hang, the kernel lifts the guard by itself when the element expires. A
// backup's guard has no timeout; it lasts until a master lifts it.
package guard

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Names of what the guard creates.
const (
	Table       = "ctsync_guard"
	chainInput  = "input"
	chainFwd    = "forward"
	setVIP4     = "vip4"
	setVIP6     = "vip6"
	setArmed    = "armed"
	chainOffset = -10 // priority filter - 10: before the operator's filter chains
)

// Fixed transaction-local set IDs: the kernel resolves a lookup against
// a set created in the same batch by this ID, and fixed values keep the
// recorded messages of the unit tests stable.
const (
	idVIP4 uint32 = iota + 1
	idVIP6
	idArmed
)

// ErrInvalid is returned for a ruleset that cannot be programmed.
var ErrInvalid = errors.New("guard: invalid ruleset")

// Ruleset is the guard as it should be in the kernel.
type Ruleset struct {
	// VIPs are the virtual addresses: packets to them go to the router's
	// own stack, which would reset them. IPv4 and IPv6 alike.
	VIPs []netip.Addr
	// Bound, when positive, makes the guard lift itself (the drop rules
	// stop matching) that long after it is raised. Zero: until lifted.
	Bound time.Duration
}

// split returns the VIPs by family, sorted and without duplicates, so
// that the same addresses always give the same table.
func (r Ruleset) split() (v4, v6 []netip.Addr, err error) {
	for _, a := range r.VIPs {
		a = a.Unmap()
		switch {
		case !a.IsValid() || a.Zone() != "":
			return nil, nil, fmt.Errorf("%w: virtual address %q", ErrInvalid, a)
		case a.Is4():
			v4 = append(v4, a)
		default:
			v6 = append(v6, a)
		}
	}
	for _, s := range []*[]netip.Addr{&v4, &v6} {
		slices.SortFunc(*s, netip.Addr.Compare)
		*s = slices.Compact(*s)
	}
	if r.Bound < 0 {
		return nil, nil, fmt.Errorf("%w: negative bound %v", ErrInvalid, r.Bound)
	}
	return v4, v6, nil
}

// Text is the table in nft's syntax, as `nft -s list table inet
// ctsync_guard` prints it (the integration test checks that it does), for
// the golden file, the documentation and an operator comparing.
func (r Ruleset) Text() (string, error) {
	v4, v6, err := r.split()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", Table)
	set := func(name, typ string, elems []string) {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s\n", name, typ)
		if name == setArmed {
			b.WriteString("\t\tflags timeout\n")
		}
		if len(elems) > 0 {
			fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
		}
		b.WriteString("\t}\n\n")
	}
	set(setVIP4, "ipv4_addr", addrStrings(v4))
	set(setVIP6, "ipv6_addr", addrStrings(v6))
	armed := "tcp"
	if r.Bound > 0 {
		armed += " timeout " + nftDuration(r.Bound)
	}
	set(setArmed, "inet_proto", []string{armed})
	match := "meta l4proto @armed tcp flags != syn / syn,ack ct state invalid,new counter drop"
	fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook input priority filter - %d; policy accept;\n", chainInput, -chainOffset)
	fmt.Fprintf(&b, "\t\tip daddr @%s %s\n", setVIP4, match)
	fmt.Fprintf(&b, "\t\tip6 daddr @%s %s\n", setVIP6, match)
	b.WriteString("\t}\n\n")
	fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook forward priority filter - %d; policy accept;\n", chainFwd, -chainOffset)
	fmt.Fprintf(&b, "\t\t%s\n", match)
	b.WriteString("\t}\n}\n")
	return b.String(), nil
}

func addrStrings(as []netip.Addr) []string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return s
}

// nftDuration prints d the way nft does: "1m30s", "500ms", "2s".
func nftDuration(d time.Duration) string {
	d = d.Round(time.Millisecond)
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// program queues, on c, the messages that replace the guard table with r
// in one transaction: create it if absent (so that the delete cannot fail
// on a fresh system), delete it with everything in it, create it anew.
// Nothing outside the table is named, so no other table is touched.
func (r Ruleset) program(c *nftables.Conn) error {
	v4, v6, err := r.split()
	if err != nil {
		return err
	}
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)

	sets := []struct {
		s     *nftables.Set
		elems []nftables.SetElement
	}{
		{&nftables.Set{Table: t, ID: idVIP4, Name: setVIP4, KeyType: nftables.TypeIPAddr}, elements(v4)},
		{&nftables.Set{Table: t, ID: idVIP6, Name: setVIP6, KeyType: nftables.TypeIP6Addr}, elements(v6)},
		{&nftables.Set{Table: t, ID: idArmed, Name: setArmed, KeyType: nftables.TypeInetProto, HasTimeout: true},
			[]nftables.SetElement{{Key: []byte{unix.IPPROTO_TCP}, Timeout: r.Bound}}},
	}
	for _, s := range sets {
		if err := c.AddSet(s.s, s.elems); err != nil {
			return fmt.Errorf("guard: set %s: %w", s.s.Name, err)
		}
	}
	prio := nftables.ChainPriority(chainOffset)
	accept := nftables.ChainPolicyAccept
	in := c.AddChain(&nftables.Chain{Name: chainInput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: &prio, Policy: &accept})
	fwd := c.AddChain(&nftables.Chain{Name: chainFwd, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: &prio, Policy: &accept})

	c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: dropRule(daddr(unix.NFPROTO_IPV4, 16, 4, setVIP4, idVIP4))})
	c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: dropRule(daddr(unix.NFPROTO_IPV6, 24, 16, setVIP6, idVIP6))})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: dropRule(nil)})
	return nil
}

func elements(as []netip.Addr) []nftables.SetElement {
	el := make([]nftables.SetElement, len(as))
	for i, a := range as {
		el[i] = nftables.SetElement{Key: a.AsSlice()}
	}
	return el
}

// daddr matches the destination address against a set: `ip daddr @set`
// (or ip6) in an inet table, with its network-protocol dependency.
func daddr(nfproto byte, off, size uint32, set string, id uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
		&expr.Lookup{SourceRegister: 1, SetName: set, SetID: id},
	}
}

// dropRule is `[prefix] meta l4proto @armed tcp flags != syn / syn,ack
// ct state invalid,new counter drop`. The armed lookup comes first so
// that an expired guard costs one lookup per packet.
func dropRule(prefix []expr.Any) []expr.Any {
	ex := append([]expr.Any{}, prefix...)
	return append(ex,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Lookup{SourceRegister: 1, SetName: setArmed, SetID: idArmed},
		// The armed set holds only tcp, but the tcp match states its
		// own dependency, as nft would: the rule says what it means on
		// its own, and nft lists it as "tcp flags".
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		// tcp flags: byte 13 of the TCP header. SYN set, ACK clear is
		// the only packet that may open a flow; everything else of an
		// unknown flow belongs to one the kernel has not committed yet.
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{tcpSYN | tcpACK}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{tcpSYN}},
		// ct state new (picked up by tcp_loose) or invalid (refused by
		// it): conntrack, which runs before any filter hook, does not
		// know the flow.
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW | expr.CtStateBitINVALID),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}

const (
	tcpSYN = 0x02
	tcpACK = 0x10
)
