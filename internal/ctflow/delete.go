package ctflow

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nlenc"
	"golang.org/x/sys/unix"
)

const msgCTDelete = subsysCT | 2 // IPCTNL_MSG_CT_DELETE

// BatchSocket sends several netlink messages in one system call, as
// netlink.Conn.SendMessages does; Delete sends its requests through one.
type BatchSocket interface {
	Socket
	SendMessages(msgs []netlink.Message) error
}

// SendMessages sends msgs in one sendmsg: the kernel runs them in order
// and answers each with its own ack.
func (c *Conn) SendMessages(msgs []netlink.Message) error {
	_, err := c.c.SendMessages(msgs)
	return err
}

// DeleteBatch is how many delete requests go into one sendmsg before
// their acks are read. Each ack is one small datagram (NETLINK_CAP_ACK
// would trim them; they stay under 200 bytes anyway), so a batch's acks
// fit the default receive buffer many times over.
const DeleteBatch = 256

// DeleteResult counts what Delete did.
type DeleteResult struct {
	Removed  int `json:"removed"`  // the kernel deleted it
	Vanished int `json:"vanished"` // gone before its delete arrived (expired, or another tool)
}

// Delete removes the flows that match q from the kernel table, streaming
// the dump from s and sending the deletes through del, a second socket
// (a socket in the middle of a dump cannot take requests), in batches of
// DeleteBatch. Each delete names the entry by its original tuple, zone
// and id, so a flow that ended and was replaced by a new one with the
// same addresses is left alone. Deleting entries the dump has already
// passed does not disturb it: ctnetlink resumes from its own position.
func Delete(s Socket, del BatchSocket, q Query) (DeleteResult, error) {
	var res DeleteResult
	batch := make([]netlink.Message, 0, DeleteBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r, err := deleteBatch(del, batch)
		res.Removed += r.Removed
		res.Vanished += r.Vanished
		batch = batch[:0]
		return err
	}
	err := Dump(s, q, func(f *Flow) error {
		batch = append(batch, DeleteRequest(f))
		if len(batch) == cap(batch) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	return res, flush()
}

// deleteBatch sends msgs and reads one ack per message.
func deleteBatch(del BatchSocket, msgs []netlink.Message) (DeleteResult, error) {
	res, err := execBatch(del, msgs, "deleting conntrack entries")
	return DeleteResult{Removed: res.ok, Vanished: res.enoent}, err
}

type batchResult struct{ ok, enoent int }

// execBatch sends msgs, each asking for an ack, in one sendmsg and reads
// their acks, counting those that succeeded and those refused with
// ENOENT; any other refusal ends it with an error.
func execBatch(del BatchSocket, msgs []netlink.Message, what string) (batchResult, error) {
	var res batchResult
	if err := del.SendMessages(msgs); err != nil {
		return res, fmt.Errorf("%s: %w", what, mapErrno(err))
	}
	for want := len(msgs); want > 0; {
		got, err := del.Receive()
		if err != nil {
			return res, fmt.Errorf("%s: %w", what, mapErrno(err))
		}
		if len(got) == 0 {
			return res, fmt.Errorf("%s: %d acks missing", what, want)
		}
		for _, m := range got {
			if m.Header.Type != netlink.Error {
				continue
			}
			want--
			if len(m.Data) < 4 {
				return res, fmt.Errorf("%s: %w: short ack", what, ErrMalformed)
			}
			switch code := int32(nlenc.Uint32(m.Data[:4])); {
			case code == 0:
				res.ok++
			case unix.Errno(-code) == unix.ENOENT:
				res.enoent++
			default:
				return res, fmt.Errorf("%s: %w", what, kernelErr{unix.Errno(-code)})
			}
		}
	}
	return res, nil
}

// DeleteRequest is the IPCTNL_MSG_CT_DELETE of f: its original tuple,
// its zone when not 0, and its id, with an ack asked for.
func DeleteRequest(f *Flow) netlink.Message {
	b := make([]byte, 4, 128)
	b[0] = f.Family
	b = appendTuple(b, ctaTupleOrig, &f.Orig)
	if f.Zone != 0 {
		b = appendBE16(b, ctaZone, f.Zone)
	}
	b = appendBE32(b, ctaID, f.ID)
	return netlink.Message{
		Header: netlink.Header{Type: msgCTDelete, Flags: netlink.Request | netlink.Acknowledge},
		Data:   b,
	}
}

// appendTuple appends a CTA_TUPLE_* nest for t. It is written by hand
// rather than with netlink.AttributeEncoder, whose closures and
// intermediate slices cost more than the kernel's work at 100,000 deletes.
func appendTuple(b []byte, typ uint16, t *Tuple) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	ip := len(b)
	b = append(b, 0, 0, 0, 0)
	if t.Src.Is4() {
		b = appendAttr(b, ctaIPv4Src, t.Src.AsSlice())
		b = appendAttr(b, ctaIPv4Dst, t.Dst.AsSlice())
	} else {
		b = appendAttr(b, ctaIPv6Src, t.Src.AsSlice())
		b = appendAttr(b, ctaIPv6Dst, t.Dst.AsSlice())
	}
	b = closeNest(b, ip, ctaTupleIP)
	proto := len(b)
	b = append(b, 0, 0, 0, 0)
	b = appendAttr(b, ctaProtoNum, []byte{t.Proto})
	switch {
	case hasPorts(t.Proto):
		b = appendBE16(b, ctaProtoSrcPort, t.SrcPort)
		b = appendBE16(b, ctaProtoDstPort, t.DstPort)
	case t.Proto == ProtoICMP:
		b = appendBE16(b, ctaProtoICMPID, t.SrcPort)
		b = appendAttr(b, ctaProtoICMPType, []byte{t.ICMPType})
		b = appendAttr(b, ctaProtoICMPCode, []byte{t.ICMPCode})
	case t.Proto == ProtoICMPv6:
		b = appendBE16(b, ctaProtoICMPv6ID, t.SrcPort)
		b = appendAttr(b, ctaProtoICMPv6T, []byte{t.ICMPType})
		b = appendAttr(b, ctaProtoICMPv6C, []byte{t.ICMPCode})
	}
	b = closeNest(b, proto, ctaTupleProto)
	return closeNest(b, start, typ)
}

// appendAttr appends one attribute, padded to 4 bytes.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// closeNest fills in the header of the nest that starts at start.
func closeNest(b []byte, start int, typ uint16) []byte {
	binary.NativeEndian.PutUint16(b[start:], uint16(len(b)-start))
	binary.NativeEndian.PutUint16(b[start+2:], typ|unix.NLA_F_NESTED)
	return b
}

// appendBE16 appends an attribute holding a big-endian uint16.
func appendBE16(b []byte, typ uint16, v uint16) []byte {
	var a [2]byte
	binary.BigEndian.PutUint16(a[:], v)
	return appendAttr(b, typ, a[:])
}

// appendBE32 appends an attribute holding a big-endian uint32.
func appendBE32(b []byte, typ uint16, v uint32) []byte {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], v)
	return appendAttr(b, typ, a[:])
}
