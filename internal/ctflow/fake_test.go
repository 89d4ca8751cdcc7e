package ctflow

import (
	"encoding/binary"
	"net/netip"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
)

// fakeSocket replays what an nltest.Func answers, perDatagram messages
// per Receive, the way the kernel splits a dump across datagrams.
type fakeSocket struct {
	fn          nltest.Func
	pending     []netlink.Message
	perDatagram int
	sent        []netlink.Message
}

func (s *fakeSocket) Send(m netlink.Message) error {
	s.sent = append(s.sent, m)
	msgs, err := s.fn([]netlink.Message{m})
	if err != nil {
		return err
	}
	s.pending = append(s.pending, msgs...)
	return nil
}

func (s *fakeSocket) Receive() ([]netlink.Message, error) {
	n := min(s.perDatagram, len(s.pending))
	if s.perDatagram == 0 {
		n = len(s.pending)
	}
	out := s.pending[:n]
	s.pending = s.pending[n:]
	return out, nil
}

// testFlow describes an entry to encode as the kernel would.
type testFlow struct {
	family             uint8
	proto              uint8
	src, dst           string
	sport, dport       uint16
	rsrc, rdst         string // reply addresses; swapped orig when empty
	rsport, rdport     uint16
	id, status         uint32
	timeout, mark      uint32
	zone               uint16
	state              uint8
	hasState           bool
	icmpType, icmpCode uint8
}

func encodeTuple(ae *netlink.AttributeEncoder, typ uint16, proto uint8, src, dst string, sport, dport uint16, it, ic uint8) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		nae.Nested(ctaTupleIP, func(ipe *netlink.AttributeEncoder) error {
			s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
			if s.Is4() {
				ipe.Bytes(ctaIPv4Src, s.AsSlice())
				ipe.Bytes(ctaIPv4Dst, d.AsSlice())
			} else {
				ipe.Bytes(ctaIPv6Src, s.AsSlice())
				ipe.Bytes(ctaIPv6Dst, d.AsSlice())
			}
			return nil
		})
		nae.Nested(ctaTupleProto, func(pe *netlink.AttributeEncoder) error {
			pe.Uint8(ctaProtoNum, proto)
			if hasPorts(proto) {
				pe.Uint16(ctaProtoSrcPort, sport)
				pe.Uint16(ctaProtoDstPort, dport)
			} else if proto == ProtoICMP {
				pe.Uint16(ctaProtoICMPID, sport)
				pe.Uint8(ctaProtoICMPType, it)
				pe.Uint8(ctaProtoICMPCode, ic)
			}
			return nil
		})
		return nil
	})
}

func (tf testFlow) message() netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	rsrc, rdst, rsport, rdport := tf.rsrc, tf.rdst, tf.rsport, tf.rdport
	if rsrc == "" {
		rsrc, rdst, rsport, rdport = tf.dst, tf.src, tf.dport, tf.sport
	}
	encodeTuple(ae, ctaTupleOrig, tf.proto, tf.src, tf.dst, tf.sport, tf.dport, tf.icmpType, tf.icmpCode)
	encodeTuple(ae, ctaTupleReply, tf.proto, rsrc, rdst, rsport, rdport, 0, 0)
	ae.Uint32(ctaStatus, tf.status)
	ae.Uint32(ctaTimeout, tf.timeout)
	ae.Uint32(ctaMark, tf.mark)
	if tf.hasState {
		ae.Nested(ctaProtoinfo, func(nae *netlink.AttributeEncoder) error {
			nae.Nested(ctaProtoinfoTCP, func(te *netlink.AttributeEncoder) error {
				te.Uint8(ctaProtoinfoState, tf.state)
				return nil
			})
			return nil
		})
	}
	ae.Uint32(ctaUse, 1)
	ae.Uint32(ctaID, tf.id)
	if tf.zone != 0 {
		ae.Uint16(ctaZone, tf.zone)
	}
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return netlink.Message{
		Header: netlink.Header{Type: msgCTNew, Flags: netlink.Multi},
		Data:   append([]byte{tf.family, 0, 0, 0}, b...),
	}
}

var fixedFlows = []testFlow{
	{family: FamilyIPv4, proto: ProtoTCP, src: "198.19.100.10", dst: "198.18.0.1", sport: 46728, dport: 7000,
		rsrc: "198.18.0.1", rdst: "198.18.0.101", rsport: 7000, rdport: 46728,
		id: 3012554112, status: StatusSeenReply | StatusAssured | StatusConfirmed, timeout: 431987, state: 3, hasState: true},
	{family: FamilyIPv4, proto: ProtoUDP, src: "192.0.2.12", dst: "198.51.100.2", sport: 50012, dport: 53,
		id: 17, status: StatusConfirmed, timeout: 29, mark: 7},
	{family: FamilyIPv4, proto: ProtoICMP, src: "192.0.2.1", dst: "198.51.100.3", sport: 77, icmpType: 8,
		id: 4, status: StatusSeenReply | StatusConfirmed, timeout: 30, zone: 3},
	{family: FamilyIPv4, proto: ProtoTCP, src: "10.0.0.1", dst: "10.0.0.2", sport: 1, dport: 22,
		id: 99, status: StatusSeenReply | StatusConfirmed, timeout: 120, state: 7, hasState: true},
	{family: FamilyIPv6, proto: ProtoTCP, src: "2001:db8::1", dst: "2001:db8::2", sport: 1234, dport: 443,
		id: 5, status: StatusSeenReply | StatusAssured, timeout: 300, state: 3, hasState: true, mark: 7},
}

// dumpReply answers a dump request with the flows of the requested family.
func dumpReply(flows []testFlow) nltest.Func {
	return func(req []netlink.Message) ([]netlink.Message, error) {
		fam := req[0].Data[0]
		var out []netlink.Message
		for _, f := range flows {
			if fam == 0 || f.family == fam {
				out = append(out, f.message())
			}
		}
		out = append(out, netlink.Message{Header: netlink.Header{Type: netlink.Done, Flags: netlink.Multi}, Data: make([]byte, 4)})
		return out, nil
	}
}
