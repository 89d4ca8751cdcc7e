package ctflow

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ackSocket answers each delete it is sent with an ack: 0, or ENOENT for
// the flow ids in gone.
type ackSocket struct {
	gone    map[uint32]bool
	deleted []uint32
	batches []int
	pending []netlink.Message
}

func (s *ackSocket) Send(m netlink.Message) error { return s.SendMessages([]netlink.Message{m}) }

func (s *ackSocket) SendMessages(msgs []netlink.Message) error {
	s.batches = append(s.batches, len(msgs))
	for _, m := range msgs {
		var f Flow
		if err := Decode(m.Data, &f); err != nil {
			return err
		}
		code := int32(0)
		if s.gone[f.ID] {
			code = -int32(unix.ENOENT)
		} else {
			s.deleted = append(s.deleted, f.ID)
		}
		s.pending = append(s.pending, netlink.Message{Header: netlink.Header{Type: netlink.Error},
			Data: ackData(code)})
	}
	return nil
}

// Receive hands out one ack per datagram, as the kernel sends them.
func (s *ackSocket) Receive() ([]netlink.Message, error) {
	if len(s.pending) == 0 {
		return nil, nil
	}
	m := s.pending[0]
	s.pending = s.pending[1:]
	return []netlink.Message{m}, nil
}

// TestDeleteRequestRoundTrip: what a delete names (original tuple, zone,
// id) is what the kernel's parser, here Decode, reads back.
func TestDeleteRequestRoundTrip(t *testing.T) {
	for _, tf := range fixedFlows {
		m := tf.message()
		var f Flow
		if err := Decode(m.Data, &f); err != nil {
			t.Fatal(err)
		}
		req := DeleteRequest(&f)
		if req.Header.Type != msgCTDelete || req.Header.Flags != netlink.Request|netlink.Acknowledge {
			t.Errorf("header %+v", req.Header)
		}
		var got Flow
		if err := Decode(req.Data, &got); err != nil {
			t.Fatal(err)
		}
		want := Flow{Family: f.Family, Orig: f.Orig, Zone: f.Zone, ID: f.ID}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("flow %d (-want +got):\n%s", f.ID, diff)
		}
	}
}

func TestDeleteMatchingInBatches(t *testing.T) {
	var flows []testFlow
	for i := 0; i < 2*DeleteBatch+10; i++ {
		proto := ProtoTCP
		if i%3 == 0 {
			proto = ProtoUDP
		}
		flows = append(flows, testFlow{family: FamilyIPv4, proto: proto, src: "198.18.200.1", dst: "198.19.201.1",
			sport: uint16(1024 + i), dport: 80, id: uint32(i + 1), timeout: 60})
	}
	dumpSock := &fakeSocket{fn: dumpReply(flows), perDatagram: 40}
	del := &ackSocket{gone: map[uint32]bool{2: true, 5: true}}
	res, err := Delete(dumpSock, del, Query{Family: FamilyIPv4, Proto: ProtoTCP, HasProto: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint32
	for _, f := range flows {
		if f.proto == ProtoTCP && !del.gone[f.id] {
			want = append(want, f.id)
		}
	}
	if diff := cmp.Diff(want, del.deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if res.Removed != len(want) || res.Vanished != 2 {
		t.Errorf("result %+v, want %d removed, 2 vanished", res, len(want))
	}
	for _, n := range del.batches {
		if n > DeleteBatch {
			t.Errorf("a batch of %d deletes, more than %d", n, DeleteBatch)
		}
	}
}

func TestDeleteKernelError(t *testing.T) {
	dumpSock := &fakeSocket{fn: dumpReply(fixedFlows)}
	del := &errAckSocket{}
	_, err := Delete(dumpSock, del, Query{Family: FamilyIPv4})
	if !errors.Is(err, ErrPermission) {
		t.Fatalf("err %v, want ErrPermission", err)
	}
}

type errAckSocket struct{ ackSocket }

func (s *errAckSocket) SendMessages(msgs []netlink.Message) error {
	for range msgs {
		s.pending = append(s.pending, netlink.Message{Header: netlink.Header{Type: netlink.Error},
			Data: ackData(-int32(unix.EPERM))})
	}
	return nil
}

// scriptSocket returns its steps one Receive at a time.
type scriptSocket struct {
	steps []step
}

type step struct {
	msgs []netlink.Message
	err  error
}

func (s *scriptSocket) Send(netlink.Message) error { return nil }
func (s *scriptSocket) Receive() ([]netlink.Message, error) {
	if len(s.steps) == 0 {
		return nil, os.ErrDeadlineExceeded
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	return st.msgs, st.err
}

func TestEventsKindsFilterOverrun(t *testing.T) {
	newMsg := fixedFlows[0].message()
	newMsg.Header.Flags = netlink.Create | netlink.Excl
	upd := fixedFlows[0].message()
	upd.Header.Flags = 0
	destroy := fixedFlows[0].message()
	destroy.Header.Type = msgCTDelete
	other := fixedFlows[1].message() // UDP: filtered out
	other.Header.Flags = netlink.Create
	s := &scriptSocket{steps: []step{
		{msgs: []netlink.Message{newMsg, other}},
		{err: unix.ENOBUFS},
		{msgs: []netlink.Message{upd}},
		{msgs: []netlink.Message{destroy}},
	}}
	var got []string
	err := Events(s, Query{Proto: ProtoTCP, HasProto: true}, func(k EventKind, f *Flow) error {
		got = append(got, k.String()+" "+string(AppendLine(nil, f)))
		return nil
	}, func(err error) error {
		got = append(got, "overrun: "+err.Error())
		return nil
	})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Events ended with %v", err)
	}
	line := "tcp 198.19.100.10:46728 -> 198.18.0.1:7000 reply 198.18.0.1:7000 -> 198.18.0.101:46728 ESTABLISHED timeout 431987 mark 0 zone 0 id 3012554112"
	want := []string{"new " + line, "overrun: " + ErrOverrun.Error(), "update " + line, "destroy " + line}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// FuzzDeleteRequest: any decoded entry's delete request reads back as
// the same original tuple, zone and id.
func FuzzDeleteRequest(f *testing.F) {
	for _, tf := range fixedFlows {
		f.Add(tf.message().Data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fl Flow
		if Decode(data, &fl) != nil {
			return
		}
		if !fl.Orig.Src.IsValid() || !fl.Orig.Dst.IsValid() || fl.Orig.Src.Is4() != fl.Orig.Dst.Is4() {
			return // the kernel never sends such a tuple; nothing to name
		}
		var got Flow
		if err := Decode(DeleteRequest(&fl).Data, &got); err != nil {
			t.Fatal(err)
		}
		o := fl.Orig
		switch {
		case hasPorts(o.Proto):
			o.ICMPType, o.ICMPCode = 0, 0
		case o.Proto == ProtoICMP || o.Proto == ProtoICMPv6:
			o.DstPort = 0
		default:
			o.SrcPort, o.DstPort, o.ICMPType, o.ICMPCode = 0, 0, 0, 0
		}
		o.Zone = 0
		if got.Orig != o || got.Zone != fl.Zone || got.ID != fl.ID {
			t.Fatalf("round trip: %+v -> %+v", fl, got)
		}
	})
}

func ackData(code int32) []byte {
	return binary.NativeEndian.AppendUint32(nil, uint32(code))
}

// TestCreateRequestRoundTrip: a create request carries everything of the
// entry that the kernel takes from one (not the id, use count or status
// bits it sets itself, which Decode leaves as sent).
func TestCreateRequestRoundTrip(t *testing.T) {
	for _, tf := range fixedFlows {
		var f Flow
		if err := Decode(tf.message().Data, &f); err != nil {
			t.Fatal(err)
		}
		req := CreateRequest(&f)
		if req.Header.Type != msgCTNew || req.Header.Flags&(netlink.Create|netlink.Excl|netlink.Acknowledge) != netlink.Create|netlink.Excl|netlink.Acknowledge {
			t.Errorf("header %+v", req.Header)
		}
		var got Flow
		if err := Decode(req.Data, &got); err != nil {
			t.Fatal(err)
		}
		want := f
		want.ID, want.Use = 0, 0
		// Only TCP, SCTP and DCCP carry a state; reply ICMP type/code are
		// not in the fixtures' reply tuples either way.
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("flow %d (-want +got):\n%s", f.ID, diff)
		}
	}
}

func TestCreateBatches(t *testing.T) {
	flows := make([]Flow, DeleteBatch+3)
	for i := range flows {
		flows[i] = Flow{Family: FamilyIPv4, ID: uint32(i + 1),
			Orig:  Tuple{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.1"), Proto: ProtoTCP, SrcPort: uint16(i), DstPort: 80},
			Reply: Tuple{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.0.0.1"), Proto: ProtoTCP, SrcPort: 80, DstPort: uint16(i)}}
	}
	s := &ackSocket{}
	if err := Create(s, flows); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{DeleteBatch, 3}, s.batches); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	if err := Create(&errAckSocket{}, flows[:1]); !errors.Is(err, ErrPermission) {
		t.Errorf("refused create: %v", err)
	}
}
