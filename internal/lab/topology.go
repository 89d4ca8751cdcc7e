package lab

import (
	"context"
	"errors"
	"fmt"
	"github.com/ctsync/ctsync/internal/proc"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
)

// Addresses of the lab. All of them are in 198.18.0.0/15 (RFC 2544
// benchmarking) and exist only inside the lab's namespaces.
var (
	LANPrefix = netip.MustParsePrefix("198.18.1.0/24")
	LANVIP    = netip.MustParseAddr("198.18.1.1")
	WANPrefix = netip.MustParsePrefix("198.19.0.0/24")
	WANVIP    = netip.MustParseAddr("198.19.0.101")
	ClientIP  = netip.MustParseAddr("198.18.1.10")
	ServerIP  = netip.MustParseAddr("198.19.0.200")
)

// ServerPort is where the echo server listens (flows where the client
// sends); PushPort is where the server accepts flows it sends on and the
// client echoes.
const (
	ServerPort = 7000
	PushPort   = 7001
)

// RouterAddrs are one router's own addresses.
type RouterAddrs struct {
	LAN, WAN, Sync netip.Prefix
}

// Routers' addresses, r1 first.
var routerAddrs = map[string]RouterAddrs{
	"r1": {
		LAN:  netip.MustParsePrefix("198.18.1.2/24"),
		WAN:  netip.MustParsePrefix("198.19.0.2/24"),
		Sync: netip.MustParsePrefix("198.18.255.1/30"),
	},
	"r2": {
		LAN:  netip.MustParsePrefix("198.18.1.3/24"),
		WAN:  netip.MustParsePrefix("198.19.0.3/24"),
		Sync: netip.MustParsePrefix("198.18.255.2/30"),
	},
}

// Roles are the lab's namespaces. The two switches are namespaces that
// hold only a bridge, so the client and server stacks stay plain hosts.
var Roles = []string{"client", "lansw", "r1", "r2", "wansw", "server"}

// Topology names the lab's namespaces and builds or removes them.
type Topology struct {
	// Prefix starts every namespace name, unique per process
	// ("ctlab-4242-"), so a demo and a test never collide.
	Prefix string
	Run    Runner
	// RTOCapped is set by Up when the end hosts' TCP retransmission
	// timeout could be capped at 1 s.
	RTOCapped bool
	// KeepRTO leaves the end hosts' retransmission timeout as the kernel
	// has it, as on kernels before 6.15: what a flow's gap then includes
	// is TCP's exponential backoff.
	KeepRTO bool
	// TCPLoose is the routers' net.netfilter.nf_conntrack_tcp_loose:
	// 0 (the lab's default) makes a mid-stream packet of an unknown flow
	// invalid; 1 is the kernel's default (picks it up as a new flow).
	TCPLoose int
}

var topologies atomic.Int32

// NewTopology returns a topology whose names are unique to this process:
// the first one's prefix is "ctlab-PID-", later ones' "ctlab-PID-N-", so
// two labs of one process never share a namespace.
func NewTopology(run Runner) *Topology {
	prefix := fmt.Sprintf("ctlab-%d-", os.Getpid())
	if n := topologies.Add(1); n > 1 {
		prefix += fmt.Sprintf("%d-", n)
	}
	return &Topology{Prefix: prefix, Run: run}
}

// NS is the namespace name of role.
func (t *Topology) NS(role string) string { return t.Prefix + role }

// link is one veth pair: a:aname <-> b:bname.
type link struct {
	a, aname, b, bname string
}

func (t *Topology) links() []link {
	return []link{
		{"client", "eth0", "lansw", "p-client"},
		{"r1", "lan0", "lansw", "p-r1"},
		{"r2", "lan0", "lansw", "p-r2"},
		{"r1", "wan0", "wansw", "p-r1"},
		{"r2", "wan0", "wansw", "p-r2"},
		{"server", "eth0", "wansw", "p-server"},
		{"r1", "sync0", "r2", "sync0"},
	}
}

// Up creates the namespaces, links, addresses, routes and sysctls. On
// error the caller still calls Down, which removes whatever was made.
func (t *Topology) Up(ctx context.Context) error {
	ip := func(ns string, args ...string) error {
		_, err := t.Run.Run(ctx, nil, append([]string{"ip", "-n", t.NS(ns)}, args...)...)
		return err
	}
	sysctl := func(ns string, kv ...string) error {
		for _, s := range kv {
			if _, err := t.Run.Run(ctx, nil, "ip", "netns", "exec", t.NS(ns), "sysctl", "-q", "-w", s); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range Roles {
		if _, err := t.Run.Run(ctx, nil, "ip", "netns", "add", t.NS(r)); err != nil {
			return err
		}
		if err := ip(r, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	for _, sw := range []string{"lansw", "wansw"} {
		// Snooping off: VRRP adverts and conntrackd's traffic must reach
		// every port whatever the bridge learnt.
		if err := ip(sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"); err != nil {
			return err
		}
		if err := ip(sw, "link", "set", "br0", "up"); err != nil {
			return err
		}
	}
	for _, l := range t.links() {
		// Created straight in their namespaces, so the host's own link
		// names can never clash with the lab's.
		if _, err := t.Run.Run(ctx, nil, "ip", "link", "add", "name", l.aname, "netns", t.NS(l.a),
			"type", "veth", "peer", "name", l.bname, "netns", t.NS(l.b)); err != nil {
			return err
		}
		for _, end := range [][2]string{{l.a, l.aname}, {l.b, l.bname}} {
			if strings.HasSuffix(end[0], "sw") {
				if err := ip(end[0], "link", "set", end[1], "master", "br0"); err != nil {
					return err
				}
			}
			if err := ip(end[0], "link", "set", end[1], "up"); err != nil {
				return err
			}
		}
	}
	for _, r := range []string{"r1", "r2"} {
		a := routerAddrs[r]
		for _, da := range [][2]string{{"lan0", a.LAN.String()}, {"wan0", a.WAN.String()}, {"sync0", a.Sync.String()}} {
			if err := ip(r, "addr", "add", da[1], "dev", da[0]); err != nil {
				return err
			}
		}
		// The ruleset first: its ct expressions load nf_conntrack, without
		// which the conntrack sysctls do not exist on a fresh machine.
		if err := t.LoadFirewall(ctx, r, LabFirewall()); err != nil {
			return err
		}
		// tcp_loose=0: a mid-stream packet of a flow this router does not
		// know is invalid and dropped, as an honest firewall does. Without
		// state sync that is what kills the flows at failover.
		if err := sysctl(r, "net.ipv4.ip_forward=1", fmt.Sprintf("net.netfilter.nf_conntrack_tcp_loose=%d", t.TCPLoose)); err != nil {
			return err
		}
	}
	if err := ip("client", "addr", "add", netip.PrefixFrom(ClientIP, LANPrefix.Bits()).String(), "dev", "eth0"); err != nil {
		return err
	}
	if err := ip("client", "route", "add", "default", "via", LANVIP.String()); err != nil {
		return err
	}
	// The server needs no route back: replies go to the SNAT address,
	// which is on its own segment.
	if err := ip("server", "addr", "add", netip.PrefixFrom(ServerIP, WANPrefix.Bits()).String(), "dev", "eth0"); err != nil {
		return err
	}
	// Cap TCP's retransmission backoff at 1 s on the end hosts: a flow's
	// gap then measures the failover, not where TCP's exponential backoff
	// happened to land (0.2, 0.6, 1.4, 3.0, 6.2 s...).
	// Kernels before 6.15 lack the knob (Debian 12 ships 6.1): the lab
	// still runs, and says its gaps include TCP backoff.
	t.RTOCapped = !t.KeepRTO
	for _, h := range []string{"client", "server"} {
		if t.KeepRTO {
			break
		}
		if err := sysctl(h, "net.ipv4.tcp_rto_max_ms=1000"); err != nil {
			if _, serr := os.Stat("/proc/sys/net/ipv4/tcp_rto_max_ms"); !errors.Is(serr, os.ErrNotExist) {
				return err
			}
			t.RTOCapped = false
		}
	}
	return nil
}

// SetRouterLinks sets a router's LAN and WAN links up or down: down is
// the lab's power loss. The sync link stays up (see Failover).
func (t *Topology) SetRouterLinks(ctx context.Context, router string, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	for _, dev := range []string{"lan0", "wan0"} {
		if _, err := t.Run.Run(ctx, nil, "ip", "-n", t.NS(router), "link", "set", dev, state); err != nil {
			return err
		}
	}
	return nil
}

// Down removes every namespace of the lab, killing what still runs in
// each first. Callers stop ctsyncd and its engines before, so that they
// exit cleanly; this is the backstop. It runs on the host directly even
// when Up used a recording runner, and is safe to run twice.
func (t *Topology) Down() error {
	var errs []error
	for _, r := range Roles {
		name := t.NS(r)
		if _, err := os.Stat("/run/netns/" + name); err != nil {
			continue
		}
		if err := proc.KillNetns(name); err != nil {
			errs = append(errs, err)
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", name, err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}

// staleName matches lab namespace names and captures the pid of the
// process that made them.
var staleName = regexp.MustCompile(`^ctlab-([0-9]+)-`)

// RemoveStale removes the namespaces of labs whose process is gone (a
// lab killed with SIGKILL cannot clean up after itself), killing what
// still runs in them. It returns the names it removed.
func RemoveStale() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || proc.Alive(pid) {
			continue
		}
		if err := proc.KillNetns(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", e.Name(), err, strings.TrimSpace(string(out))))
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}
