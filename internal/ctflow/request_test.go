package ctflow

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// describeRequest renders a dump request's attributes the way ctnetlink
// reads them: big-endian values, except CTA_FILTER's flags (NLA_U32, host
// order). A nest without NLA_F_NESTED, which the kernel's strict parse of
// CTA_FILTER refuses, shows as "!nested".
func describeRequest(m netlink.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "family=%d", m.Data[0])
	describeAttrs(&b, m.Data[4:], "")
	return b.String()
}

func describeAttrs(b *strings.Builder, data []byte, parent string) {
	for len(data) >= 4 {
		l := int(binary.NativeEndian.Uint16(data))
		raw := binary.NativeEndian.Uint16(data[2:])
		typ := raw & nlaTypeMask
		p := data[4:l]
		nest := func(name string) {
			if raw&unix.NLA_F_NESTED == 0 {
				name += "!nested"
			}
			fmt.Fprintf(b, " %s{", name)
			describeAttrs(b, p, strings.TrimSuffix(name, "!nested"))
			b.WriteString(" }")
		}
		switch {
		case parent == "" && typ == ctaMark:
			fmt.Fprintf(b, " mark=%d", binary.BigEndian.Uint32(p))
		case parent == "" && typ == ctaMarkMask:
			fmt.Fprintf(b, " mark_mask=%#x", binary.BigEndian.Uint32(p))
		case parent == "" && typ == ctaZone:
			fmt.Fprintf(b, " zone=%d", binary.BigEndian.Uint16(p))
		case parent == "" && typ == ctaTupleOrig:
			nest("orig")
		case parent == "" && typ == ctaFilter:
			nest("filter")
		case parent == "orig" && typ == ctaTupleIP:
			nest("ip")
		case parent == "orig" && typ == ctaTupleProto:
			nest("proto")
		case parent == "ip" && (typ == ctaIPv4Src || typ == ctaIPv6Src):
			a, _ := netip.AddrFromSlice(p)
			fmt.Fprintf(b, " src=%s", a)
		case parent == "ip" && (typ == ctaIPv4Dst || typ == ctaIPv6Dst):
			a, _ := netip.AddrFromSlice(p)
			fmt.Fprintf(b, " dst=%s", a)
		case parent == "proto" && typ == ctaProtoNum:
			fmt.Fprintf(b, " num=%d", p[0])
		case parent == "proto" && typ == ctaProtoSrcPort:
			fmt.Fprintf(b, " sport=%d", binary.BigEndian.Uint16(p))
		case parent == "proto" && typ == ctaProtoDstPort:
			fmt.Fprintf(b, " dport=%d", binary.BigEndian.Uint16(p))
		case parent == "filter" && typ == ctaFilterOrigFlags:
			fmt.Fprintf(b, " orig_flags=%#x", binary.NativeEndian.Uint32(p))
		case parent == "filter" && typ == ctaFilterReplyFlags:
			fmt.Fprintf(b, " reply_flags=%#x", binary.NativeEndian.Uint32(p))
		default:
			fmt.Fprintf(b, " %s/attr%d=%x", parent, typ, p)
		}
		l = (l + 3) &^ 3
		if l >= len(data) {
			return
		}
		data = data[l:]
	}
}

func TestDumpRequests(t *testing.T) {
	v4 := FamilyIPv4
	pfx := netip.MustParsePrefix
	tests := []struct {
		name string
		q    Query
		want []string // one per dump request Dump sends
	}{
		{"family only", Query{Family: v4},
			[]string{"family=2"}},
		{"ipv6 family only", Query{Family: FamilyIPv6},
			[]string{"family=10"}},
		{"mark", Query{Family: v4, Mark: 0x10, HasMark: true},
			[]string{"family=2 mark=16 mark_mask=0xffffffff"}},
		{"zone 7", Query{Family: v4, Zone: 7, HasZone: true},
			[]string{"family=2 zone=7"}},
		{"zone 0", Query{Family: v4, HasZone: true},
			[]string{"family=2 zone=0"}},
		{"protocol", Query{Family: v4, Proto: ProtoTCP, HasProto: true},
			[]string{"family=2 orig{ proto{ num=6 } } filter{ orig_flags=0x8 reply_flags=0x0 }"}},
		{"source address", Query{Family: v4, Src: pfx("198.18.0.1/32")},
			[]string{"family=2 orig{ ip{ src=198.18.0.1 } } filter{ orig_flags=0x1 reply_flags=0x0 }"}},
		{"destination address", Query{Family: v4, Dst: pfx("198.19.0.1/32")},
			[]string{"family=2 orig{ ip{ dst=198.19.0.1 } } filter{ orig_flags=0x2 reply_flags=0x0 }"}},
		{"source prefix stays here", Query{Family: v4, Src: pfx("198.18.0.0/24")},
			[]string{"family=2"}},
		{"ipv6 address stays here", Query{Family: FamilyIPv6, Src: pfx("2001:db8::1/128"), Proto: ProtoTCP, HasProto: true},
			[]string{"family=10 orig{ proto{ num=6 } } filter{ orig_flags=0x8 reply_flags=0x0 }"}},
		{"port without protocol stays here", Query{Family: v4, Port: 53, HasPort: true},
			[]string{"family=2"}},
		{"port of sctp stays here", Query{Family: v4, Proto: ProtoSCTP, HasProto: true, Port: 53, HasPort: true},
			[]string{"family=2 orig{ proto{ num=132 } } filter{ orig_flags=0x8 reply_flags=0x0 }"}},
		{"udp port: two dumps", Query{Family: v4, Proto: ProtoUDP, HasProto: true, Port: 53, HasPort: true},
			[]string{
				"family=2 orig{ proto{ num=17 sport=53 } } filter{ orig_flags=0x18 reply_flags=0x0 }",
				"family=2 orig{ proto{ num=17 dport=53 } } filter{ orig_flags=0x28 reply_flags=0x0 }",
			}},
		{"state stays here", Query{Family: v4, State: "ESTABLISHED"},
			[]string{"family=2"}},
		{"everything", Query{Family: v4, Proto: ProtoTCP, HasProto: true, Src: pfx("198.18.0.1/32"), Dst: pfx("198.19.0.1/32"),
			Port: 80, HasPort: true, State: "ESTABLISHED", Mark: 1, HasMark: true, Zone: 7, HasZone: true},
			[]string{
				"family=2 mark=1 mark_mask=0xffffffff zone=7 orig{ ip{ src=198.18.0.1 dst=198.19.0.1 } proto{ num=6 sport=80 } } filter{ orig_flags=0x1b reply_flags=0x0 }",
				"family=2 mark=1 mark_mask=0xffffffff zone=7 orig{ ip{ src=198.18.0.1 dst=198.19.0.1 } proto{ num=6 dport=80 } } filter{ orig_flags=0x2b reply_flags=0x0 }",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeSocket{fn: dumpReply(nil)}
			if err := Dump(s, tt.q, func(*Flow) error { return nil }); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range s.sent {
				if m.Header.Type != msgCTGet || m.Header.Flags != netlink.Request|netlink.Dump {
					t.Errorf("header = %+v", m.Header)
				}
				got = append(got, describeRequest(m))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// kernelReply answers a dump request the way ctnetlink on Linux 6.8 or
// later does: filtered by CTA_MARK, CTA_ZONE and CTA_FILTER, refusing
// with EINVAL what the kernel refuses.
func kernelReply(flows []testFlow) func([]netlink.Message) ([]netlink.Message, error) {
	return func(req []netlink.Message) ([]netlink.Message, error) {
		m := req[0]
		fam := m.Data[0]
		var (
			mark, markMask          uint32
			hasMark, hasZone        bool
			zone                    uint16
			flags                   uint32
			src, dst                netip.Addr
			proto                   uint8
			sport, dport            uint16
			sawTuple, sawProtoInTup bool
		)
		err := walk(m.Data[4:], func(typ uint16, p []byte) error {
			switch typ {
			case ctaMark:
				mark, hasMark = binary.BigEndian.Uint32(p), true
				if markMask == 0 {
					markMask = 0xffffffff
				}
			case ctaMarkMask:
				markMask = binary.BigEndian.Uint32(p)
			case ctaZone:
				zone, hasZone = binary.BigEndian.Uint16(p), true
			case ctaFilter:
				return walk(p, func(typ uint16, p []byte) error {
					if typ == ctaFilterOrigFlags {
						flags = binary.NativeEndian.Uint32(p)
					}
					return nil
				})
			case ctaTupleOrig:
				sawTuple = true
				var tu Tuple
				err := decodeTuple(p, &tu)
				src, dst, proto, sport, dport = tu.Src, tu.Dst, tu.Proto, tu.SrcPort, tu.DstPort
				sawProtoInTup = tu.Proto != 0
				return err
			}
			return nil
		})
		einval := func() ([]netlink.Message, error) {
			e := make([]byte, 4)
			binary.NativeEndian.PutUint32(e, errCode(unix.EINVAL))
			return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: e}}, nil
		}
		switch {
		case err != nil,
			flags&^(1<<12-1) != 0,
			flags != 0 && !sawTuple,
			flags&(ctaFilterSrcPort|ctaFilterDstPort) != 0 && flags&ctaFilterProtoNum == 0,
			flags&ctaFilterProtoNum != 0 && !sawProtoInTup,
			flags&ctaFilterIPSrc != 0 && !src.IsValid(),
			flags&ctaFilterIPDst != 0 && !dst.IsValid():
			return einval()
		}
		var out []netlink.Message
		for _, f := range flows {
			s, d := netip.MustParseAddr(f.src), netip.MustParseAddr(f.dst)
			switch {
			case fam != 0 && f.family != fam,
				hasMark && f.mark&markMask != mark,
				hasZone && f.zone != zone,
				flags&ctaFilterIPSrc != 0 && s != src,
				flags&ctaFilterIPDst != 0 && d != dst,
				flags&ctaFilterProtoNum != 0 && f.proto != proto,
				(f.proto == ProtoTCP || f.proto == ProtoUDP) && flags&ctaFilterSrcPort != 0 && f.sport != sport,
				(f.proto == ProtoTCP || f.proto == ProtoUDP) && flags&ctaFilterDstPort != 0 && f.dport != dport:
				continue
			}
			out = append(out, f.message())
		}
		out = append(out, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi}, Data: make([]byte, 4)})
		return out, nil
	}
}

// filterFlows are fixedFlows and more: several zones, both ports of a
// port query, the same flow's source port equal to its destination port.
var filterFlows = append(append([]testFlow(nil), fixedFlows...),
	testFlow{family: FamilyIPv4, proto: ProtoUDP, src: "198.18.0.7", dst: "198.19.0.1", sport: 53, dport: 4000, id: 20, timeout: 10, zone: 7},
	testFlow{family: FamilyIPv4, proto: ProtoUDP, src: "198.18.0.7", dst: "198.19.0.1", sport: 53, dport: 53, id: 21, timeout: 10, zone: 7},
	testFlow{family: FamilyIPv4, proto: ProtoTCP, src: "198.18.0.7", dst: "198.19.0.2", sport: 2000, dport: 53, id: 22, timeout: 10, zone: 7, mark: 7},
	testFlow{family: FamilyIPv4, proto: ProtoTCP, src: "198.18.0.8", dst: "198.19.0.2", sport: 2001, dport: 80, id: 23, timeout: 10},
	testFlow{family: FamilyIPv4, proto: ProtoSCTP, src: "198.18.0.8", dst: "198.19.0.2", sport: 53, dport: 80, id: 24, timeout: 10},
)

// Whether the kernel filters (kernelReply), ignores the filters (an older
// kernel: dumpReply), or refuses them (fallback), Dump lists the same
// flows, each once, and a filtering kernel sends only those.
func TestDumpKernelFilters(t *testing.T) {
	v4 := FamilyIPv4
	pfx := netip.MustParsePrefix
	queries := []Query{
		{Family: v4},
		{Family: v4, Zone: 7, HasZone: true},
		{Family: v4, HasZone: true},
		{Family: v4, Zone: 3, HasZone: true},
		{Family: v4, Src: pfx("198.18.0.7/32")},
		{Family: v4, Src: pfx("198.18.0.0/24")},
		{Family: v4, Dst: pfx("198.19.0.2/32"), Proto: ProtoTCP, HasProto: true},
		{Family: v4, Proto: ProtoUDP, HasProto: true, Port: 53, HasPort: true},
		{Family: v4, Proto: ProtoTCP, HasProto: true, Port: 53, HasPort: true},
		{Family: v4, Proto: ProtoSCTP, HasProto: true, Port: 53, HasPort: true},
		{Family: v4, Port: 53, HasPort: true},
		{Family: v4, Mark: 7, HasMark: true, Zone: 7, HasZone: true},
		{Family: v4, Src: pfx("198.18.0.7/32"), Zone: 7, HasZone: true, Proto: ProtoUDP, HasProto: true, Port: 53, HasPort: true},
		{Family: FamilyIPv6, Src: pfx("2001:db8::1/128")},
	}
	refuse := func(req []netlink.Message) ([]netlink.Message, error) {
		if len(req[0].Data) > 4 {
			e := make([]byte, 4)
			binary.NativeEndian.PutUint32(e, errCode(unix.EOPNOTSUPP))
			return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: e}}, nil
		}
		return dumpReply(filterFlows)(req)
	}
	for i, q := range queries {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var want []uint32
			twice := 0 // flows both dumps of a split port get
			for _, tf := range filterFlows {
				var f Flow
				if err := Decode(tf.message().Data, &f); err != nil {
					t.Fatal(err)
				}
				if q.Match(&f) {
					want = append(want, f.ID)
					if q.splitPort() && f.Orig.SrcPort == q.Port && f.Orig.DstPort == q.Port {
						twice++
					}
				}
			}
			for _, k := range []struct {
				name string
				fn   func([]netlink.Message) ([]netlink.Message, error)
			}{{"filtering", kernelReply(filterFlows)}, {"ignoring", dumpReply(filterFlows)}, {"refusing", refuse}} {
				s := &CountingSocket{Socket: &fakeSocket{fn: k.fn, perDatagram: 2}}
				var got []uint32
				if err := Dump(s, q, func(f *Flow) error { got = append(got, f.ID); return nil }); err != nil {
					t.Fatalf("%s kernel: %v", k.name, err)
				}
				if diff := cmp.Diff(sorted(want), sorted(got)); diff != "" {
					t.Errorf("%s kernel, %+v: flow ids (-want +got):\n%s", k.name, q, diff)
				}
				tf := q.kernelTuple()
				kernelOnly := q.State == "" && (!q.Src.IsValid() || tf&ctaFilterIPSrc != 0) &&
					(!q.Dst.IsValid() || tf&ctaFilterIPDst != 0) && (!q.HasPort || q.splitPort())
				if k.name == "filtering" && kernelOnly && s.Flows != len(want)+twice {
					t.Errorf("filtering kernel sent %d flows for %d listed (%d of them twice)", s.Flows, len(want), twice)
				}
			}
		})
	}
}

func sorted(ids []uint32) []uint32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// A kernel that refuses the second dump of a split port after the first
// listed flows must not make Dump list them again.
func TestDumpSplitPortNoRepeat(t *testing.T) {
	calls := 0
	s := &fakeSocket{fn: func(req []netlink.Message) ([]netlink.Message, error) {
		calls++
		if calls == 2 {
			e := make([]byte, 4)
			binary.NativeEndian.PutUint32(e, errCode(unix.EINVAL))
			return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: e}}, nil
		}
		return kernelReply(filterFlows)(req)
	}}
	q := Query{Family: FamilyIPv4, Proto: ProtoUDP, HasProto: true, Port: 53, HasPort: true}
	var out bytes.Buffer
	err := Dump(s, q, func(f *Flow) error { fmt.Fprintln(&out, f.ID); return nil })
	if err == nil || !errorsIs(err, unix.EINVAL) || calls != 2 {
		t.Fatalf("err = %v after %d requests; want EINVAL after 2", err, calls)
	}
	if got := out.String(); got != "20\n21\n" {
		t.Errorf("listed %q", got)
	}
}

// errCode is the nlmsgerr error field for errno: its negation.
func errCode(errno unix.Errno) uint32 { return uint32(-int32(errno)) }
