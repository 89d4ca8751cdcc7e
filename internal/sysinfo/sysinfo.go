// Package sysinfo is the live handler.System: what Verify asks about the
// links and addresses of the network namespace ctsyncd runs in, answered
// over rtnetlink.
package sysinfo

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/ctsync/ctsync/internal/handler"
)

// System answers over one rtnetlink handle. Its methods may be called
// from any goroutine: the handle's sockets were opened in the namespace
// they answer for, whatever thread later uses them.
type System struct {
	h *netlink.Handle
}

var _ handler.System = (*System)(nil)

// New returns a System for the network namespace of the calling thread.
func New() (*System, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink: %w", err)
	}
	return &System{h: h}, nil
}

// NewAt returns a System for the namespace ns, which need not be the
// caller's (tests query the namespaces they create).
func NewAt(ns netns.NsHandle) (*System, error) {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink in namespace: %w", err)
	}
	return &System{h: h}, nil
}

// Close releases the netlink sockets.
func (s *System) Close() { s.h.Close() }

// Interface returns the link named name with its addresses.
func (s *System) Interface(name string) (*handler.Interface, error) {
	link, err := s.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%s: %w", name, handler.ErrNoInterface)
		}
		return nil, fmt.Errorf("looking up interface %s: %w", name, err)
	}
	addrs, err := s.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", name, err)
	}
	attrs := link.Attrs()
	out := &handler.Interface{Name: attrs.Name, Up: attrs.Flags&net.FlagUp != 0}
	for _, a := range addrs {
		if a.IPNet != nil {
			out.Addrs = append(out.Addrs, a.IPNet)
		}
	}
	return out, nil
}

// IsLocalAddress reports whether ip is assigned to any link here.
func (s *System) IsLocalAddress(ip net.IP) (bool, error) {
	family := netlink.FAMILY_V6
	if ip.To4() != nil {
		family = netlink.FAMILY_V4
	}
	addrs, err := s.h.AddrList(nil, family)
	if err != nil {
		return false, fmt.Errorf("listing local addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IPNet != nil && a.IP.Equal(ip) {
			return true, nil
		}
	}
	return false, nil
}
