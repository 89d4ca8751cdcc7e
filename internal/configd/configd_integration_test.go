//go:build integration

package configd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/conf-mode/vrrp"
	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/supervise"
)

// newRouter is a router in a namespace with eth0 and eth1 (IPv4, eth1's
// peer answering on 198.18.10.3) and eth2 (no IPv4), running ctsyncd.
func newRouter(t *testing.T, env ...string) *nstest.Router {
	t.Helper()
	nstest.Require(t, "conntrackd", "keepalived")
	r1 := nstest.New(t, "cfg")
	peer := nstest.New(t, "peer")
	nstest.Link(t, r1, "eth0", peer, "eth0")
	nstest.Link(t, r1, "eth1", peer, "eth1")
	nstest.Link(t, r1, "eth2", peer, "eth2") // no IPv4 on this one
	r1.Addr("eth0", "198.18.0.2/24")
	r1.Addr("eth1", "198.18.10.2/24")
	peer.Addr("eth1", "198.18.10.3/24")
	return nstest.NewRouter(t, r1, env...)
}

// answers checks conntrackd answers on its control socket, from inside
// the namespace with the stock client, reading the generated file.
func answers(r *nstest.Router) error {
	out, err := r.Conntrackd("-s")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "cache internal") {
		return fmt.Errorf("conntrackd -s: %s", out)
	}
	return nil
}

var goodConfig = []string{
	"set high-availability vrrp group wan interface eth0",
	"set high-availability vrrp group wan vrid 1",
	"set high-availability vrrp group wan address 198.18.0.101/24",
	"set high-availability vrrp sync-group MAIN member wan",
	"set service conntrack-sync interface eth1 peer 198.18.10.3",
	"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
	"set service conntrack-sync accept-protocol tcp",
	"set service conntrack-sync accept-protocol udp",
	"commit",
}

func waitPid(t *testing.T, what string, f func() int, not int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if p := f(); p != 0 && p != not {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestIntegrationCommitStartsConntrackdAndBadInputChangesNothing(t *testing.T) {
	r := newRouter(t)
	out := r.MustConfigure(goodConfig...)
	if !strings.Contains(out, "conntrack-sync:") {
		t.Errorf("commit output does not report conntrack-sync: %q", out)
	}
	pid := r.ConntrackdPid()
	if pid == 0 {
		t.Fatal("no conntrackd running after commit")
	}
	if err := answers(r); err != nil {
		t.Fatalf("conntrackd does not answer -s: %v", err)
	}
	conf, err := os.ReadFile(r.Root.ConntrackdConf())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"IPv4_Destination_Address 198.18.10.3", "Interface eth1", "TCP", "UDP"} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("conntrackd.conf lacks %q", want)
		}
	}

	bad := []struct {
		name  string
		lines []string
		want  string // in stderr: the config path
	}{
		{"unknown node", []string{"set service conntrack-sync bogus-node 1"}, "service conntrack-sync bogus-node"},
		{"bad IPv4 peer", []string{"set service conntrack-sync interface eth1 peer 198.18.10.300"}, "service conntrack-sync interface eth1 peer"},
		{"non-multicast mcast-group", []string{"set service conntrack-sync mcast-group 198.18.0.5"}, "service conntrack-sync mcast-group"},
		{"out of range queue size", []string{"set service conntrack-sync sync-queue-size 0"}, "service conntrack-sync sync-queue-size"},
		{"port 70000", []string{"set service conntrack-sync interface eth1 port 70000"}, "service conntrack-sync interface eth1 port"},
		{"unknown protocol", []string{"set service conntrack-sync accept-protocol igmp"}, "service conntrack-sync accept-protocol"},
		{"injection in interface name", []string{"set service conntrack-sync interface 'eth1 } General { x' peer 198.18.10.3"}, "service conntrack-sync interface"},
		{"injection newline in sync-group", []string{"set service conntrack-sync failover-mechanism vrrp sync-group \"MAIN\nx\""}, "service conntrack-sync failover-mechanism vrrp sync-group"},
		{"injection in vrrp description", []string{"set high-availability vrrp group wan description 'a\" }'"}, "high-availability vrrp group wan description"},
		{"injection in transition script", []string{"set high-availability vrrp group wan transition-script master '/bin/sh; rm -rf /'"}, "high-availability vrrp group wan transition-script master"},
		{"injection in password", []string{"set high-availability vrrp group wan authentication password 'a b'"}, "high-availability vrrp group wan authentication password"},
		{"unicast and multicast mixed", []string{"set service conntrack-sync interface eth0", "commit"}, "service conntrack-sync interface"},
		{"expect-sync all with another", []string{"set service conntrack-sync expect-sync all", "set service conntrack-sync expect-sync ftp", "commit"}, "service conntrack-sync expect-sync"},
		{"unknown sync-group", []string{"set service conntrack-sync failover-mechanism vrrp sync-group OTHER", "commit"}, "service conntrack-sync failover-mechanism vrrp sync-group"},
		{"missing sync-group", []string{"delete service conntrack-sync failover-mechanism", "commit"}, "service conntrack-sync failover-mechanism"},
		{"missing interface", []string{"delete service conntrack-sync interface", "commit"}, "service conntrack-sync interface"},
		{"interface does not exist", []string{"delete service conntrack-sync interface eth1", "set service conntrack-sync interface eth9 peer 198.18.10.3", "commit"}, "service conntrack-sync interface eth9"},
		{"interface without IPv4", []string{"delete service conntrack-sync interface eth1", "set service conntrack-sync interface eth2 peer 198.18.10.3", "commit"}, "service conntrack-sync interface eth2"},
		{"listen-address not local", []string{"set service conntrack-sync listen-address 198.18.99.1", "commit"}, "service conntrack-sync listen-address"},
		{"deleting a required vrrp node", []string{"delete high-availability vrrp group wan vrid", "commit"}, "high-availability vrrp group wan vrid"},
	}
	running0, _ := os.ReadFile(r.Root.RunningConfig())
	ka0, _ := os.ReadFile(r.Root.KeepalivedConf())
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := r.Configure(tc.lines...)
			if err == nil {
				t.Fatalf("configure succeeded")
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not name %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(strings.Join(tc.lines, "\n"), "commit") && !strings.Contains(stderr, "nothing was changed") {
				t.Errorf("failed commit does not say nothing changed:\n%s", stderr)
			}
			if got, _ := os.ReadFile(r.Root.RunningConfig()); !bytes.Equal(got, running0) {
				t.Errorf("running config changed")
			}
			if got, _ := os.ReadFile(r.Root.ConntrackdConf()); !bytes.Equal(got, conf) {
				t.Errorf("conntrackd.conf changed")
			}
			if got, _ := os.ReadFile(r.Root.KeepalivedConf()); !bytes.Equal(got, ka0) {
				t.Errorf("keepalived.conf changed")
			}
			if got := r.ConntrackdPid(); got != pid {
				t.Errorf("conntrackd pid %d, want unchanged %d", got, pid)
			}
		})
	}
	if err := answers(r); err != nil {
		t.Errorf("conntrackd no longer answers after the bad-input table: %v", err)
	}
}

func TestIntegrationCrashRestartAndAdoption(t *testing.T) {
	r := newRouter(t)
	r.MustConfigure(goodConfig...)
	pid := r.ConntrackdPid()
	if pid == 0 {
		t.Fatal("no conntrackd after commit")
	}

	// kill -9 leaves the lock file behind; the supervisor clears it and
	// restarts conntrackd, which answers again.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pid2 := waitPid(t, "conntrackd restart", r.ConntrackdPid, pid)
	deadline := time.Now().Add(10 * time.Second)
	for answers(r) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("restarted conntrackd does not answer")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Restarting ctsyncd adopts the engines instead of restarting them.
	ka := kaPid(r)
	if ka == 0 {
		t.Fatal("no keepalived running")
	}
	r.StopService()
	if got := r.ConntrackdPid(); got != pid2 {
		t.Fatalf("stopping ctsyncd stopped conntrackd (pid %d -> %d)", pid2, got)
	}
	r.Start()
	time.Sleep(2 * time.Second) // let boot finish its resume
	if got := r.ConntrackdPid(); got != pid2 {
		t.Fatalf("ctsyncd restart replaced conntrackd (pid %d -> %d)", pid2, got)
	}
	if got := kaPid(r); got != ka {
		t.Fatalf("ctsyncd restart replaced keepalived (pid %d -> %d)", ka, got)
	}
	// And supervises what it adopted.
	_ = syscall.Kill(pid2, syscall.SIGKILL)
	waitPid(t, "restart of adopted conntrackd", r.ConntrackdPid, pid2)

	// Deleting the service stops conntrackd and removes its config.
	r.MustConfigure("delete service conntrack-sync", "commit")
	if p := r.ConntrackdPid(); p != 0 {
		t.Errorf("conntrackd still running (pid %d) after delete", p)
	}
	if _, err := os.Stat(r.Root.ConntrackdConf()); !os.IsNotExist(err) {
		t.Errorf("conntrackd.conf still present after delete: %v", err)
	}
	c := conntrackd.Client{Path: r.Root.ConntrackdSocket()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Do(ctx, conntrackd.Stats); err == nil {
		t.Errorf("control socket still answers after delete")
	}
}

// TestIntegrationVyattaLoad (a short name: conntrackd's socket path under
// t.TempDir must fit a UNIX socket address) loads a
// Vyatta 6.x config.boot (router A of a pair) into a router in a
// namespace, commits it (conntrackd runs it and answers), then makes a
// commit-confirm that nobody confirms: ctsyncd commits the previous
// revision back by itself and the engines' files are exactly as before.
func TestIntegrationVyattaLoad(t *testing.T) {
	r := newRouter(t, "CTSYNC_CONFIRM_UNIT=1s")
	file, err := filepath.Abs(filepath.Join("..", "..", "testdata", "migrate", "vyatta6-r1.boot"))
	if err != nil {
		t.Fatal(err)
	}
	out := r.MustConfigure("load "+file, "commit comment 'imported from Vyatta 6.6'", "save")
	for _, want := range []string{"high-availability vrrp group eth0-1", "skipped (not managed by ctsync): firewall", "conntrack-sync:"} {
		if !strings.Contains(out, want) {
			t.Errorf("load+commit output lacks %q:\n%s", want, out)
		}
	}
	if r.ConntrackdPid() == 0 {
		t.Fatal("no conntrackd after committing the Vyatta config")
	}
	deadline := time.Now().Add(10 * time.Second)
	for answers(r) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("conntrackd does not answer: %v", answers(r))
		}
		time.Sleep(200 * time.Millisecond)
	}
	conf, _ := os.ReadFile(r.Root.ConntrackdConf())
	for _, want := range []string{"Multicast", "225.0.0.50", "Interface eth1"} {
		if !bytes.Contains(conf, []byte(want)) {
			t.Errorf("conntrackd.conf lacks %q:\n%s", want, conf)
		}
	}
	ka0, _ := os.ReadFile(r.Root.KeepalivedConf())
	conf0, run0 := conf, mustRead(t, r.Root.RunningConfig())

	out = r.MustConfigure("set high-availability vrrp group eth0-1 priority 50", "commit-confirm 3")
	if !strings.Contains(out, "type confirm within") {
		t.Errorf("commit-confirm output: %q", out)
	}
	if ka, _ := os.ReadFile(r.Root.KeepalivedConf()); bytes.Equal(ka, ka0) {
		t.Fatal("commit-confirm did not change keepalived.conf")
	}
	if _, errOut, err := r.Configure("set service conntrack-sync sync-queue-size 2", "commit"); err == nil || !strings.Contains(errOut, "awaits confirm") {
		t.Errorf("a second commit while one awaits confirm: %v\n%s", err, errOut)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		if p, err := configd.ReadPending(r.Root); err == nil && p == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no automatic rollback")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ka, _ := os.ReadFile(r.Root.KeepalivedConf()); !bytes.Equal(ka, ka0) {
		t.Errorf("keepalived.conf not restored:\n%s", ka)
	}
	if c, _ := os.ReadFile(r.Root.ConntrackdConf()); !bytes.Equal(c, conf0) {
		t.Errorf("conntrackd.conf not restored")
	}
	if got := mustRead(t, r.Root.RunningConfig()); got != run0 {
		t.Errorf("running config not restored")
	}
	show, err := r.NS.Try(r.Ctsync, "--root", r.Root.Dir, "show", "system", "commit")
	if err != nil || !strings.Contains(show, "auto-rollback") || !strings.Contains(show, "imported from Vyatta 6.6") {
		t.Errorf("show system commit: %v\n%s", err, show)
	}
	if err := answers(r); err != nil {
		t.Errorf("conntrackd does not answer after the rollback: %v", err)
	}
}

// kaPid is the pid of the root's keepalived, by its Started record.
func kaPid(r *nstest.Router) int { return supervise.RecordedPid(vrrp.Spec(r.Root)) }

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
