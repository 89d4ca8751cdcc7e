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
	msgCTNew        = subsysCT | 0
	msgCTGet        = subsysCT | 1
	msgCTGetStatsCP = subsysCT | 4
	msgCTGetStats   = subsysCT | 5
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
// set. Filters the kernel can apply go into the dump request (family,
// mark, protocol); every filter is also checked here, so an older kernel
// that ignores one still gives the right answer.
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

// request builds the dump request; kernelFilter false leaves out
// everything but the family.
func (q *Query) request(kernelFilter bool) netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	if kernelFilter && q.HasMark {
		ae.Uint32(ctaMark, q.Mark)
		ae.Uint32(ctaMarkMask, 0xffffffff)
	}
	if kernelFilter && q.HasProto {
		ae.Nested(ctaTupleOrig, func(nae *netlink.AttributeEncoder) error {
			nae.Nested(ctaTupleProto, func(pae *netlink.AttributeEncoder) error {
				pae.Uint8(ctaProtoNum, q.Proto)
				return nil
			})
			return nil
		})
		ae.Nested(ctaFilter, func(nae *netlink.AttributeEncoder) error {
			nae.Uint32(ctaFilterOrigFlags, ctaFilterProtoNum)
			nae.Uint32(ctaFilterReplyFlags, 0)
			return nil
		})
	}
	attrs, _ := ae.Encode() // the encoders above cannot fail
	return netlink.Message{
		Header: netlink.Header{Type: msgCTGet, Flags: netlink.Request | netlink.Dump},
		Data:   append([]byte{q.Family, 0, 0, 0}, attrs...),
	}
}

// Dump streams the flows matching q to fn, one at a time, in the order
// the kernel sends them. The *Flow is reused: fn must copy what it keeps.
// An error from fn stops the dump and is returned as is.
func Dump(s Socket, q Query, fn func(*Flow) error) error {
	kernel := q.HasMark || q.HasProto
	err := dump(s, q, kernel, fn)
	var kerr kernelErr
	if kernel && errors.As(err, &kerr) && (kerr.errno == unix.EINVAL || kerr.errno == unix.EOPNOTSUPP) {
		// A kernel without CTA_FILTER refuses before sending any flow:
		// ask again for everything and filter here.
		return dump(s, q, false, fn)
	}
	return err
}

// kernelErr is an error the kernel answered with, as opposed to one
// returned by the caller's callback.
type kernelErr struct{ errno unix.Errno }

func (e kernelErr) Error() string { return e.errno.Error() }
func (e kernelErr) Unwrap() error { return mapErrno(e.errno) }

func dump(s Socket, q Query, kernelFilter bool, fn func(*Flow) error) error {
	if err := s.Send(q.request(kernelFilter)); err != nil {
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
		if !q.Match(&f) {
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
