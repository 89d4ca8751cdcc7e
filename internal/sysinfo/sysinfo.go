// Package sysinfo is the live handler.System: what Verify asks about the
// links and addresses of a network namespace, answered by the standard
// library (net.Interfaces and Addrs read rtnetlink in the namespace of
// the thread that asks).
package sysinfo

import (
	"fmt"
	"net"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/handler"
)

// System answers for one network namespace. Its methods may be called
// from any goroutine.
type System struct {
	// ns is the namespace asked about; with at unset, the namespace of
	// whichever thread asks (ctsyncd never leaves its own).
	ns netns.NsHandle
	at bool
}

var _ handler.System = (*System)(nil)

// New returns a System for the network namespace ctsyncd runs in.
func New() (*System, error) { return &System{ns: netns.None()}, nil }

// NewAt returns a System for the namespace ns, which need not be the
// caller's (tests query the namespaces they create). It keeps a handle
// of its own: the caller may close ns.
func NewAt(ns netns.NsHandle) (*System, error) {
	fd, err := unix.Dup(int(ns))
	if err != nil {
		return nil, fmt.Errorf("keeping a handle on the network namespace: %w", err)
	}
	unix.CloseOnExec(fd)
	return &System{ns: netns.NsHandle(fd), at: true}, nil
}

// Close releases the namespace handle.
func (s *System) Close() {
	if s.at {
		_ = s.ns.Close()
	}
}

// in runs f in the System's namespace. For another namespace than the
// caller's, f runs on a thread of its own moved there, which is never
// unlocked: it ends with its goroutine, so nothing else ever runs in the
// namespace it was moved to.
func (s *System) in(f func() error) error {
	if !s.at {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(s.ns); err != nil {
			errc <- fmt.Errorf("entering the network namespace: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Interface returns the link named name with its addresses.
func (s *System) Interface(name string) (*handler.Interface, error) {
	var out *handler.Interface
	err := s.in(func() error {
		// net.InterfaceByName's "no such network interface" is not an
		// error value one can test for: look in the list instead.
		ifs, err := net.Interfaces()
		if err != nil {
			return fmt.Errorf("looking up interface %s: %w", name, err)
		}
		for _, ifc := range ifs {
			if ifc.Name != name {
				continue
			}
			addrs, err := ifc.Addrs()
			if err != nil {
				return fmt.Errorf("listing addresses of %s: %w", name, err)
			}
			out = &handler.Interface{Name: ifc.Name, Up: ifc.Flags&net.FlagUp != 0, Addrs: ipNets(addrs)}
			return nil
		}
		return fmt.Errorf("%s: %w", name, handler.ErrNoInterface)
	})
	return out, err
}

// IsLocalAddress reports whether ip is assigned to any link here.
func (s *System) IsLocalAddress(ip net.IP) (bool, error) {
	var local bool
	err := s.in(func() error {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return fmt.Errorf("listing local addresses: %w", err)
		}
		for _, a := range ipNets(addrs) {
			if a.IP.Equal(ip) {
				local = true
			}
		}
		return nil
	})
	return local, err
}

func ipNets(addrs []net.Addr) []*net.IPNet {
	var out []*net.IPNet
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			out = append(out, n)
		}
	}
	return out
}
