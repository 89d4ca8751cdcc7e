//go:build integration

package pair_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/pair"
)

// configLines is router r's running config as set commands.
func configLines(t *testing.T, ctx context.Context, r *lab.Router) []string {
	t.Helper()
	out, err := r.Show(ctx, "configuration", "commands")
	if err != nil {
		t.Fatalf("%s: %v", r.Name, err)
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

func hasConfig(t *testing.T, ctx context.Context, r *lab.Router, lines ...string) {
	t.Helper()
	have := configLines(t, ctx, r)
	for _, l := range lines {
		if !slices.Contains(have, l) {
			t.Errorf("%s lacks %q; it has:\n%s", r.Name, l, strings.Join(have, "\n"))
		}
	}
}

// snapshot is what must not move when a commit of the pair is refused:
// the running config, the archive and the engines' processes.
type snapshot struct {
	config  []string
	archive string
	pids    map[string]int
}

func snap(t *testing.T, ctx context.Context, r *lab.Router) snapshot {
	t.Helper()
	s := snapshot{config: configLines(t, ctx, r), pids: map[string]int{}}
	var err error
	if s.archive, err = r.Show(ctx, "system", "commit"); err != nil {
		t.Fatalf("%s: show system commit: %v", r.Name, err)
	}
	for _, e := range []string{"conntrackd", "keepalived"} {
		if s.pids[e], err = r.EnginePid(e); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s snapshot) same(t *testing.T, name string, o snapshot) {
	t.Helper()
	if !slices.Equal(s.config, o.config) {
		t.Errorf("%s: the running config changed:\n%s\n---\n%s", name, strings.Join(s.config, "\n"), strings.Join(o.config, "\n"))
	}
	if s.archive != o.archive {
		t.Errorf("%s: the archive changed:\n%s\n---\n%s", name, s.archive, o.archive)
	}
	for e, pid := range s.pids {
		if o.pids[e] != pid {
			t.Errorf("%s: %s pid %d -> %d", name, e, pid, o.pids[e])
		}
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// timed runs a configure session and says how long the whole command
// took (process start, the session, the commit).
func timed(t *testing.T, ctx context.Context, r *lab.Router, lines ...string) time.Duration {
	t.Helper()
	t0 := time.Now()
	if err := r.Configure(ctx, lines); err != nil {
		t.Fatal(err)
	}
	return time.Since(t0)
}

// configSyncLab is TestPairLab's config sync: a VRRP and a conntrack-sync
// change committed on r1 reach r2 with r2's own values kept; a change r2
// cannot verify is refused on both and moves nothing; with r2's ctsyncd
// stopped `commit` is refused and `commit local` works, the drift shows,
// and `config-sync to-peer` clears it; the figures; and a failover and
// failback after all of it keep every flow.
func configSyncLab(t *testing.T, ctx context.Context, p *lab.Pair) {
	r1, r2 := p.Router("r1"), p.Router("r2")
	both := []*lab.Router{r1, r2}
	for _, r := range both {
		if err := r.Configure(ctx, []string{"set high-availability pair config-sync", "commit"}); err != nil {
			t.Fatal(err)
		}
	}
	// The lab configures both alike: the first poll records the
	// agreement on each.
	for _, r := range both {
		waitView(t, ctx, r, 15*time.Second, "config sync on and agreed", func(v *pair.View) bool {
			return v.Peer != nil && v.Local.ConfigSync && v.Peer.ConfigSync && v.Local.SyncedHash == v.Peer.SyncedHash &&
				v.Local.Agreed == v.Local.SyncedHash && v.Peer.Agreed == v.Local.SyncedHash
		})
	}
	const n = 100
	flows, err := p.StartFlows(ctx, n, lab.ClientSends)
	if err != nil {
		t.Fatal(err)
	}
	defer flows.Stop()
	if _, err := p.WaitExternal(ctx, "r2", n, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	r2Own := []string{
		fmt.Sprintf("set high-availability vrrp group lan priority %d", r2.Priority),
		fmt.Sprintf("set high-availability vrrp group wan priority %d", r2.Priority),
		fmt.Sprintf("set service conntrack-sync interface sync0 peer %s", r2.Peer),
	}

	t.Run("vrrp change", func(t *testing.T) {
		if err := r1.Configure(ctx, []string{"set high-availability vrrp group wan description uplink", "commit"}); err != nil {
			t.Fatal(err)
		}
		hasConfig(t, ctx, r2, append(r2Own, "set high-availability vrrp group wan description uplink")...)
		hasConfig(t, ctx, r1, fmt.Sprintf("set high-availability vrrp group wan priority %d", r1.Priority))
		if arch, _ := r2.Show(ctx, "system", "commit"); !strings.Contains(arch, "config-sync from r1 (user root)") {
			t.Errorf("r2's archive does not say where its commit came from:\n%s", arch)
		}
	})

	t.Run("conntrack-sync change", func(t *testing.T) {
		pids := map[string]int{}
		for _, r := range both {
			pids[r.Name], _ = r.EnginePid("conntrackd")
		}
		if err := r1.Configure(ctx, []string{"set service conntrack-sync sync-queue-size 2", "commit"}); err != nil {
			t.Fatal(err)
		}
		hasConfig(t, ctx, r2, append(r2Own, "set service conntrack-sync sync-queue-size 2")...)
		hasConfig(t, ctx, r1, fmt.Sprintf("set service conntrack-sync interface sync0 peer %s", r1.Peer))
		// Both run the new conntrackd.conf: each restarted its own.
		for _, r := range both {
			if pid, err := r.EnginePid("conntrackd"); err != nil || pid == pids[r.Name] {
				t.Errorf("%s: conntrackd pid %d -> %d (%v): not restarted with the new file", r.Name, pids[r.Name], pid, err)
			}
		}
	})

	t.Run("a change r2 cannot verify", func(t *testing.T) {
		// An interface only r1 has (a veth pair inside r1: the lab's
		// kernel may lack the dummy module).
		for _, argv := range [][]string{
			{"-n", r1.NS, "link", "add", "ctx7", "type", "veth", "peer", "name", "ctx7p"},
			{"-n", r1.NS, "addr", "add", "198.18.77.1/24", "dev", "ctx7"},
			{"-n", r1.NS, "link", "set", "ctx7p", "up"},
			{"-n", r1.NS, "link", "set", "ctx7", "up"},
		} {
			if out, err := exec.CommandContext(ctx, "ip", argv...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(argv, " "), err, out)
			}
		}
		before := map[string]snapshot{}
		for _, r := range both {
			before[r.Name] = snap(t, ctx, r)
		}
		dmz := []string{
			"set high-availability vrrp group dmz interface ctx7",
			"set high-availability vrrp group dmz vrid 30",
			"set high-availability vrrp group dmz address 198.18.77.100/24",
		}
		// commit check asks r2 too: it refuses what the commit would,
		// and `commit check local` checks r1 alone, which has ctx7.
		err := r1.Configure(ctx, append(slices.Clone(dmz), "commit check"))
		if err == nil || !strings.Contains(err.Error(), "r2: high-availability vrrp group dmz interface: interface ctx7 does not exist") {
			t.Errorf("commit check of a change r2 cannot verify: %v", err)
		}
		if err := r1.Configure(ctx, append(slices.Clone(dmz), "commit check local")); err != nil {
			t.Errorf("commit check local: %v", err)
		}
		err = r1.Configure(ctx, append(slices.Clone(dmz), "commit"))
		if err == nil {
			t.Fatal("committed a group on an interface r2 lacks")
		}
		for _, want := range []string{"r2: high-availability vrrp group dmz interface: interface ctx7 does not exist", "nothing was committed on either node", "Commit failed: nothing was changed."} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("the refusal does not say %q:\n%v", want, err)
			}
		}
		t.Logf("r1: commit refused by r2:\n%v", err)
		for _, r := range both {
			before[r.Name].same(t, r.Name, snap(t, ctx, r))
		}
	})

	t.Run("r2 away: commit local, the drift, to-peer", func(t *testing.T) {
		if err := r2.StopCtsyncd(); err != nil {
			t.Fatal(err)
		}
		before := configLines(t, ctx, r1)
		err := r1.Configure(ctx, []string{"set high-availability vrrp group wan description uplink2", "commit"})
		if err == nil || !strings.Contains(err.Error(), "r2 (") || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "`commit local`") {
			t.Fatalf("commit with r2's ctsyncd stopped: %v", err)
		}
		if after := configLines(t, ctx, r1); !slices.Equal(before, after) {
			t.Errorf("r1 changed after the refused commit")
		}
		if err := r1.Configure(ctx, []string{"set high-availability vrrp group wan description uplink2", "commit local"}); err != nil {
			t.Fatalf("commit local: %v", err)
		}
		hasConfig(t, ctx, r1, "set high-availability vrrp group wan description uplink2")
		v := waitView(t, ctx, r1, 15*time.Second, "the drift after commit local", func(v *pair.View) bool {
			return hasAlarm(v, "config drift: r1 changed high-availability or service conntrack-sync")
		})
		t.Logf("r1 with r2's ctsyncd stopped: %q", v.Alarms)
		if err := r2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range both {
			v := waitView(t, ctx, r, 15*time.Second, "the drift, both nodes up", func(v *pair.View) bool {
				return v.Peer != nil && hasAlarm(v, "config drift: high-availability and service conntrack-sync differ")
			})
			t.Logf("%s: %q", r.Name, v.Alarms)
		}
		out, err := run(ctx, r1, "show", "high-availability", "config-diff")
		if err != nil || !strings.Contains(out, "-description uplink2") || !strings.Contains(out, "+description uplink2") {
			t.Errorf("config-diff: %v\n%s", err, out)
		}
		t.Logf("r1: show high-availability config-diff\n%s", out)
		js, err := run(ctx, r1, "--json", "show", "high-availability", "config-diff")
		var d pair.ConfigDiff
		if err != nil || json.Unmarshal([]byte(js), &d) != nil || d.Identical || d.Local.Name != "r1" || d.Peer.Name != "r2" {
			t.Errorf("config-diff --json: %v\n%s", err, js)
		}
		if out, err := run(ctx, r1, "request", "high-availability", "config-sync", "to-peer"); err != nil {
			t.Fatalf("config-sync to-peer: %v\n%s", err, out)
		} else {
			t.Logf("r1: %s", out)
		}
		for _, r := range both {
			waitView(t, ctx, r, 15*time.Second, "no drift", func(v *pair.View) bool {
				return v.Peer != nil && !hasAlarm(v, "config drift") && v.Local.SyncedHash == v.Peer.SyncedHash
			})
		}
		hasConfig(t, ctx, r2, append(r2Own, "set high-availability vrrp group wan description uplink2")...)
		if out, err := run(ctx, r1, "request", "high-availability", "config-sync", "sideways"); err == nil || !strings.Contains(out, "usage: request high-availability config-sync from-peer|to-peer") {
			t.Errorf("a bad direction: %v\n%s", err, out)
		}
	})

	t.Run("figures", func(t *testing.T) {
		// A commit local leaves r2 behind; the pair commit after it
		// brings r2 along (r2 did not change since they last agreed).
		var local, paired []time.Duration
		for i := 0; i < 5; i++ {
			local = append(local, timed(t, ctx, r1, fmt.Sprintf("set high-availability vrrp group wan description local-%d", i), "commit local"))
			paired = append(paired, timed(t, ctx, r1, fmt.Sprintf("set high-availability vrrp group wan description pair-%d", i), "commit"))
		}
		hasConfig(t, ctx, r2, "set high-availability vrrp group wan description pair-4")
		t.Logf("FIGURE commit of a VRRP description on r1, whole `ctsync configure` run: pair commit median %v (%v), commit local median %v (%v)",
			median(paired).Round(time.Millisecond), paired, median(local).Round(time.Millisecond), local)
	})

	t.Run("failover after the pair commits", func(t *testing.T) {
		waitView(t, ctx, r1, 30*time.Second, "r2 ready", func(v *pair.View) bool { return v.Peer != nil && v.Peer.Ready })
		if _, err := p.WaitExternal(ctx, "r2", n, 15*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, ev := range []func(context.Context, ...*lab.Flows) (lab.Phase, error){p.Failover, p.Failback} {
			ph, err := ev(ctx, flows)
			if err != nil {
				t.Fatal(err)
			}
			if s := ph.Sample; s.Alive != n || s.Dead != 0 {
				t.Errorf("%s: %d/%d alive, %d dead (%s)", ph.Name, s.Alive, n, s.Dead, s.DeathSummary())
			}
		}
	})
}
