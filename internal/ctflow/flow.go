// Package ctflow is ctsync's one conntrack netlink client: it lists the
// kernel connection-tracking table one flow at a time, and creates,
// deletes and counts flows. A general netlink client's Receive
// (mdlayher/netlink's Conn.Receive) collects a whole multi-part dump
// before returning, which for a 250,000-entry table means hundreds of
// MiB; here each datagram is decoded into one reused Flow and handed on
// before the next is read, so memory stays flat whatever the table size.
package ctflow

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Address families as the kernel numbers them (nfgenmsg.nfgen_family).
const (
	FamilyIPv4 uint8 = 2  // AF_INET
	FamilyIPv6 uint8 = 10 // AF_INET6
)

// Layer-4 protocol numbers the table names.
const (
	ProtoICMP    uint8 = 1
	ProtoTCP     uint8 = 6
	ProtoUDP     uint8 = 17
	ProtoDCCP    uint8 = 33
	ProtoGRE     uint8 = 47
	ProtoICMPv6  uint8 = 58
	ProtoSCTP    uint8 = 132
	ProtoUDPLite uint8 = 136
)

// Status bits of CTA_STATUS (enum ip_conntrack_status).
const (
	StatusExpected  uint32 = 1 << 0
	StatusSeenReply uint32 = 1 << 1
	StatusAssured   uint32 = 1 << 2
	StatusConfirmed uint32 = 1 << 3
)

// ctattr_type and its nested enums (include/uapi/linux/netfilter/nfnetlink_conntrack.h).
const (
	ctaTupleOrig  = 1
	ctaTupleReply = 2
	ctaStatus     = 3
	ctaProtoinfo  = 4
	ctaTimeout    = 7
	ctaMark       = 8
	ctaUse        = 11
	ctaID         = 12
	ctaZone       = 18
	ctaMarkMask   = 21
	ctaFilter     = 25

	ctaTupleIP    = 1
	ctaTupleProto = 2
	ctaTupleZone  = 3

	ctaIPv4Src = 1
	ctaIPv4Dst = 2
	ctaIPv6Src = 3
	ctaIPv6Dst = 4

	ctaProtoNum      = 1
	ctaProtoSrcPort  = 2
	ctaProtoDstPort  = 3
	ctaProtoICMPID   = 4
	ctaProtoICMPType = 5
	ctaProtoICMPCode = 6
	ctaProtoICMPv6ID = 7
	ctaProtoICMPv6T  = 8
	ctaProtoICMPv6C  = 9

	ctaProtoinfoTCP  = 1
	ctaProtoinfoDCCP = 2
	ctaProtoinfoSCTP = 3
	// The state is the first attribute of each protocol's nest.
	ctaProtoinfoState = 1

	ctaFilterOrigFlags  = 1
	ctaFilterReplyFlags = 2

	// CTA_FILTER_F_CTA_* (net/netfilter/nf_internals.h): which fields of
	// CTA_TUPLE_ORIG a dump compares, exactly.
	ctaFilterIPSrc    = 1 << 0
	ctaFilterIPDst    = 1 << 1
	ctaFilterProtoNum = 1 << 3
	ctaFilterSrcPort  = 1 << 4
	ctaFilterDstPort  = 1 << 5
)

// nlaTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER.
const nlaTypeMask = 0x3fff

// Tuple is one direction of a flow.
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16 // also the ICMP id in SrcPort, as conntrack does
	ICMPType         uint8
	ICMPCode         uint8
	Proto            uint8
	Zone             uint16
}

// Flow is one conntrack entry. Dump reuses a single Flow for every entry:
// copy what must outlive the callback.
type Flow struct {
	Family      uint8
	Orig, Reply Tuple
	ID          uint32
	Status      uint32
	Timeout     uint32
	Mark        uint32
	Use         uint32
	Zone        uint16
	State       uint8 // TCP/SCTP/DCCP state, valid when HasState
	HasState    bool
}

// ErrMalformed reports a message that does not decode as a conntrack entry.
var ErrMalformed = errors.New("malformed conntrack message")

// Decode fills f from one IPCTNL_MSG_CT_NEW message body (nfgenmsg and
// attributes). It allocates nothing.
func Decode(data []byte, f *Flow) error {
	if len(data) < 4 {
		return ErrMalformed
	}
	*f = Flow{Family: data[0]}
	return walk(data[4:], func(typ uint16, b []byte) error {
		switch typ {
		case ctaTupleOrig:
			return decodeTuple(b, &f.Orig)
		case ctaTupleReply:
			return decodeTuple(b, &f.Reply)
		case ctaStatus:
			return be32(b, &f.Status)
		case ctaTimeout:
			return be32(b, &f.Timeout)
		case ctaMark:
			return be32(b, &f.Mark)
		case ctaUse:
			return be32(b, &f.Use)
		case ctaID:
			return be32(b, &f.ID)
		case ctaZone:
			return be16(b, &f.Zone)
		case ctaProtoinfo:
			return walk(b, func(typ uint16, b []byte) error {
				if typ != ctaProtoinfoTCP && typ != ctaProtoinfoDCCP && typ != ctaProtoinfoSCTP {
					return nil
				}
				return walk(b, func(typ uint16, b []byte) error {
					if typ == ctaProtoinfoState && len(b) >= 1 {
						f.State, f.HasState = b[0], true
					}
					return nil
				})
			})
		}
		return nil
	})
}

func decodeTuple(b []byte, t *Tuple) error {
	return walk(b, func(typ uint16, b []byte) error {
		switch typ {
		case ctaTupleIP:
			return walk(b, func(typ uint16, b []byte) error {
				var dst *netip.Addr
				switch typ {
				case ctaIPv4Src, ctaIPv6Src:
					dst = &t.Src
				case ctaIPv4Dst, ctaIPv6Dst:
					dst = &t.Dst
				default:
					return nil
				}
				switch len(b) {
				case 4:
					*dst = netip.AddrFrom4([4]byte(b))
				case 16:
					*dst = netip.AddrFrom16([16]byte(b))
				default:
					return ErrMalformed
				}
				return nil
			})
		case ctaTupleProto:
			return walk(b, func(typ uint16, b []byte) error {
				switch typ {
				case ctaProtoNum:
					if len(b) < 1 {
						return ErrMalformed
					}
					t.Proto = b[0]
				case ctaProtoSrcPort, ctaProtoICMPID, ctaProtoICMPv6ID:
					return be16(b, &t.SrcPort)
				case ctaProtoDstPort:
					return be16(b, &t.DstPort)
				case ctaProtoICMPType, ctaProtoICMPv6T:
					if len(b) >= 1 {
						t.ICMPType = b[0]
					}
				case ctaProtoICMPCode, ctaProtoICMPv6C:
					if len(b) >= 1 {
						t.ICMPCode = b[0]
					}
				}
				return nil
			})
		case ctaTupleZone:
			return be16(b, &t.Zone)
		}
		return nil
	})
}

// walk calls fn for each netlink attribute in b. A closure per nest
// level is cheaper than building an attribute slice: nothing escapes.
func walk(b []byte, fn func(typ uint16, payload []byte) error) error {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
		if l < 4 || l > len(b) {
			return ErrMalformed
		}
		if err := fn(typ, b[4:l]); err != nil {
			return err
		}
		l = (l + 3) &^ 3
		if l >= len(b) {
			return nil
		}
		b = b[l:]
	}
	return nil
}

func be32(b []byte, v *uint32) error {
	if len(b) < 4 {
		return ErrMalformed
	}
	*v = binary.BigEndian.Uint32(b)
	return nil
}

func be16(b []byte, v *uint16) error {
	if len(b) < 2 {
		return ErrMalformed
	}
	*v = binary.BigEndian.Uint16(b)
	return nil
}
