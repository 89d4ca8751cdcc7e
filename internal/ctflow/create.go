package ctflow

import (
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
)

// tcpEstablished is TCP_CONNTRACK_ESTABLISHED, the state of a flow that
// carries data (tcpStates names them all).
const tcpEstablished = 3

// CreateRequest is the IPCTNL_MSG_CT_NEW that creates f in the kernel
// table as if traffic had passed: both tuples, status, timeout, mark and
// the protocol state, with NLM_F_CREATE|NLM_F_EXCL (an existing entry is
// an error, EEXIST) and an ack. Tests and benchmarks fill tables with it.
// A status of 0 is left out (the kernel chooses); one given must include
// CONFIRMED, which the kernel sets on creation and will not clear (EBUSY).
func CreateRequest(f *Flow) netlink.Message {
	b := make([]byte, 4, 192)
	b[0] = f.Family
	b = appendTuple(b, ctaTupleOrig, &f.Orig)
	b = appendTuple(b, ctaTupleReply, &f.Reply)
	if f.Status != 0 {
		// Sent as 0, the kernel takes it for clearing bits it set
		// itself and refuses (EBUSY); left out, it sets them.
		b = appendBE32(b, ctaStatus, f.Status)
	}
	b = appendBE32(b, ctaTimeout, f.Timeout)
	if f.Mark != 0 {
		b = appendBE32(b, ctaMark, f.Mark)
	}
	if f.Zone != 0 {
		b = appendBE16(b, ctaZone, f.Zone)
	}
	if f.HasState {
		var info uint16
		switch f.Orig.Proto {
		case ProtoTCP:
			info = ctaProtoinfoTCP
		case ProtoDCCP:
			info = ctaProtoinfoDCCP
		case ProtoSCTP:
			info = ctaProtoinfoSCTP
		}
		if info != 0 {
			pi := len(b)
			b = append(b, 0, 0, 0, 0)
			in := len(b)
			b = append(b, 0, 0, 0, 0)
			b = appendAttr(b, ctaProtoinfoState, []byte{f.State})
			b = closeNest(b, in, info)
			b = closeNest(b, pi, ctaProtoinfo)
		}
	}
	return netlink.Message{
		Header: netlink.Header{Type: msgCTNew, Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Excl},
		Data:   b,
	}
}

// Create sends the create requests of flows through s in batches of
// DeleteBatch and waits for every ack; the first refusal is the error.
func Create(s BatchSocket, flows []Flow) error {
	msgs := make([]netlink.Message, 0, DeleteBatch)
	for i := 0; i < len(flows); i += DeleteBatch {
		msgs = msgs[:0]
		for j := i; j < min(i+DeleteBatch, len(flows)); j++ {
			msgs = append(msgs, CreateRequest(&flows[j]))
		}
		res, err := execBatch(s, msgs, "creating conntrack entries")
		if err == nil && res.enoent > 0 {
			err = fmt.Errorf("creating conntrack entries: %d refused (ENOENT)", res.enoent)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// EstablishedTCP is the TCP flow from src:sport to dst:dport, in state
// ESTABLISHED, that Create puts in the kernel table as if traffic had
// passed, for timeout seconds. Its status is left to the kernel; a
// caller that sets one must include StatusConfirmed.
func EstablishedTCP(src, dst netip.Addr, sport, dport uint16, timeout uint32) Flow {
	family := FamilyIPv4
	if src.Is6() {
		family = FamilyIPv6
	}
	return Flow{
		Family:  family,
		Orig:    Tuple{Src: src, Dst: dst, Proto: ProtoTCP, SrcPort: sport, DstPort: dport},
		Reply:   Tuple{Src: dst, Dst: src, Proto: ProtoTCP, SrcPort: dport, DstPort: sport},
		Timeout: timeout,
		State:   tcpEstablished, HasState: true,
	}
}
