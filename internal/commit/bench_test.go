package commit_test

import (
	"context"
	"net"
	"os/exec"
	"runtime"
	"testing"

	_ "github.com/ctsync/ctsync/conf-mode/conntracksync"
	_ "github.com/ctsync/ctsync/conf-mode/vrrp"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"golang.org/x/sys/unix"
)

// benchSystem answers Verify's questions about the live system from a
// fixed table, so the benchmark measures ctsync and not netlink.
type benchSystem map[string]*handler.Interface

func (s benchSystem) Interface(name string) (*handler.Interface, error) {
	if i, ok := s[name]; ok {
		return i, nil
	}
	return nil, handler.ErrNoInterface
}

func (s benchSystem) IsLocalAddress(ip net.IP) (bool, error) {
	for _, i := range s {
		for _, a := range i.Addrs {
			if a.IP.Equal(ip) {
				return true, nil
			}
		}
	}
	return false, nil
}

func iface(name, cidr string) *handler.Interface {
	ip, n, _ := net.ParseCIDR(cidr)
	n.IP = ip
	return &handler.Interface{Name: name, Up: true, Addrs: []*net.IPNet{n}}
}

var fullConfig = []string{
	"high-availability vrrp group lan interface eth0",
	"high-availability vrrp group lan vrid 10",
	"high-availability vrrp group lan address 198.18.1.1/24",
	"high-availability vrrp group lan priority 200",
	"high-availability vrrp group wan interface eth2",
	"high-availability vrrp group wan vrid 20",
	"high-availability vrrp group wan address 198.19.0.101/24",
	"high-availability vrrp group wan priority 200",
	"high-availability vrrp sync-group MAIN member lan",
	"high-availability vrrp sync-group MAIN member wan",
	"service conntrack-sync interface eth1 peer 198.18.10.3",
	"service conntrack-sync failover-mechanism vrrp sync-group MAIN",
	"service conntrack-sync accept-protocol tcp",
	"service conntrack-sync accept-protocol udp",
	"service conntrack-sync accept-protocol icmp",
	"service conntrack-sync ignore-address 198.18.1.0/24",
	"service conntrack-sync ignore-address 2001:db8::/32",
	"service conntrack-sync expect-sync ftp",
	"service conntrack-sync startup-resync",
}

// BenchmarkCommitCheck is `commit check` of a conntrack-sync + vrrp
// config: validate, verify, generate and keepalived's own test of the
// generated file (keepalived -t -f, a process), with no file installed
// and no engine touched. Verify asks a fixed table about interfaces, so
// that the figure is ctsync's and keepalived's, not netlink's; the VRRP
// interfaces keepalived -t looks for are veths in a network namespace
// of the benchmark's own (root).
func BenchmarkCommitCheck(b *testing.B) {
	s := schema.Default()
	tree := configtree.New()
	for _, line := range fullConfig {
		words, err := configtree.Tokenize(line)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Set(tree, words); err != nil {
			b.Fatal(err)
		}
	}
	sys := benchSystem{
		"eth0": iface("eth0", "198.18.1.2/24"),
		"eth1": iface("eth1", "198.18.10.2/24"),
		"eth2": iface("eth2", "198.19.0.2/24"),
	}
	ownNetns(b, "eth0", "eth1", "eth2")
	eng := commit.New(commit.Options{Schema: s, System: sys, Env: &handler.Env{Root: paths.Root{Dir: b.TempDir()}, Self: "/usr/bin/ctsync"}})
	ctx := context.Background()
	if err := eng.Check(ctx, tree); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := eng.Check(ctx, tree); err != nil {
			b.Fatal(err)
		}
	}
}

// ownNetns moves the calling goroutine, locked to its thread for good,
// into a new network namespace with the named links (veths), so that
// the engines' own tests run as children there see them. The thread is
// never unlocked: it ends with the goroutine, and its namespace with it.
func ownNetns(b *testing.B, links ...string) {
	b.Helper()
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		b.Fatalf("a network namespace for keepalived -t (needs root, as make bench runs): %v", err)
	}
	for _, l := range links {
		if out, err := exec.Command("ip", "link", "add", l, "type", "veth", "peer", "name", l+"p").CombinedOutput(); err != nil {
			b.Fatalf("ip link add %s: %v: %s", l, err, out)
		}
	}
}
