package ctflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nlenc"
	"golang.org/x/sys/unix"
)

// ErrPermission means the kernel refused the dump (CAP_NET_ADMIN is
// needed in the flow's network namespace).
var ErrPermission = errors.New("no permission to read the conntrack table (run as root)")

// Netlink message types of the conntrack subsystem (NFNL_SUBSYS_CTNETLINK).
const (
	subsysCT        = 1 << 8
	msgCTNew        = subsysCT // IPCTNL_MSG_CT_NEW is 0
	msgCTGet        = subsysCT | 1
	msgCTGetStatsCP = subsysCT | 4
	msgCTGetStats   = subsysCT | 5
	msgCTGetDying   = subsysCT | 6
)

// Socket is the part of a netlink socket Dump needs. Receive returns the
// messages of one datagram only (unlike netlink.Conn.Receive, which
// gathers a whole multi-part reply); the messages may share a buffer that
// the next Receive reuses.
type Socket interface {
	Send(m netlink.Message) error
	Receive() ([]netlink.Message, error)
}

// Conn is a netfilter netlink socket that reads one datagram at a time
// into a buffer it reuses.
type Conn struct {
	c    *netlink.Conn
	rc   syscall.RawConn
	buf  []byte
	msgs []netlink.Message
}

// Dial opens a netfilter netlink socket in the caller's network namespace.
func Dial() (*Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("opening netfilter netlink socket: %w", mapErrno(err))
	}
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("opening netfilter netlink socket: %w", err)
	}
	// The kernel fills dump datagrams up to 32 KiB once it has seen a
	// reader with room for them; twice that leaves margin.
	return &Conn{c: c, rc: rc, buf: make([]byte, 64<<10)}, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.c.Close() }

// Send sends m, filling in length, sequence and port id.
func (c *Conn) Send(m netlink.Message) error {
	_, err := c.c.Send(m)
	return err
}

// Receive reads one datagram and splits it into messages that alias the
// socket's buffer.
func (c *Conn) Receive() ([]netlink.Message, error) {
	var n int
	var rerr error
	err := c.rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), c.buf, unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		return rerr != unix.EAGAIN && rerr != unix.EWOULDBLOCK
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("receiving from netlink: %w", err)
	}
	if n > len(c.buf) {
		return nil, fmt.Errorf("receiving from netlink: datagram of %d bytes truncated to %d", n, len(c.buf))
	}
	c.msgs = c.msgs[:0]
	b := c.buf[:n]
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(nlenc.Uint32(b[0:4]))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return nil, fmt.Errorf("receiving from netlink: %w: bad message length %d", ErrMalformed, l)
		}
		c.msgs = append(c.msgs, netlink.Message{
			Header: netlink.Header{
				Length:   uint32(l),
				Type:     netlink.HeaderType(nlenc.Uint16(b[4:6])),
				Flags:    netlink.HeaderFlags(nlenc.Uint16(b[6:8])),
				Sequence: nlenc.Uint32(b[8:12]),
				PID:      nlenc.Uint32(b[12:16]),
			},
			Data: b[unix.NLMSG_HDRLEN:l],
		})
		l = (l + 3) &^ 3
		if l >= len(b) {
			break
		}
		b = b[l:]
	}
	return c.msgs, nil
}

// Query selects flows. Family is required; the other fields filter when
// set. Filters the kernel can apply go into the dump request (see
// request); every filter is also checked here, so a kernel that ignores
// one (older ones ignore CTA_ZONE and CTA_FILTER without a word) still
// gives the right answer.
type Query struct {
	Family   uint8
	Proto    uint8
	HasProto bool
	Src, Dst netip.Prefix // original direction; invalid when unset
	Port     uint16       // original source or destination port
	HasPort  bool
	State    string // as StateName, case-insensitive
	Mark     uint32
	HasMark  bool
	Zone     uint16
	HasZone  bool
}

// Match reports whether f passes the query.
func (q *Query) Match(f *Flow) bool {
	switch {
	case q.Family != 0 && f.Family != q.Family,
		q.HasProto && f.Orig.Proto != q.Proto,
		q.HasMark && f.Mark != q.Mark,
		q.HasZone && f.Zone != q.Zone,
		q.Src.IsValid() && !q.Src.Contains(f.Orig.Src),
		q.Dst.IsValid() && !q.Dst.Contains(f.Orig.Dst),
		q.HasPort && (!hasPorts(f.Orig.Proto) || (f.Orig.SrcPort != q.Port && f.Orig.DstPort != q.Port)),
		q.State != "" && !strings.EqualFold(f.StateName(), q.State):
		return false
	}
	return true
}

// What ctnetlink (net/netfilter/nf_conntrack_netlink.c: ctnetlink_start,
// ctnetlink_alloc_filter, ctnetlink_filter_match) filters a dump by, as
// read in the source and checked on Linux 6.18 (TestKernelFilters in the
// integration tests):
//
//   - CTA_MARK with CTA_MARK_MASK: every kernel this runs on.
//   - CTA_ZONE: since Linux 6.8 (eff3c558bb7e "netfilter: ctnetlink:
//     support filtering by zone"; zone 0 filters since fa173a1b4e3f, in
//     6.8-rc4). Older kernels ignore it.
//   - CTA_FILTER with CTA_TUPLE_ORIG, since Linux 5.9: the protocol
//     number, the IPv4 source and destination, and, with the protocol,
//     the TCP or UDP source and destination port, each compared exactly
//     and ANDed. CTA_FILTER_ORIG_FLAGS is an NLA_U32, in host byte order
//     unlike the attributes around it. Older kernels ignore CTA_FILTER; one
//     that knows it but not a flag, or lacks zone or mark support, refuses
//     the dump (EINVAL, EOPNOTSUPP) and Dump asks again without filters.
//
// Not sent: prefixes shorter than the address (the kernel compares whole
// addresses), IPv6 addresses (ctnetlink_filter_match_tuple tests them with
// !ipv6_addr_cmp, true when they are equal, so the kernel drops exactly
// the flows asked for; seen on 6.18), a port without protocol TCP or UDP
// (the kernel needs the protocol to parse ports and compares them for TCP
// and UDP only), and the TCP state (not a tuple field; CTA_STATUS filters
// status bits).

// kernelTuple returns the CTA_FILTER_ORIG_FLAGS of the original-tuple
// filter q can put into the kernel, apart from the port.
func (q *Query) kernelTuple() uint32 {
	var flags uint32
	if q.HasProto {
		flags |= ctaFilterProtoNum
	}
	if q.Family == FamilyIPv4 {
		if q.Src.IsValid() && q.Src.Addr().Is4() && q.Src.Bits() == 32 {
			flags |= ctaFilterIPSrc
		}
		if q.Dst.IsValid() && q.Dst.Addr().Is4() && q.Dst.Bits() == 32 {
			flags |= ctaFilterIPDst
		}
	}
	return flags
}

// splitPort reports whether the port filter goes to the kernel, as two
// dumps: the kernel ANDs its filters, and "port N" is source port N or
// destination port N.
func (q *Query) splitPort() bool {
	return q.HasPort && q.HasProto && (q.Proto == ProtoTCP || q.Proto == ProtoUDP)
}

// kernelFilter reports whether any filter besides the family goes into
// the dump request.
func (q *Query) kernelFilter() bool {
	return q.HasMark || q.HasZone || q.kernelTuple() != 0 || q.splitPort()
}

// Passes of a dump: one, unless the port is split.
const (
	passAll     = iota // one dump, no port in the request
	passSrcPort        // source port N
	passDstPort        // destination port N; source port N was passSrcPort's
)

// passes lists the dumps Dump asks for when the kernel takes its filters.
func (q *Query) passes() []int {
	if q.splitPort() {
		return []int{passSrcPort, passDstPort}
	}
	return []int{passAll}
}

// match is Match plus the port of the pass, so that a split-port dump
// lists each flow once even from a kernel that ignored the port.
func (q *Query) match(f *Flow, pass int) bool {
	switch {
	case !q.Match(f),
		pass == passSrcPort && f.Orig.SrcPort != q.Port,
		pass == passDstPort && f.Orig.SrcPort == q.Port:
		return false
	}
	return true
}

// request builds the dump request for a pass; kernelFilter false leaves
// out everything but the family.
func (q *Query) request(kernelFilter bool, pass int) netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	if kernelFilter {
		q.encodeFilter(ae, pass)
	}
	attrs, _ := ae.Encode() // the encoders used cannot fail
	return netlink.Message{
		Header: netlink.Header{Type: msgCTGet, Flags: netlink.Request | netlink.Dump},
		Data:   append([]byte{q.Family, 0, 0, 0}, attrs...),
	}
}

func (q *Query) encodeFilter(ae *netlink.AttributeEncoder, pass int) {
	if q.HasMark {
		ae.Uint32(ctaMark, q.Mark)
		ae.Uint32(ctaMarkMask, 0xffffffff)
	}
	if q.HasZone {
		ae.Uint16(ctaZone, q.Zone)
	}
	flags := q.kernelTuple()
	switch pass {
	case passSrcPort:
		flags |= ctaFilterSrcPort
	case passDstPort:
		flags |= ctaFilterDstPort
	}
	if flags == 0 {
		return
	}
	ae.Nested(ctaTupleOrig, func(tae *netlink.AttributeEncoder) error {
		if flags&(ctaFilterIPSrc|ctaFilterIPDst) != 0 {
			tae.Nested(ctaTupleIP, func(iae *netlink.AttributeEncoder) error {
				if flags&ctaFilterIPSrc != 0 {
					iae.Bytes(ctaIPv4Src, q.Src.Addr().AsSlice())
				}
				if flags&ctaFilterIPDst != 0 {
					iae.Bytes(ctaIPv4Dst, q.Dst.Addr().AsSlice())
				}
				return nil
			})
		}
		if flags&ctaFilterProtoNum == 0 {
			return nil
		}
		tae.Nested(ctaTupleProto, func(pae *netlink.AttributeEncoder) error {
			pae.Uint8(ctaProtoNum, q.Proto)
			if flags&ctaFilterSrcPort != 0 {
				pae.Uint16(ctaProtoSrcPort, q.Port)
			}
			if flags&ctaFilterDstPort != 0 {
				pae.Uint16(ctaProtoDstPort, q.Port)
			}
			return nil
		})
		return nil
	})
	ae.Nested(ctaFilter, func(fae *netlink.AttributeEncoder) error {
		fae.ByteOrder = binary.NativeEndian // NLA_U32, not big-endian
		fae.Uint32(ctaFilterOrigFlags, flags)
		fae.Uint32(ctaFilterReplyFlags, 0)
		return nil
	})
}

// Dump streams the flows matching q to fn, one at a time, in the order
// the kernel sends them. The *Flow is reused: fn must copy what it keeps.
// An error from fn stops the dump and is returned as is.
//
// A port filter with protocol TCP or UDP is asked of the kernel as two
// dumps, source port N, then destination port N without source port N
// (that part checked here), so each flow is listed once whatever the
// kernel did with the filter.
func Dump(s Socket, q Query, fn func(*Flow) error) error {
	if !q.kernelFilter() {
		return dump(s, q.request(false, passAll), &q, passAll, fn)
	}
	listed := false
	seen := func(f *Flow) error { listed = true; return fn(f) }
	for _, pass := range q.passes() {
		err := dump(s, q.request(true, pass), &q, pass, seen)
		var kerr kernelErr
		if !listed && errors.As(err, &kerr) && (kerr.errno == unix.EINVAL || kerr.errno == unix.EOPNOTSUPP) {
			// The kernel refused the filter before sending any flow:
			// ask again for everything and filter here.
			return dump(s, q.request(false, passAll), &q, passAll, fn)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// kernelErr is an error the kernel answered with, as opposed to one
// returned by the caller's callback.
type kernelErr struct{ errno unix.Errno }

func (e kernelErr) Error() string { return e.errno.Error() }
func (e kernelErr) Unwrap() error { return mapErrno(e.errno) }

func dump(s Socket, req netlink.Message, q *Query, pass int, fn func(*Flow) error) error {
	if err := s.Send(req); err != nil {
		return fmt.Errorf("requesting conntrack dump: %w", mapErrno(err))
	}
	var f Flow
	return receiveAll(s, func(m netlink.Message) error {
		if m.Header.Type != msgCTNew {
			return nil
		}
		if err := Decode(m.Data, &f); err != nil {
			return fmt.Errorf("decoding conntrack entry: %w", err)
		}
		if !q.match(&f, pass) {
			return nil
		}
		return fn(&f)
	})
}

// receiveAll reads datagrams until the dump's Done message, handing each
// data message to fn. A netlink error message becomes a Go error.
func receiveAll(s Socket, fn func(netlink.Message) error) error {
	for {
		msgs, err := s.Receive()
		if err != nil {
			return fmt.Errorf("reading conntrack dump: %w", mapErrno(err))
		}
		if len(msgs) == 0 {
			// nltest signals the end of a multi-part reply this way.
			return nil
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case netlink.Done:
				return nil
			case netlink.Error:
				if len(m.Data) < 4 {
					return fmt.Errorf("conntrack dump: %w: short error message", ErrMalformed)
				}
				code := int32(nlenc.Uint32(m.Data[:4]))
				if code == 0 {
					continue // an ack
				}
				return fmt.Errorf("conntrack dump: %w", kernelErr{unix.Errno(-code)})
			case netlink.Noop, netlink.Overrun:
				continue
			}
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}

// mapErrno turns EPERM into ErrPermission so callers can print one line.
func mapErrno(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %w", ErrPermission, err)
	}
	return err
}

func errnoOf(code int32) unix.Errno { return unix.Errno(-code) }

// CountingSocket passes a Socket through, counting the flow messages it
// receives: how many flows the kernel sent, before the checks here. Tests
// use it to see that the kernel filtered.
type CountingSocket struct {
	Socket
	Flows int
}

// Receive receives from the wrapped socket and counts its flow messages.
func (c *CountingSocket) Receive() ([]netlink.Message, error) {
	msgs, err := c.Socket.Receive()
	for _, m := range msgs {
		if m.Header.Type == msgCTNew {
			c.Flows++
		}
	}
	return msgs, err
}
