package ctflow

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestTableGolden(t *testing.T) {
	tests := []struct {
		name   string
		q      Query
		json   bool
		golden string
	}{
		{"ipv4", Query{Family: FamilyIPv4}, false, "table-ipv4.txt"},
		{"ipv4 json", Query{Family: FamilyIPv4}, true, "table-ipv4.json"},
		{"ipv6", Query{Family: FamilyIPv6}, false, "table-ipv6.txt"},
		{"tcp to 198.18.0.0/24", Query{Family: FamilyIPv4, Proto: ProtoTCP, HasProto: true, Dst: netip.MustParsePrefix("198.18.0.0/24")}, false, "table-ipv4-tcp-dst.txt"},
		{"mark 7", Query{Family: FamilyIPv4, Mark: 7, HasMark: true}, true, "table-ipv4-mark7.json"},
		{"state TIME_WAIT", Query{Family: FamilyIPv4, State: "time_wait"}, false, "table-ipv4-timewait.txt"},
		{"port 53 zone 0", Query{Family: FamilyIPv4, Port: 53, HasPort: true, HasZone: true}, false, "table-ipv4-port53.txt"},
		{"empty json", Query{Family: FamilyIPv4, Port: 9, HasPort: true}, true, "table-empty.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// An older kernel ignores the filters; a newer one applies them.
			for i, per := range []int{1, 2, 0, 1, 2, 0} {
				fn := dumpReply(fixedFlows)
				if i >= 3 {
					fn = kernelReply(fixedFlows)
				}
				s := &fakeSocket{fn: fn, perDatagram: per}
				var out bytes.Buffer
				tw := NewTableWriter(&out, tt.q.Family, tt.json)
				if err := tw.Header(); err != nil {
					t.Fatal(err)
				}
				if err := Dump(s, tt.q, tw.Write); err != nil {
					t.Fatal(err)
				}
				if err := tw.Close(); err != nil {
					t.Fatal(err)
				}
				if tt.json && !json.Valid(out.Bytes()) {
					t.Fatalf("invalid JSON:\n%s", out.Bytes())
				}
				golden.Check(t, golden.Dir("conntrack", tt.golden), out.Bytes())
			}
		})
	}
}

func TestDumpRequest(t *testing.T) {
	s := &fakeSocket{fn: dumpReply(nil)}
	q := Query{Family: FamilyIPv4, Proto: ProtoTCP, HasProto: true, Mark: 5, HasMark: true}
	if err := Dump(s, q, func(*Flow) error { return nil }); err != nil {
		t.Fatal(err)
	}
	m := s.sent[0]
	if m.Header.Type != msgCTGet || m.Header.Flags != netlink.Request|netlink.Dump {
		t.Fatalf("header = %+v", m.Header)
	}
	if m.Data[0] != FamilyIPv4 {
		t.Fatalf("family = %d", m.Data[0])
	}
	got := map[uint16]bool{}
	if err := walk(m.Data[4:], func(typ uint16, _ []byte) error { got[typ] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	want := map[uint16]bool{ctaMark: true, ctaMarkMask: true, ctaTupleOrig: true, ctaFilter: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request attributes (-want +got):\n%s", diff)
	}
}

// A kernel without CTA_FILTER answers EINVAL; the dump is asked again
// without kernel filters and filtered here.
func TestDumpFallback(t *testing.T) {
	calls := 0
	s := &fakeSocket{fn: func(req []netlink.Message) ([]netlink.Message, error) {
		calls++
		if calls == 1 {
			e := make([]byte, 4)
			neg := int32(-int32(unix.EINVAL))
			e[0], e[1], e[2], e[3] = byte(neg), byte(neg>>8), byte(neg>>16), byte(neg>>24)
			return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: e}}, nil
		}
		return dumpReply(fixedFlows)(req)
	}}
	n := 0
	q := Query{Family: FamilyIPv4, Proto: ProtoUDP, HasProto: true}
	if err := Dump(s, q, func(*Flow) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if calls != 2 || n != 1 {
		t.Fatalf("calls = %d, flows = %d; want 2, 1", calls, n)
	}
}

func TestDumpPermission(t *testing.T) {
	s := &fakeSocket{fn: func(req []netlink.Message) ([]netlink.Message, error) {
		e := make([]byte, 4)
		neg := -int32(unix.EPERM)
		e[0], e[1], e[2], e[3] = byte(neg), byte(neg>>8), byte(neg>>16), byte(neg>>24)
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: e}}, nil
	}}
	err := Dump(s, Query{Family: FamilyIPv4}, func(*Flow) error { return nil })
	if !errorsIs(err, ErrPermission) {
		t.Fatalf("err = %v, want ErrPermission", err)
	}
}

func TestDecodeNoAlloc(t *testing.T) {
	m := fixedFlows[0].message()
	var f Flow
	n := testing.AllocsPerRun(100, func() {
		if err := Decode(m.Data, &f); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Decode allocates %.0f times per flow", n)
	}
}

func FuzzDecode(f *testing.F) {
	for _, tf := range fixedFlows {
		f.Add(tf.message().Data)
	}
	f.Add([]byte{2, 0, 0, 0, 4, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var fl Flow
		if Decode(data, &fl) != nil {
			return
		}
		tw := NewTableWriter(&bytes.Buffer{}, fl.Family, false)
		_ = tw.Write(&fl)
		var out bytes.Buffer
		tj := NewTableWriter(&out, fl.Family, true)
		_ = tj.Header()
		_ = tj.Write(&fl)
		_ = tj.Close()
		if !json.Valid(out.Bytes()) {
			t.Fatalf("invalid JSON for %x:\n%s", data, out.Bytes())
		}
	})
}

func BenchmarkDecodeFormat(b *testing.B) {
	var msgs []netlink.Message
	for i := 0; i < 100; i++ {
		msgs = append(msgs, fixedFlows[i%4].message())
	}
	tw := NewTableWriter(discard{}, FamilyIPv4, false)
	var f Flow
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		if err := Decode(m.Data, &f); err != nil {
			b.Fatal(err)
		}
		_ = tw.Write(&f)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
