package conntrack

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/mdlayher/netlink"
)

// recordSocket records the dump requests it is sent and answers each
// with an empty dump.
type recordSocket struct {
	sent    []netlink.Message
	pending int
}

func (s *recordSocket) Send(m netlink.Message) error {
	s.sent = append(s.sent, netlink.Message{Header: m.Header, Data: append([]byte(nil), m.Data...)})
	s.pending++
	return nil
}

func (s *recordSocket) Receive() ([]netlink.Message, error) {
	if s.pending == 0 {
		return nil, nil
	}
	s.pending--
	return []netlink.Message{{Header: netlink.Header{Type: netlink.Done}, Data: make([]byte, 4)}}, nil
}

// FuzzFilters parses any words as the filters of reset, monitor and show
// conntrack table, and checks what reaches the kernel: every attribute
// of every dump request decodes, and each says what the words said (the
// family, the mark, the zone, the protocol, an IPv4 address, the port).
func FuzzFilters(f *testing.F) {
	for _, s := range []string{
		"", "ipv4", "ipv6 protocol tcp", "protocol udp port 53", "ipv4 source 198.18.0.1 destination 198.19.0.0/16",
		"ipv4 protocol tcp source 198.18.0.1 destination 198.19.0.1 port 80 state established mark 0x10 zone 7",
		"ipv6 source 2001:db8::1 protocol 6 port 443", "mark 4294967295 zone 65535", "source 1.2.3.4", "port",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, words string) {
		qs, err := ParseFilters(strings.Fields(words))
		if err != nil {
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("ParseFilters(%q): %v, not a usage error", words, err)
			}
			return
		}
		for _, q := range qs {
			s := &recordSocket{}
			if err := ctflow.Dump(s, q, func(*ctflow.Flow) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if len(s.sent) == 0 {
				t.Fatal("no dump request")
			}
			for _, m := range s.sent {
				checkRequest(t, q, m)
			}
		}
	})
}

func checkRequest(t *testing.T, q ctflow.Query, m netlink.Message) {
	t.Helper()
	if len(m.Data) < 4 || m.Data[0] != q.Family {
		t.Fatalf("request family %v, query %d", m.Data, q.Family)
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case 8: // CTA_MARK
			if v := ad.Uint32(); !q.HasMark || v != q.Mark {
				t.Errorf("mark %d sent for query %+v", v, q)
			}
		case 18: // CTA_ZONE
			if v := ad.Uint16(); !q.HasZone || v != q.Zone {
				t.Errorf("zone %d sent for query %+v", v, q)
			}
		case 1: // CTA_TUPLE_ORIG
			ad.Nested(func(td *netlink.AttributeDecoder) error {
				for td.Next() {
					switch td.Type() {
					case 1: // CTA_TUPLE_IP
						td.Nested(func(id *netlink.AttributeDecoder) error {
							for id.Next() {
								a, ok := netip.AddrFromSlice(id.Bytes())
								want := q.Src
								if id.Type() == 2 {
									want = q.Dst
								}
								if !ok || !a.Is4() || !want.IsValid() || want.Bits() != 32 || want.Addr() != a {
									t.Errorf("address %v (attr %d) sent for query %+v", a, id.Type(), q)
								}
							}
							return nil
						})
					case 2: // CTA_TUPLE_PROTO
						td.Nested(func(pd *netlink.AttributeDecoder) error {
							for pd.Next() {
								switch pd.Type() {
								case 1:
									if v := pd.Uint8(); !q.HasProto || v != q.Proto {
										t.Errorf("protocol %d sent for query %+v", v, q)
									}
								case 2, 3:
									if v := pd.Uint16(); !q.HasPort || v != q.Port {
										t.Errorf("port %d sent for query %+v", v, q)
									}
								}
							}
							return nil
						})
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		t.Fatalf("request attributes do not decode: %v", err)
	}
}
