package transition

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/paths"
)

// fakeGuard records what it is asked, and, with ct set, which conntrackd
// requests had been sent at that moment: the order of the guard and the
// commit is the point.
type fakeGuard struct {
	mu    sync.Mutex
	ct    *fakeCT
	calls []string
	up    bool
	bound time.Duration
}

func (g *fakeGuard) note(s string) {
	if g.ct != nil {
		s += fmt.Sprintf(" after %v", g.ct.Codes())
	}
	g.calls = append(g.calls, s)
}

func (g *fakeGuard) Raise(rs guard.Ruleset) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	kind := "raise"
	if rs.Bound > 0 {
		kind = "raise-bounded"
	}
	g.note(fmt.Sprintf("%s %v", kind, rs.VIPs))
	g.up, g.bound = true, rs.Bound
	return nil
}

func (g *fakeGuard) Lift() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.note("lift")
	g.up = false
	return nil
}

func (g *fakeGuard) Inspect() (guard.Present, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return guard.Present{Table: g.up, Armed: g.up}, nil
}

func (g *fakeGuard) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

// writeFacts adds virtual addresses to the root's facts.
func writeFacts(t *testing.T, root paths.Root, f Facts) {
	t.Helper()
	if err := os.WriteFile(root.FailoverFacts(), EncodeFacts(f), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGuardAcrossTransitions: backup and fault raise the guard before
// anything else; master re-arms it bounded before the commit and lifts
// it right after the commit is verified, before flush, resync and bulk
// send; with no external cache master lifts it at once.
func TestGuardAcrossTransitions(t *testing.T) {
	tests := []struct {
		name       string
		disableExt bool
		state      string
		want       []string
		up         bool
	}{
		{"backup", false, Backup, []string{"raise [198.18.1.1 198.19.0.101] after []"}, true},
		{"fault", false, Fault, []string{"raise [198.18.1.1 198.19.0.101] after []"}, true},
		{"master", false, Master, []string{"raise-bounded [198.18.1.1 198.19.0.101] after []", "lift after [21 18]"}, false},
		{"master no external cache", true, Master, []string{"lift after []"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sock := newRoot(t, setup{group: "MAIN"})
			writeFacts(t, root, Facts{SyncGroup: "MAIN", DisableExternalCache: tt.disableExt, VIPs: []string{"198.18.1.1", "198.19.0.101"}})
			f := newFakeCT(t, sock)
			f.external = 100
			g := &fakeGuard{ct: f}
			t0 := time.Now()
			if err := Run(context.Background(), Options{Root: root, State: tt.state, Group: "MAIN", Log: zaptest.NewLogger(t), CountKernel: f.countKernel, EventsPending: f.eventsPending, Guard: g}); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if d := cmp.Diff(tt.want, g.Calls()); d != "" {
				t.Errorf("guard calls (-want +got):\n%s", d)
			}
			if tt.state == Master && !tt.disableExt && (g.bound <= 0 || g.bound > DefaultTimeout) {
				t.Errorf("bound = %v, want within the hook's %v", g.bound, DefaultTimeout)
			}
			rec, err := ReadRecord(root)
			if err != nil || rec == nil || rec.Guard == nil {
				t.Fatalf("record %+v, %v: want a guard record", rec, err)
			}
			gr := rec.Guard
			if gr.Up != tt.up || gr.Error != "" {
				t.Errorf("guard record = %+v, want up %v", gr, tt.up)
			}
			if tt.state == Master {
				if gr.Lifted.Before(t0) || gr.LiftedAfter <= 0 || gr.LiftedAfter > rec.Duration {
					t.Errorf("guard record = %+v (hook took %v): want lifted within the hook", gr, rec.Duration)
				}
			} else if gr.Raised.Before(t0) || !gr.Lifted.IsZero() {
				t.Errorf("guard record = %+v: want raised, not lifted", gr)
			}
			st, err := guard.ReadState(root)
			if err != nil || st == nil || st.Up != tt.up || st.By != tt.state+" hook" || st.Seq != rec.Seq {
				t.Errorf("guard state = %+v, %v; want up %v by the %s hook, seq %d", st, err, tt.up, tt.state, rec.Seq)
			}
		})
	}
}

// TestGuardLiftedOnFailure: a commit that fails or runs out of time
// lifts the guard all the same.
func TestGuardLiftedOnFailure(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		setup   func(f *fakeCT)
	}{
		{"commit skipped", 0, func(f *fakeCT) { f.skipCommit = true }},
		{"commit never ends", 1500 * time.Millisecond, func(f *fakeCT) { f.delay[conntrackd.Commit] = time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sock := newRoot(t, setup{group: "MAIN"})
			f := newFakeCT(t, sock)
			f.external = 100
			tt.setup(f)
			g := &fakeGuard{}
			err := Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", Timeout: tt.timeout, CountKernel: f.countKernel, EventsPending: f.eventsPending, Guard: g})
			if err == nil {
				t.Fatal("Run succeeded, want the commit's failure")
			}
			if d := cmp.Diff([]string{"raise-bounded []", "lift"}, g.Calls()); d != "" {
				t.Errorf("guard calls (-want +got):\n%s", d)
			}
			if tt.timeout > 0 && g.bound > tt.timeout {
				t.Errorf("bound %v beyond the hook's timeout %v", g.bound, tt.timeout)
			}
			rec, _ := ReadRecord(root)
			if rec == nil || rec.Guard == nil || rec.Guard.Up || rec.Guard.Lifted.IsZero() {
				t.Errorf("record = %+v, want the guard lifted", rec)
			}
		})
	}
}

// TestGuardArmedBeforeWaiting: a master hook that waits behind an
// earlier transition (and may be killed there) has already bounded the
// guard by its own deadline, so a backup's unbounded guard cannot stay.
func TestGuardArmedBeforeWaiting(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	lk, err := lockFile(context.Background(), root.TransitionLock())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock(lk)
	g := &fakeGuard{}
	err = Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", Timeout: 300 * time.Millisecond, CountKernel: f.countKernel, EventsPending: f.eventsPending, Guard: g})
	if err == nil || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("Run = %v, want a timeout waiting for the lock", err)
	}
	if d := cmp.Diff([]string{"raise-bounded []"}, g.Calls()); d != "" {
		t.Errorf("guard calls (-want +got):\n%s", d)
	}
	if g.bound <= 0 || g.bound > 300*time.Millisecond {
		t.Errorf("bound = %v, want within the hook's 300ms", g.bound)
	}
	if st, _ := guard.ReadState(root); st == nil || !st.Up || st.Until.IsZero() {
		t.Errorf("guard state = %+v, want up with an end", st)
	}
}

// TestApplyGuard: what a commit (or a ctsyncd start, which commits the
// saved config) does to the guard, from the recorded state.
func TestApplyGuard(t *testing.T) {
	now := time.Now()
	facts := &Facts{SyncGroup: "MAIN", VIPs: []string{"198.18.1.1"}}
	tests := []struct {
		name   string
		facts  *Facts
		state  *guard.State
		vrrp   string // the sync-group's last state
		want   []string
		wantUp bool
		wantBy string
	}{
		{"first commit, node backup", facts, nil, Backup, []string{"raise [198.18.1.1]"}, true, "commit"},
		{"first commit, keepalived never ran", facts, nil, "", []string{"raise [198.18.1.1]"}, true, "commit"},
		{"first commit, node master", facts, nil, Master, []string{"lift"}, false, ""},
		{"raised by backup: kept, addresses refreshed", facts, &guard.State{Up: true, By: "backup hook", Seq: 4, At: now}, Master, []string{"raise [198.18.1.1]"}, true, "backup hook"},
		{"lifted by master: stays lifted", facts, &guard.State{By: "master hook", Seq: 5, At: now}, Backup, []string{"lift"}, false, "master hook"},
		{"master hook killed, bound ahead", facts, &guard.State{Up: true, By: "master hook", At: now, Until: now.Add(time.Minute)}, Backup, nil, true, "master hook"},
		{"master hook killed, bound passed", facts, &guard.State{Up: true, By: "master hook", At: now, Until: now.Add(-time.Second)}, Backup, []string{"lift"}, false, "commit"},
		{"conntrack-sync deleted", nil, &guard.State{Up: true, By: "backup hook", At: now}, Backup, []string{"lift"}, false, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, _ := newRoot(t, setup{group: "MAIN"})
			if tt.state != nil {
				if err := guard.WriteState(root, *tt.state); err != nil {
					t.Fatal(err)
				}
			}
			if tt.vrrp != "" {
				if err := setGroupState(root, "MAIN", GroupState{State: tt.vrrp, Since: now, Seq: 1}); err != nil {
					t.Fatal(err)
				}
			}
			g := &fakeGuard{}
			msg, err := ApplyGuard(context.Background(), root, g, tt.facts)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, g.Calls()); d != "" {
				t.Errorf("guard calls (-want +got):\n%s", d)
			}
			if msg == "" {
				t.Error("no message for the commit's output")
			}
			st, err := guard.ReadState(root)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.wantBy == "-":
				if st != nil {
					t.Errorf("state = %+v, want none (conntrack-sync deleted)", st)
				}
			case tt.wantBy == "":
			case st == nil || st.Up != tt.wantUp || st.By != tt.wantBy:
				t.Errorf("state = %+v, want up %v by %q", st, tt.wantUp, tt.wantBy)
			}
		})
	}
}

// TestApplyGuardWaitsForHook: a commit does not change the guard while a
// transition holds the lock.
func TestApplyGuardWaitsForHook(t *testing.T) {
	root, _ := newRoot(t, setup{group: "MAIN"})
	lk, err := lockFile(context.Background(), root.TransitionLock())
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeGuard{}
	done := make(chan error, 1)
	go func() {
		_, err := ApplyGuard(context.Background(), root, g, &Facts{SyncGroup: "MAIN"})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if c := g.Calls(); len(c) != 0 {
		t.Errorf("guard changed while the hook held the lock: %v", c)
	}
	unlock(lk)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := g.Calls(); len(c) != 1 {
		t.Errorf("guard calls after the lock was released: %v", c)
	}
}
