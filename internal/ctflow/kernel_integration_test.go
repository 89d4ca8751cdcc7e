//go:build integration

package ctflow

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// kernelAtLeast reports whether the running kernel is major.minor or
// later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	rel := unix.ByteSliceToString(u.Release[:])
	for i, part := range strings.SplitN(rel, ".", 3)[:2] {
		n := 0
		for _, c := range part {
			if c < '0' || c > '9' {
				break
			}
			n = n*10 + int(c-'0')
		}
		if i == 0 {
			ma = n
		} else {
			mi = n
		}
	}
	return ma > major || ma == major && mi >= minor
}

// insertFlows fills a namespace's table with flows in zones 0, 3 and 7,
// from two sources, over TCP and UDP, IPv4 and IPv6, with conntrack -I.
func insertFlows(ns *nstest.NS) {
	for _, f := range [][]string{
		{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.19.0.1", "--sport", "1000", "--dport", "80"},
		{"-p", "tcp", "-s", "198.18.0.2", "-d", "198.19.0.1", "--sport", "1001", "--dport", "80"},
		{"-p", "udp", "-s", "198.18.0.1", "-d", "198.19.0.2", "--sport", "53", "--dport", "53"},
		{"-p", "tcp", "-s", "198.18.0.1", "-d", "198.19.0.1", "--sport", "1002", "--dport", "80", "-w", "7"},
		{"-p", "tcp", "-s", "198.18.0.2", "-d", "198.19.0.2", "--sport", "80", "--dport", "443", "-w", "7", "-m", "5"},
		{"-p", "udp", "-s", "198.18.0.2", "-d", "198.19.0.1", "--sport", "5353", "--dport", "53", "-w", "7"},
		{"-p", "udp", "-s", "198.18.0.2", "-d", "198.19.0.1", "--sport", "5354", "--dport", "53", "-w", "3"},
		{"-p", "tcp", "-s", "2001:db8::1", "-d", "2001:db8::2", "--sport", "1000", "--dport", "80"},
		{"-p", "tcp", "-s", "2001:db8::3", "-d", "2001:db8::2", "--sport", "1000", "--dport", "80", "-w", "7"},
	} {
		args := append([]string{"-I"}, f...)
		if f[1] == "tcp" {
			args = append(args, "--state", "ESTABLISHED")
		}
		ns.Run("conntrack", append(args, "-t", "600")...)
	}
}

// TestKernelFilters checks, against this kernel's ctnetlink, that Dump
// lists what the query asks for and that the kernel, not this package,
// left out the rest wherever the request carries the filter.
func TestKernelFilters(t *testing.T) {
	nstest.Require(t, "conntrack")
	ns := nstest.New(t, "ctfilt")
	insertFlows(ns)
	zoneKernel := kernelAtLeast(t, 6, 8)
	tupleKernel := kernelAtLeast(t, 5, 9)
	pfx := netip.MustParsePrefix
	v4 := FamilyIPv4
	tests := []struct {
		name   string
		q      Query
		kernel bool // the kernel filters everything the query asks
	}{
		{"zone 7", Query{Family: v4, Zone: 7, HasZone: true}, zoneKernel},
		{"zone 0", Query{Family: v4, HasZone: true}, zoneKernel},
		{"zone 9", Query{Family: v4, Zone: 9, HasZone: true}, zoneKernel},
		{"ipv6 zone 7", Query{Family: FamilyIPv6, Zone: 7, HasZone: true}, zoneKernel},
		{"source", Query{Family: v4, Src: pfx("198.18.0.1/32")}, tupleKernel},
		{"destination", Query{Family: v4, Dst: pfx("198.19.0.2/32")}, tupleKernel},
		{"source and zone 7", Query{Family: v4, Src: pfx("198.18.0.2/32"), Zone: 7, HasZone: true}, zoneKernel && tupleKernel},
		{"protocol udp", Query{Family: v4, Proto: ProtoUDP, HasProto: true}, tupleKernel},
		{"tcp port 80", Query{Family: v4, Proto: ProtoTCP, HasProto: true, Port: 80, HasPort: true}, tupleKernel},
		{"udp port 53", Query{Family: v4, Proto: ProtoUDP, HasProto: true, Port: 53, HasPort: true}, tupleKernel},
		{"mark 5", Query{Family: v4, Mark: 5, HasMark: true}, true},
		{"source prefix", Query{Family: v4, Src: pfx("198.18.0.0/31"), Zone: 7, HasZone: true}, false},
		{"port without protocol", Query{Family: v4, Port: 53, HasPort: true}, false},
		{"ipv6 source", Query{Family: FamilyIPv6, Src: pfx("2001:db8::1/128")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var all, got []uint32
			twice := 0
			var sent int
			err := ns.Do(func() error {
				c, err := Dial()
				if err != nil {
					return err
				}
				defer c.Close()
				if err := Dump(c, Query{Family: tt.q.Family}, func(f *Flow) error {
					if tt.q.Match(f) {
						all = append(all, f.ID)
						if tt.q.splitPort() && f.Orig.SrcPort == tt.q.Port && f.Orig.DstPort == tt.q.Port {
							twice++
						}
					}
					return nil
				}); err != nil {
					return err
				}
				cs := &CountingSocket{Socket: c}
				err = Dump(cs, tt.q, func(f *Flow) error { got = append(got, f.ID); return nil })
				sent = cs.Flows
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(all)
			slices.Sort(got)
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("flow ids (-want +got):\n%s", diff)
			}
			if tt.kernel && sent != len(got)+twice {
				t.Errorf("the kernel sent %d flows for %d listed: it did not filter", sent, len(got))
			}
			t.Logf("listed %d, kernel sent %d", len(got), sent)
		})
	}
}

// TestKernelIPv6AddressFilter shows why Dump keeps IPv6 addresses out of
// the request: ctnetlink_filter_match_tuple compares them with
// !ipv6_addr_cmp, which is true when they are equal, so the kernel drops
// the flows that match. It only reports what this kernel does: either
// way Dump lists the right flows (TestKernelFilters, "ipv6 source").
func TestKernelIPv6AddressFilter(t *testing.T) {
	nstest.Require(t, "conntrack")
	if !kernelAtLeast(t, 5, 9) {
		t.Skip("no CTA_FILTER before Linux 5.9")
	}
	ns := nstest.New(t, "ctfilt6")
	insertFlows(ns)
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaTupleOrig, func(tae *netlink.AttributeEncoder) error {
		tae.Nested(ctaTupleIP, func(iae *netlink.AttributeEncoder) error {
			iae.Bytes(ctaIPv6Src, netip.MustParseAddr("2001:db8::1").AsSlice())
			return nil
		})
		return nil
	})
	ae.Nested(ctaFilter, func(fae *netlink.AttributeEncoder) error {
		fae.ByteOrder = binary.NativeEndian
		fae.Uint32(ctaFilterOrigFlags, ctaFilterIPSrc)
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	req := netlink.Message{
		Header: netlink.Header{Type: msgCTGet, Flags: netlink.Request | netlink.Dump},
		Data:   append([]byte{FamilyIPv6, 0, 0, 0}, attrs...),
	}
	var srcs []string
	err = ns.Do(func() error {
		c, err := Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		return dump(c, req, &Query{}, passAll, func(f *Flow) error {
			srcs = append(srcs, f.Orig.Src.String())
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(srcs, "2001:db8::1") {
		t.Logf("this kernel filters IPv6 source 2001:db8::1 right: %v", srcs)
	} else {
		t.Logf("this kernel inverts the IPv6 address filter: asked for source 2001:db8::1, sent sources %v", srcs)
	}
}
