package ctflow

import (
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// EventKind is what happened to a flow.
type EventKind uint8

// The kinds of conntrack event, one ctnetlink multicast group each
// (NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY).
const (
	EventNew EventKind = iota + 1
	EventUpdate
	EventDestroy
)

func (k EventKind) String() string {
	switch k {
	case EventNew:
		return "new"
	case EventUpdate:
		return "update"
	case EventDestroy:
		return "destroy"
	}
	return "unknown"
}

// ErrOverrun is what Events hands its overrun callback: the kernel had
// more events than the socket's buffer held and dropped some.
var ErrOverrun = errors.New("netlink overrun: the kernel dropped events the socket had no room for")

// eventBuffer is the receive buffer Listen asks for: a burst of 100,000
// new flows is about 20 MiB of events; the kernel caps what it grants at
// net.core.rmem_max unless SO_RCVBUFFORCE is allowed (root), which
// mdlayher/netlink's SetReadBuffer tries first.
const eventBuffer = 16 << 20

// Listen opens a netfilter netlink socket subscribed to the new, update
// and destroy groups of the caller's network namespace.
func Listen() (*Conn, error) {
	c, err := Dial()
	if err != nil {
		return nil, err
	}
	for _, g := range []uint32{unix.NFNLGRP_CONNTRACK_NEW, unix.NFNLGRP_CONNTRACK_UPDATE, unix.NFNLGRP_CONNTRACK_DESTROY} {
		if err := c.c.JoinGroup(g); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribing to conntrack events: %w", mapErrno(err))
		}
	}
	// A smaller buffer than asked is still a buffer: overruns are
	// reported, not fatal.
	_ = c.c.SetReadBuffer(eventBuffer)
	return c, nil
}

// SetReadDeadline makes a blocked Receive return once t has passed: how
// a listener is stopped.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Events reads events from s, a socket from Listen, and hands those whose
// flow matches q to fn (q.Family 0 matches both families); the *Flow is
// reused. An overrun (ENOBUFS) is handed to overrun and reading goes on:
// the events after it still arrive. Events returns the first error of
// fn or overrun, or of the socket (a read deadline among them).
func Events(s Socket, q Query, fn func(EventKind, *Flow) error, overrun func(error) error) error {
	var f Flow
	for {
		msgs, err := s.Receive()
		if errors.Is(err, unix.ENOBUFS) {
			if err := overrun(ErrOverrun); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, m := range msgs {
			var kind EventKind
			switch {
			case m.Header.Type == msgCTNew && m.Header.Flags&(netlink.Create|netlink.Excl) != 0:
				kind = EventNew
			case m.Header.Type == msgCTNew:
				kind = EventUpdate
			case m.Header.Type == msgCTDelete:
				kind = EventDestroy
			default:
				continue
			}
			if err := Decode(m.Data, &f); err != nil {
				return fmt.Errorf("decoding conntrack event: %w", err)
			}
			if !q.Match(&f) {
				continue
			}
			if err := fn(kind, &f); err != nil {
				return err
			}
		}
	}
}
