//go:build integration

package pair_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/pair"
)

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// run runs `ctsync ARGS` on router r, in its namespace.
func run(ctx context.Context, r *lab.Router, args ...string) (string, error) {
	argv := append([]string{"netns", "exec", r.NS, r.Ctsync, "--root", r.Root.Dir}, args...)
	out, err := exec.CommandContext(ctx, "ip", argv...).CombinedOutput()
	return string(out), err
}

func view(t *testing.T, ctx context.Context, r *lab.Router) *pair.View {
	t.Helper()
	out, err := run(ctx, r, "--json", "show", "high-availability")
	if err != nil {
		t.Fatalf("%s: show high-availability: %v\n%s", r.Name, err, out)
	}
	var v pair.View
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s: %v\n%s", r.Name, err, out)
	}
	return &v
}

// waitView polls r's pair view until ok accepts it.
func waitView(t *testing.T, ctx context.Context, r *lab.Router, limit time.Duration, what string, ok func(*pair.View) bool) *pair.View {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		v := view(t, ctx, r)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(v, "", "  ")
			t.Fatalf("%s: %s not seen within %v; last view:\n%s", r.Name, what, limit, b)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func hasAlarm(v *pair.View, prefix string) bool {
	for _, a := range v.Alarms {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

// TestPairLab runs the pair on the two-router lab (real conntrackd,
// keepalived, nftables and traffic): pinning, the pair view on both
// nodes, both-MASTER as an alarm, config sync (configSyncLab), a
// handover refused while r2 is not ready, a requested handover with 200
// flows, and maintenance across a restart of ctsyncd and keepalived.
func TestPairLab(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "nft", "conntrack")
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	ctsync, _ := nstest.Binaries(t)
	p, err := lab.StartPair(ctx, lab.PairOptions{BinDir: filepath.Dir(ctsync), WorkDir: t.TempDir(), Out: logWriter{t}})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.Keep()
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	r1, r2 := p.Router("r1"), p.Router("r2")
	ids := map[string]string{}
	for _, r := range []*lab.Router{r1, r2} {
		out, err := run(ctx, r, "show", "high-availability", "identity")
		if err != nil || !pair.ValidFingerprint(strings.TrimSpace(out)) {
			t.Fatalf("%s: identity %q, %v", r.Name, out, err)
		}
		ids[r.Name] = strings.TrimSpace(out)
	}
	configure := func(r *lab.Router, pin string) {
		t.Helper()
		if err := r.Configure(ctx, []string{
			"set high-availability pair peer-address " + r.Peer.String(),
			"set high-availability pair peer-identity '" + pin + "'",
			"set high-availability pair name " + r.Name,
			"commit",
		}); err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
	}

	t.Run("pinning", func(t *testing.T) {
		// r1 pins a key that is not r2's: no channel, and both say why.
		configure(r1, "sha256:"+strings.Repeat("0", 64))
		configure(r2, ids["r1"])
		for _, r := range []*lab.Router{r1, r2} {
			v := waitView(t, ctx, r, 10*time.Second, "identity mismatch", func(v *pair.View) bool {
				return v.Channel == pair.ChannelMismatch && hasAlarm(v, "identity mismatch") && v.Peer == nil
			})
			t.Logf("%s: %s", r.Name, v.Alarms[0])
		}
		configure(r1, ids["r2"])
		for _, r := range []*lab.Router{r1, r2} {
			// r1 took over a moment ago: until its master hook has
			// committed, the state it records is still backup.
			waitView(t, ctx, r, 10*time.Second, "both nodes, one master of MAIN", func(v *pair.View) bool {
				return v.Channel == pair.ChannelUp && v.Peer != nil && v.Local.Name == r.Name && v.Peer.Name == lab.Other(r.Name) &&
					(v.Local.Master("MAIN") || v.Peer.Master("MAIN"))
			})
			out, _ := run(ctx, r, "show", "high-availability")
			t.Logf("%s: show high-availability\n%s", r.Name, out)
		}
	})

	t.Run("both master", func(t *testing.T) {
		if err := p.DropVRRP(ctx, "r2", true); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*lab.Router{r1, r2} {
			waitView(t, ctx, r, 15*time.Second, "the both-MASTER alarm", func(v *pair.View) bool { return hasAlarm(v, "both nodes MASTER") })
		}
		if err := p.DropVRRP(ctx, "r2", false); err != nil {
			t.Fatal(err)
		}
		if err := p.WaitMaster(ctx, "r1", 15*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*lab.Router{r1, r2} {
			waitView(t, ctx, r, 15*time.Second, "no both-MASTER alarm", func(v *pair.View) bool {
				return v.Peer != nil && !hasAlarm(v, "both nodes MASTER") && v.Peer.Ready && v.Local.Ready
			})
		}
	})

	t.Run("config sync", func(t *testing.T) { configSyncLab(t, ctx, p) })

	t.Run("handover refused while r2 is not ready", func(t *testing.T) {
		// r2's external cache emptied by a restart of its conntrackd, and
		// its resync held back: r2 could not take over without losing
		// flows, and the request says so.
		if err := p.DropSync(ctx, "r2", true); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := p.DropSync(ctx, "r2", false); err != nil {
				t.Error(err)
			}
		}()
		if out, err := run(ctx, r2, "restart", "conntrack-sync"); err != nil {
			t.Fatalf("r2: restart conntrack-sync: %v\n%s", err, out)
		}
		waitView(t, ctx, r1, 20*time.Second, "r2 not ready", func(v *pair.View) bool { return v.Peer != nil && !v.Peer.Ready })
		if ext, err := p.External(ctx, "r2"); err != nil || ext != 0 {
			t.Errorf("r2: external cache %d (%v) with the resync held back, want 0", ext, err)
		}
		out, err := run(ctx, r1, "request", "high-availability", "failover")
		if err == nil || !strings.Contains(out, "refused: r2 is not ready for failover (") || !strings.Contains(out, "force") {
			t.Fatalf("request high-availability failover with r2 not ready: %v\n%s", err, out)
		}
		t.Logf("r1: %s", strings.TrimSpace(out))
		if err := p.WaitMaster(ctx, "r1", time.Second); err != nil {
			t.Errorf("after the refused handover: %v", err)
		}
		if v := view(t, ctx, r1); v.Peer == nil || v.Peer.State.Preferred || v.Peer.Weight != 0 {
			t.Errorf("r2 after the refused handover: %+v", v.Peer)
		}
		if err := p.DropSync(ctx, "r2", false); err != nil {
			t.Fatal(err)
		}
		waitView(t, ctx, r1, 30*time.Second, "r2 ready again", func(v *pair.View) bool { return v.Peer != nil && v.Peer.Ready })
	})

	t.Run("handover", func(t *testing.T) {
		flows, err := p.StartFlows(ctx, 200, lab.ClientSends)
		if err != nil {
			t.Fatal(err)
		}
		defer flows.Stop()
		if _, err := p.WaitExternal(ctx, "r2", 200, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		waitView(t, ctx, r1, 15*time.Second, "r2 ready", func(v *pair.View) bool { return v.Peer != nil && v.Peer.Ready })
		flows.Mark()
		start := time.Now()
		out, err := run(ctx, r1, "request", "high-availability", "failover")
		if err != nil {
			t.Fatalf("request high-availability failover: %v\n%s", err, out)
		}
		t.Logf("r1: %s", out)
		if err := p.WaitMaster(ctx, "r2", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		// From the request until every flow has had a round trip after
		// r2 held the virtual addresses: through the new master.
		mastered := time.Now()
		for !flows.Settled(mastered) && time.Since(start) < 30*time.Second {
			time.Sleep(20 * time.Millisecond)
		}
		roundTrip := time.Since(start)
		ph := p.Observe(ctx, "handover r1->r2", "r2", start, flows)
		s := flows.Snapshot()
		if s.Alive != 200 || s.Dead != 0 {
			t.Errorf("handover: %d/%d alive, %d dead (%s)", s.Alive, s.Flows, s.Dead, s.DeathSummary())
		}
		t.Logf("FIGURE handover r1->r2, 200 flows: %d/200 alive, longest gap %v, every flow had a round trip through r2 %.2f s after the request (kernel flows %v)",
			s.Alive, s.LongestGap, roundTrip.Seconds(), ph.KernelFlows)
		// r2 stays master: r1, the higher priority, does not preempt back.
		time.Sleep(4 * time.Second)
		if err := p.WaitMaster(ctx, "r2", time.Second); err != nil {
			t.Errorf("after the handover: %v", err)
		}
		// Hand it back, so the next step starts from r1 master.
		if out, err := run(ctx, r2, "request", "high-availability", "failover"); err != nil {
			t.Fatalf("r2: request high-availability failover: %v\n%s", err, out)
		}
		if err := p.WaitMaster(ctx, "r1", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("maintenance", func(t *testing.T) {
		out, err := run(ctx, r1, "request", "high-availability", "maintenance", "on")
		if err != nil {
			t.Fatalf("maintenance on: %v\n%s", err, out)
		}
		if err := p.WaitMaster(ctx, "r2", 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := r1.StopCtsyncd(); err != nil {
			t.Fatal(err)
		}
		if err := r1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		if err := p.WaitMaster(ctx, "r2", time.Second); err != nil {
			t.Errorf("after r1's ctsyncd restarted in maintenance: %v", err)
		}
		// keepalived too: a new keepalived reads the weight file at its
		// start, and stays BACKUP.
		old, err := r1.EnginePid("keepalived")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := run(ctx, r1, "restart", "vrrp"); err != nil {
			t.Fatalf("r1: restart vrrp: %v\n%s", err, out)
		}
		if pid, err := r1.EnginePid("keepalived"); err != nil || pid == old {
			t.Fatalf("r1: keepalived pid %d -> %d (%v): not restarted", old, pid, err)
		}
		time.Sleep(5 * time.Second)
		if err := p.WaitMaster(ctx, "r2", time.Second); err != nil {
			t.Errorf("after r1's keepalived restarted in maintenance: %v", err)
		}
		waitView(t, ctx, r2, 15*time.Second, "r1 in maintenance", func(v *pair.View) bool { return v.Peer != nil && v.Peer.State.Maintenance })
		if out, _ := run(ctx, r2, "show", "high-availability"); !strings.Contains(out, "ON") {
			t.Errorf("r2's view does not show r1's maintenance:\n%s", out)
		}
		out, err = run(ctx, r1, "request", "high-availability", "maintenance", "off")
		if err != nil {
			t.Fatalf("maintenance off: %v\n%s", err, out)
		}
		if err := p.WaitMaster(ctx, "r1", 10*time.Second); err != nil {
			t.Errorf("r1 did not preempt after maintenance off: %v", err)
		}
	})
}
