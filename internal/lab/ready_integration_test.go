//go:build integration

package lab

import (
	"context"
	"encoding/json"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/proc"
	"github.com/ctsync/ctsync/internal/transition"
)

// readiness is what `show conntrack-sync status --json` says of it.
type readiness struct {
	Ready  bool   `json:"ready"`
	Reason string `json:"ready_reason"`
}

func readyOf(ctx context.Context, t *testing.T, p *Pair, router string) readiness {
	t.Helper()
	js, err := p.Router(router).Show(ctx, "conntrack-sync", "status", "--json")
	if err != nil {
		t.Fatalf("%s: status: %v", router, err)
	}
	var r readiness
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("%s: status --json: %v\n%s", router, err, js)
	}
	return r
}

// waitReadiness polls status until router's readiness is want (and, for
// a NO, its reason holds reason), and returns the last text status.
func waitReadiness(ctx context.Context, t *testing.T, p *Pair, router string, want bool, reason string, limit time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last readiness
	for {
		last = readyOf(ctx, t, p, router)
		if last.Ready == want && (want || strings.Contains(last.Reason, reason)) {
			break
		}
		if time.Now().After(deadline) {
			text, _ := p.Router(router).Show(ctx, "conntrack-sync", "status")
			t.Fatalf("%s: readiness %v (%q) after %v, want %v (%q):\n%s", router, last.Ready, last.Reason, limit, want, reason, text)
		}
		time.Sleep(200 * time.Millisecond)
	}
	text, err := p.Router(router).Show(ctx, "conntrack-sync", "status")
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// checkNotReadyText holds the text status to the truth while a refill
// is outstanding: a NO with its reason, and never "healthy".
func checkNotReadyText(t *testing.T, router, text string) {
	t.Helper()
	if !strings.Contains(text, "ready for failover : NO (") || strings.Contains(text, "healthy") {
		t.Errorf("%s: status while the refill is outstanding:\n%s", router, text)
	}
}

// externalHolds counts how many of the flows router's external cache
// holds, by client port and server port, from `show conntrack-sync cache
// external --json`: the refill's claim, flow by flow.
func externalHolds(ctx context.Context, t *testing.T, p *Pair, router string, flows ...*Flows) (have, want int) {
	t.Helper()
	js, err := p.Router(router).Show(ctx, "conntrack-sync", "cache", "external", "--json")
	if err != nil {
		t.Fatalf("%s: cache external: %v", router, err)
	}
	var entries []struct {
		Original struct {
			Sport uint16 `json:"sport"`
			Dport uint16 `json:"dport"`
		} `json:"original"`
	}
	if err := json.Unmarshal([]byte(js), &entries); err != nil {
		t.Fatalf("%s: cache external --json: %v", router, err)
	}
	for _, f := range flows {
		ports := f.LocalPorts()
		want += len(ports)
		seen := map[uint16]bool{}
		for _, e := range entries {
			if e.Original.Dport == f.DstPort && ports[e.Original.Sport] && !seen[e.Original.Sport] {
				seen[e.Original.Sport] = true
				have++
			}
		}
	}
	return have, want
}

// checkBothWays holds a failover or failback to the flows of both
// directions: every flow survives, none with a gap longer than the
// pair's bound (plus the time the guard held its packets back), and
// master, the new master, sends no reset during the event: its
// TcpOutRsts, read before the event as rstsBefore, does not grow. Where
// conntrack-sync runs, the switchover guard is up on every node that is
// not a committed master, so master's hook must have lifted it once its
// commit was verified: the packets of synced flows not yet committed
// were dropped, not reset by master's stack (keepalived issue 2254).
func checkBothWays(ctx context.Context, t *testing.T, p *Pair, ph Phase, master string, rstsBefore uint64) {
	t.Helper()
	rsts, err := p.TCPOutRsts(ctx, master)
	if err != nil {
		t.Fatal(err)
	}
	if rsts != rstsBefore {
		t.Errorf("%s: %s's TcpOutRsts grew by %d during the event, want 0", ph.Name, master, rsts-rstsBefore)
	}
	bound := p.GapBound()
	switch rec := ph.Transitions[master]; {
	case rec == nil || rec.State != transition.Master || !rec.OK:
		t.Errorf("%s: %s's master hook record %+v, want an ok master transition", ph.Name, master, rec)
	case rec.Guard == nil || rec.Guard.Up || rec.Guard.LiftedAfter <= 0:
		t.Errorf("%s: %s's guard record %+v, want it lifted by the master hook", ph.Name, master, rec.Guard)
	default:
		bound += rec.Guard.LiftedAfter
	}
	checkSurvived(t, ph, bound)
}

// waitNewPid waits until the engine's pid differs from old.
func waitNewPid(t *testing.T, r *Router, engine string, old int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pid, err := r.EnginePid(engine); err == nil && pid != old {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s pid still %d (or none) after 20s:\n%s", r.Name, engine, old, r.LogTail(20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFailoverStaysReady is issue 9's operator tests on one lab: for
// each way conntrackd (re)starts on a router — a commit that restarts it
// on the backup, kill -9 on the backup (the supervisor restarts it),
// `restart conntrack-sync` on the backup, a commit that restarts it on
// the master, and ctsyncd restarted on the backup — the refill brings
// the caches back, readiness says NO while the sync link holds the
// resync back and yes once it is done, and a failover then keeps every
// flow of both directions. Renaming the sync-group keeps conntrackd
// running (same pid) and a failover after it keeps every flow.
func TestFailoverStaysReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	p := startPair(t, ctx, PairOptions{})
	r1, r2 := p.Router("r1"), p.Router("r2")
	const n = 20

	// Both routers become ready once the pair has settled.
	for _, rn := range []string{"r1", "r2"} {
		waitReadiness(ctx, t, p, rn, true, "", 30*time.Second)
	}

	// show conntrack-sync status over the real command: the figure for
	// README (the process start and `ip netns exec` included).
	var took []time.Duration
	for i := 0; i < 10; i++ {
		t0 := time.Now()
		if _, err := r2.Show(ctx, "conntrack-sync", "status"); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("show conntrack-sync status on r2 (ip netns exec ctsync ..., 10 runs): min %v, median %v, max %v",
		took[0].Round(time.Millisecond), took[5].Round(time.Millisecond), took[9].Round(time.Millisecond))

	type scenario struct {
		name   string
		router string // where conntrackd restarts
		// hold: drop sync traffic on the router around the act, so that
		// readiness must say NO until the refill is done.
		hold bool
		act  func(t *testing.T) // does it; conntrackd's new pid is awaited when restarts is set
		// restarts: conntrackd gets a new pid.
		restarts bool
	}
	scenarios := []scenario{
		{name: "a: commit on the backup restarts conntrackd", router: "r2", hold: true, restarts: true, act: func(t *testing.T) {
			if err := r2.Configure(ctx, []string{"set service conntrack-sync sync-queue-size 2", "commit"}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "b: conntrackd killed -9 on the backup", router: "r2", hold: true, restarts: true, act: func(t *testing.T) {
			pid, err := r2.EnginePid("conntrackd")
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "c: restart conntrack-sync on the backup", router: "r2", hold: true, restarts: true, act: func(t *testing.T) {
			if _, _, err := r2.ctsync(ctx, nil, "restart", "conntrack-sync"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "d: commit on the master restarts conntrackd", router: "r1", restarts: true, act: func(t *testing.T) {
			if err := r1.Configure(ctx, []string{"set service conntrack-sync sync-queue-size 2", "commit"}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "e: ctsyncd restarted on the backup", router: "r2", act: func(t *testing.T) {
			if err := r2.StopCtsyncd(); err != nil {
				t.Fatal(err)
			}
			if err := r2.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "f: the hook restarts conntrackd with ctsyncd stopped, then ctsyncd resumes with a newer file", router: "r2", hold: true, restarts: true, act: func(t *testing.T) {
			// ctsyncd is down when conntrackd crashes; keepalived's backup
			// hook starts conntrackd itself, from a conntrackd.conf that an
			// older ctsync wrote (here: the same with a comment added).
			if err := r2.StopCtsyncd(); err != nil {
				t.Fatal(err)
			}
			old, err := r2.EnginePid("conntrackd")
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for proc.Alive(old) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			f, err := os.OpenFile(r2.Root.ConntrackdConf(), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.WriteString("# written by an older ctsync\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := r2.ctsync(ctx, nil, "vrrp-transition", "backup", "MAIN"); err != nil {
				t.Fatal(err)
			}
			byHook := waitNewPid(t, r2, "conntrackd", old)
			if rec, err := transition.ReadRefill(r2.Root); err != nil || rec == nil || rec.Pid != byHook || rec.By != "vrrp-transition backup" {
				t.Errorf("refill after the hook started conntrackd pid %d: %+v, %v", byHook, rec, err)
			}
			// ctsyncd resumes: the conntrackd it adopts runs another file
			// than the one it renders, so it restarts it (and refills).
			if err := r2.Start(ctx); err != nil {
				t.Fatal(err)
			}
			now := waitNewPid(t, r2, "conntrackd", byHook)
			t.Logf("r2: conntrackd pid %d (killed) -> %d (started by the hook) -> %d (restarted by the resuming ctsyncd)", old, byHook, now)
		}},
		{name: "rename of the sync-group", router: "r2", act: func(t *testing.T) {
			for _, r := range []*Router{r2, r1} {
				if err := r.Configure(ctx, []string{
					"delete high-availability vrrp sync-group MAIN",
					"set high-availability vrrp sync-group MAIN2 member lan",
					"set high-availability vrrp sync-group MAIN2 member wan",
					"set service conntrack-sync failover-mechanism vrrp sync-group MAIN2",
					"commit",
				}); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for _, sc := range scenarios {
		if !t.Run(sc.name, func(t *testing.T) {
			cs, err := p.StartFlows(ctx, n, ClientSends)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Stop()
			ss, err := p.StartFlows(ctx, n, ServerSends)
			if err != nil {
				t.Fatal(err)
			}
			defer ss.Stop()
			// Established on both sides before anything restarts: these
			// are the idle-for-sync flows a restart used to lose.
			if _, err := p.WaitExternal(ctx, "r2", 2*n, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			r := p.Router(sc.router)
			pids := map[string]int{}
			for _, rn := range []string{"r1", "r2"} {
				pids[rn], _ = p.Router(rn).EnginePid("conntrackd")
			}
			if sc.hold {
				if err := p.DropSync(ctx, sc.router, true); err != nil {
					t.Fatal(err)
				}
			}
			sc.act(t)
			if sc.restarts {
				pid := waitNewPid(t, r, "conntrackd", pids[sc.router])
				t.Logf("%s: conntrackd pid %d -> %d", sc.router, pids[sc.router], pid)
			} else {
				for _, rn := range []string{"r1", "r2"} {
					if pid, err := p.Router(rn).EnginePid("conntrackd"); err != nil || pid != pids[rn] {
						t.Errorf("%s: conntrackd pid %d -> %d (%v): restarted", rn, pids[rn], pid, err)
					}
				}
			}
			if sc.hold {
				// The resync request cannot reach r1, or its answer r2:
				// not ready, and status says why, truthfully.
				text := waitReadiness(ctx, t, p, sc.router, false, "resync requested", 20*time.Second)
				checkNotReadyText(t, sc.router, text)
				if ext, err := p.External(ctx, sc.router); err != nil || ext != 0 {
					t.Errorf("%s: external cache %d (%v) with the resync held back, want 0", sc.router, ext, err)
				}
				t.Logf("%s with the resync held back:\n%s", sc.router, text)
				if err := p.DropSync(ctx, sc.router, false); err != nil {
					t.Fatal(err)
				}
			}
			lifted := time.Now()
			text := waitReadiness(ctx, t, p, sc.router, true, "", 30*time.Second)
			if sc.hold {
				t.Logf("%s: ready %v after the sync drop was lifted", sc.router, time.Since(lifted).Round(10*time.Millisecond))
			}
			if !strings.Contains(text, "ready for failover : yes") {
				t.Errorf("%s: status once ready:\n%s", sc.router, text)
			}
			waitReadiness(ctx, t, p, Other(sc.router), true, "", 30*time.Second)
			if ext, err := p.External(ctx, "r2"); err != nil || ext < 2*n {
				t.Errorf("r2: external cache %d (%v) when ready, want at least %d", ext, err, 2*n)
			}

			// The refill's claim, flow by flow: r2 holds every flow of
			// both directions before it takes over.
			if have, want := externalHolds(ctx, t, p, "r2", cs, ss); have != want {
				t.Errorf("r2's external cache holds %d of the %d flows before the failover", have, want)
			}
			rsts, err := p.TCPOutRsts(ctx, "r2")
			if err != nil {
				t.Fatal(err)
			}
			fo, err := p.Failover(ctx, cs, ss)
			if err != nil {
				t.Fatal(err)
			}
			checkBothWays(ctx, t, p, fo, "r2", rsts)
			// Back to where the next scenario starts: r1 master, both
			// ready.
			if rsts, err = p.TCPOutRsts(ctx, "r1"); err != nil {
				t.Fatal(err)
			}
			fb, err := p.Failback(ctx, cs, ss)
			if err != nil {
				t.Fatal(err)
			}
			checkBothWays(ctx, t, p, fb, "r1", rsts)
			for _, rn := range []string{"r1", "r2"} {
				waitReadiness(ctx, t, p, rn, true, "", 30*time.Second)
			}
		}) {
			p.Keep()
			t.Fatalf("scenario %q failed; the rest share its lab", sc.name)
		}
	}
}
