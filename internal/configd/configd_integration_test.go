//go:build integration

package configd_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/supervise"
)

// router is one ctsyncd in its own namespace and root.
type router struct {
	t       *testing.T
	ns      *nstest.NS
	root    paths.Root
	ctsync  string
	ctsyncd *exec.Cmd
	done    chan struct{}
	log     *bytes.Buffer
}

func newRouter(t *testing.T) *router {
	t.Helper()
	nstest.Require(t, "conntrackd", "keepalived")
	ctsync, ctsyncd := nstest.Binaries(t)
	r1 := nstest.New(t, "cfg")
	peer := nstest.New(t, "peer")
	nstest.Link(t, r1, "eth0", peer, "eth0")
	nstest.Link(t, r1, "eth1", peer, "eth1")
	nstest.Link(t, r1, "eth2", peer, "eth2") // no IPv4 on this one
	r1.Addr("eth0", "198.18.0.2/24")
	r1.Addr("eth1", "198.18.10.2/24")
	peer.Addr("eth1", "198.18.10.3/24")
	r := &router{t: t, ns: r1, root: paths.Root{Dir: t.TempDir()}, ctsync: ctsync}
	r.start(ctsyncd)
	t.Cleanup(r.shutdown)
	return r
}

func (r *router) start(ctsyncd string) {
	r.t.Helper()
	r.log = &bytes.Buffer{}
	r.ctsyncd = r.ns.Cmd(ctsyncd, "--root", r.root.Dir, "--ctsync", r.ctsync)
	r.ctsyncd.Stdout, r.ctsyncd.Stderr = r.log, r.log
	if err := r.ctsyncd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.ctsyncd.Wait(); close(r.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(r.root.CtsyncdSocket()); err == nil {
			return
		}
		select {
		case <-r.done:
			r.t.Fatalf("ctsyncd exited:\n%s", r.log)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("ctsyncd did not open its socket:\n%s", r.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopService stops ctsyncd only; the engines stay.
func (r *router) stopService() {
	_ = r.ctsyncd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.ctsyncd.Process.Kill()
		<-r.done
	}
}

// shutdown stops ctsyncd and then the engines it left, by their pids,
// and waits for them before the namespace goes.
func (r *router) shutdown() {
	r.stopService()
	for _, pf := range []string{r.root.ConntrackdPid(), filepath.Join(r.root.RunDir(), "keepalived.sup.pid"), r.root.KeepalivedPid()} {
		if b, err := os.ReadFile(pf); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
	}
	if r.t.Failed() {
		r.t.Logf("ctsyncd log:\n%s", r.log)
	}
}

// configure runs a config script through `ctsync configure`.
func (r *router) configure(lines ...string) (stdout, stderr string, err error) {
	cmd := r.ns.Cmd(r.ctsync, "--root", r.root.Dir, "configure")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (r *router) mustConfigure(lines ...string) string {
	r.t.Helper()
	out, errOut, err := r.configure(lines...)
	if err != nil {
		r.t.Fatalf("configure: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	return out
}

func (r *router) conntrackdPid() int {
	b, err := os.ReadFile(r.root.ConntrackdPid())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !supervise.PidRuns(pid, "conntrackd") {
		return 0
	}
	return pid
}

// answers checks conntrackd answers on its control socket, from inside
// the namespace with the stock client, reading the generated file.
func (r *router) answers() error {
	out, err := r.ns.Try("conntrackd", "-C", r.root.ConntrackdConf(), "-s")
	if err != nil {
		return err
	}
	if !strings.Contains(out, "cache internal") {
		return &exec.ExitError{Stderr: []byte(out)}
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
	out := r.mustConfigure(goodConfig...)
	if !strings.Contains(out, "conntrack-sync:") {
		t.Errorf("commit output does not report conntrack-sync: %q", out)
	}
	pid := r.conntrackdPid()
	if pid == 0 {
		t.Fatal("no conntrackd running after commit")
	}
	if err := r.answers(); err != nil {
		t.Fatalf("conntrackd does not answer -s: %v", err)
	}
	conf, err := os.ReadFile(r.root.ConntrackdConf())
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
	running0, _ := os.ReadFile(r.root.RunningConfig())
	ka0, _ := os.ReadFile(r.root.KeepalivedConf())
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := r.configure(tc.lines...)
			if err == nil {
				t.Fatalf("configure succeeded")
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not name %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(strings.Join(tc.lines, "\n"), "commit") && !strings.Contains(stderr, "nothing was changed") {
				t.Errorf("failed commit does not say nothing changed:\n%s", stderr)
			}
			if got, _ := os.ReadFile(r.root.RunningConfig()); !bytes.Equal(got, running0) {
				t.Errorf("running config changed")
			}
			if got, _ := os.ReadFile(r.root.ConntrackdConf()); !bytes.Equal(got, conf) {
				t.Errorf("conntrackd.conf changed")
			}
			if got, _ := os.ReadFile(r.root.KeepalivedConf()); !bytes.Equal(got, ka0) {
				t.Errorf("keepalived.conf changed")
			}
			if got := r.conntrackdPid(); got != pid {
				t.Errorf("conntrackd pid %d, want unchanged %d", got, pid)
			}
		})
	}
	if err := r.answers(); err != nil {
		t.Errorf("conntrackd no longer answers after the bad-input table: %v", err)
	}
}

func TestIntegrationCrashRestartAndAdoption(t *testing.T) {
	r := newRouter(t)
	r.mustConfigure(goodConfig...)
	pid := r.conntrackdPid()
	if pid == 0 {
		t.Fatal("no conntrackd after commit")
	}

	// kill -9 leaves the lock file behind; the supervisor clears it and
	// restarts conntrackd, which answers again.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	pid2 := waitPid(t, "conntrackd restart", r.conntrackdPid, pid)
	deadline := time.Now().Add(10 * time.Second)
	for r.answers() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("restarted conntrackd does not answer")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Restarting ctsyncd adopts the engines instead of restarting them.
	_, ctsyncd := nstest.Binaries(t)
	r.stopService()
	if got := r.conntrackdPid(); got != pid2 {
		t.Fatalf("stopping ctsyncd stopped conntrackd (pid %d -> %d)", pid2, got)
	}
	r.start(ctsyncd)
	time.Sleep(2 * time.Second) // let boot finish its resume
	if got := r.conntrackdPid(); got != pid2 {
		t.Fatalf("ctsyncd restart replaced conntrackd (pid %d -> %d)", pid2, got)
	}
	// And supervises what it adopted.
	_ = syscall.Kill(pid2, syscall.SIGKILL)
	waitPid(t, "restart of adopted conntrackd", r.conntrackdPid, pid2)

	// Deleting the service stops conntrackd and removes its config.
	r.mustConfigure("delete service conntrack-sync", "commit")
	if p := r.conntrackdPid(); p != 0 {
		t.Errorf("conntrackd still running (pid %d) after delete", p)
	}
	if _, err := os.Stat(r.root.ConntrackdConf()); !os.IsNotExist(err) {
		t.Errorf("conntrackd.conf still present after delete: %v", err)
	}
	c := conntrackd.Client{Path: r.root.ConntrackdSocket()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Do(ctx, conntrackd.Stats); err == nil {
		t.Errorf("control socket still answers after delete")
	}
}
