//go:build integration

package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/proc"
)

// testWriter sends the lab's progress to the test log line by line.
type testWriter struct {
	t   *testing.T
	buf bytes.Buffer
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.t.Log(strings.TrimRight(line, "\n"))
	}
}

// TestFailover is the claim: with conntrack-sync every flow survives
// failover and failback within the VRRP detection time plus a second;
// without it the same failover kills them.
func TestFailover(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "nft", "conntrack")
	ctsync, _ := nstest.Binaries(t)
	const flows = 50
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Flows: flows, BinDir: filepath.Dir(ctsync), Out: &testWriter{t: t}})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	bound := GapBound()
	for _, name := range []string{PhaseSyncBaseline, PhaseSyncFailover, PhaseSyncFailback, PhaseNoSyncBaseline} {
		p := res.Phase(name)
		if p == nil {
			t.Fatalf("phase %q missing", name)
		}
		s := p.Sample
		if s.Alive != flows || s.Dead != 0 {
			t.Errorf("%s: %d/%d alive, %d dead (%s); want all alive", name, s.Alive, flows, s.Dead, s.DeathSummary())
		}
		if s.LongestGap > bound {
			t.Errorf("%s: longest gap %v, want at most %v (detection %v + 1s; TCP backoff capped: %v)",
				name, s.LongestGap, bound, DetectionTime(R2Priority), res.RTOCapped)
		}
		t.Logf("%s: %d/%d alive, longest gap %v", name, s.Alive, flows, s.LongestGap)
	}
	if p := res.Phase(PhaseSyncFailover); p != nil {
		if p.KernelFlows["r2"] < flows {
			t.Errorf("after failover r2's kernel table holds %d of the %d flows, want all", p.KernelFlows["r2"], flows)
		}
		if rec := p.Transitions["r2"]; rec != nil {
			t.Logf("r2's hook at failover: %s", describeRecord(rec))
		}
	}
	p := res.Phase(PhaseNoSyncFailover)
	if p == nil {
		t.Fatalf("phase %q missing", PhaseNoSyncFailover)
	}
	if p.Sample.Dead != flows {
		t.Errorf("without conntrack-sync: %d/%d flows died (%s), want all: the failover must kill them",
			p.Sample.Dead, flows, p.Sample.DeathSummary())
	}
}

// TestLabNetwork checks the lab's own plumbing without ctsync: with the
// virtual addresses placed by hand on r1, flows pass the firewall and are
// SNATed; moved by hand to r2, which has no state, they die (tcp_loose=0).
func TestLabNetwork(t *testing.T) {
	nstest.Require(t, "nft", "conntrack")
	ctx := context.Background()
	top := NewTopology(ExecRunner{})
	top.Prefix = fmt.Sprintf("ctlab-%d-n-", os.Getpid())
	t.Cleanup(func() {
		if err := top.Down(); err != nil {
			t.Error(err)
		}
	})
	if err := top.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"r1", "r2"} {
		if err := top.LoadFirewall(ctx, r, LabFirewall()); err != nil {
			t.Fatal(err)
		}
		// Loading twice must replace the table, not fail or duplicate.
		if err := top.LoadFirewall(ctx, r, LabFirewall()); err != nil {
			t.Fatal(err)
		}
	}
	vips := func(r, op string) {
		t.Helper()
		for _, a := range [][2]string{{"lan0", LANVIP.String() + "/24"}, {"wan0", WANVIP.String() + "/24"}} {
			if _, err := top.Run.Run(ctx, nil, "ip", "-n", top.NS(r), "addr", op, a[1], "dev", a[0]); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range []string{"client", "server"} {
			if _, err := top.Run.Run(ctx, nil, "ip", "-n", top.NS(h), "neigh", "flush", "all"); err != nil {
				t.Fatal(err)
			}
		}
	}
	vips("r1", "add")

	var ln net.Listener
	if err := inNetns(top.NS("server"), func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(ServerIP, ServerPort).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := NewEchoServer(ln)
	t.Cleanup(func() { srv.Close() })

	const n = 10
	f, err := StartFlows(ctx, FlowConfig{Flows: n, Interval: 200 * time.Millisecond, DeadAfter: 3 * time.Second,
		Dial: func(ctx context.Context) (net.Conn, error) {
			var c net.Conn
			err := inNetns(top.NS("client"), func() error {
				var err error
				c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", netip.AddrPortFrom(ServerIP, ServerPort).String())
				return err
			})
			return c, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	time.Sleep(time.Second)
	if s := f.Snapshot(); s.Alive != n || s.Stalled != 0 {
		t.Fatalf("through r1: %+v, want %d alive and flowing", s, n)
	}
	got, err := KernelFlows(ctx, top.NS("r1"), f.LocalPorts())
	if err != nil || got != n {
		t.Fatalf("r1 kernel lab flows = %d, %v; want %d", got, err, n)
	}
	out, err := top.Run.Run(ctx, nil, "ip", "netns", "exec", top.NS("r1"), "conntrack", "-L", "-p", "tcp", "--dport", fmt.Sprint(ServerPort))
	if err != nil || !strings.Contains(string(out), "dst="+WANVIP.String()) {
		t.Fatalf("no SNAT to %s in r1's table (%v):\n%s", WANVIP, err, out)
	}

	f.Mark()
	vips("r1", "del")
	vips("r2", "add")
	moved := time.Now()
	for !f.Settled(moved) && time.Since(moved) < 10*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	if s := f.Snapshot(); s.Dead != n {
		t.Errorf("through r2 without state: %d/%d dead (%s), want all", s.Dead, n, s.DeathSummary())
	}
	out, _ = top.Run.Run(ctx, nil, "ip", "netns", "exec", top.NS("r2"), "nft", "list", "chain", "ip", "ctlab", "forward")
	if !strings.Contains(string(out), "ct state invalid counter packets") || strings.Contains(string(out), "ct state invalid counter packets 0 ") {
		t.Errorf("r2 dropped no invalid packets:\n%s", out)
	}
}

// TestRemoveStale: a lab killed with SIGKILL leaves namespaces with
// processes in them; the next lab removes both.
func TestRemoveStale(t *testing.T) {
	nstest.Require(t)
	// A pid that certainly exited: a child we already reaped.
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("ctlab-%d-stale", c.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	sleeper := exec.Command("ip", "netns", "exec", name, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	// Until ip has switched into the namespace, the process is not in it.
	for deadline := time.Now().Add(5 * time.Second); !proc.InNetns(sleeper.Process.Pid, name); {
		if time.Now().After(deadline) {
			t.Fatal("the sleeper never entered the stale namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	removed, err := RemoveStale()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, name) {
		t.Errorf("removed %v, want %s among them", removed, name)
	}
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		t.Errorf("%s still exists", name)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the process in the stale namespace still runs")
		_ = sleeper.Process.Kill()
	}
}
