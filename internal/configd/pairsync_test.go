package configd

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/service"
)

// fakePair stands for the peer in config sync: it records what the
// commit path asks of it, in order, and answers as told.
type fakePair struct {
	mu        sync.Mutex
	calls     []string
	beginErr  error
	commitErr error
	skip      bool   // Begin: not a commit of the pair
	note      string // Begin's note when skip
	prev      *configtree.Node
}

func (f *fakePair) log(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakePair) Begin(ctx context.Context, prev, cand *configtree.Node, user string, local bool) (PairTxn, string, error) {
	f.log("begin " + user + map[bool]string{true: " local", false: ""}[local])
	f.prev = prev
	if f.beginErr != nil {
		return nil, "", f.beginErr
	}
	if f.skip || local {
		return nil, f.note, nil
	}
	return fakeTxn{f}, "", nil
}

type fakeTxn struct{ f *fakePair }

func (t fakeTxn) Commit(ctx context.Context) (string, error) {
	t.f.log("peer commit")
	if t.f.commitErr != nil {
		return "", t.f.commitErr
	}
	return "config-sync: r2 committed it too (revision seq 7 there)", nil
}

func (t fakeTxn) Abort() { t.f.log("peer abort") }

func (r *rig) archived() []string {
	r.t.Helper()
	list, err := r.srv.archive().List()
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Kind+": "+e.Comment)
	}
	return out
}

// TestCommitOfThePair: a session's commit runs Begin, then the local
// commit, then the peer's; each failure leaves both nodes as they were.
func TestCommitOfThePair(t *testing.T) {
	change := "set high-availability vrrp group wan advertise-interval 2"
	tests := []struct {
		name    string
		pair    *fakePair
		line    string
		apply   error // this node's vrrp Apply
		wantErr string
		calls   []string
		changed bool     // this node runs the change afterwards
		archive []string // newest first, after the base commit
		msg     string
	}{
		{name: "both commit", pair: &fakePair{}, line: "commit", calls: []string{"begin alice", "peer commit"}, changed: true,
			archive: []string{"commit: "}, msg: "r2 committed it too"},
		{name: "the peer refuses", pair: &fakePair{beginErr: errors.New("r2: high-availability vrrp group wan interface: interface eth7 does not exist")},
			line: "commit", wantErr: "r2: high-availability vrrp group wan interface: interface eth7 does not exist", calls: []string{"begin alice"}},
		{name: "this node's apply fails: the peer aborts", pair: &fakePair{}, line: "commit", apply: errors.New("keepalived did not come up"),
			wantErr: "keepalived did not come up", calls: []string{"begin alice", "peer abort"}},
		{name: "the peer's commit fails: this node goes back", pair: &fakePair{commitErr: errors.New("r2: vrrp: keepalived did not come up")},
			line: "commit", wantErr: "this node committed it, then went back to the previous revision", calls: []string{"begin alice", "peer commit"},
			archive: []string{"config-sync: config-sync: rolled back, the peer did not commit revision seq 2", "commit: "}},
		{name: "commit local", pair: &fakePair{note: "commit local: r2 keeps its own"}, line: "commit local", calls: []string{"begin alice local"},
			changed: true, archive: []string{"commit: "}, msg: "commit local: r2 keeps its own"},
		{name: "commit-confirm of the synced part", pair: &fakePair{}, line: "commit-confirm 5", wantErr: "commit-confirm: this commit changes the synced part",
			calls: []string{"begin alice", "peer abort"}},
		{name: "not a commit of the pair", pair: &fakePair{skip: true}, line: "commit", calls: []string{"begin alice"}, changed: true, archive: []string{"commit: "}},
		// commit check asks the peer to check too, and releases it.
		{name: "commit check: both check", pair: &fakePair{}, line: "commit check", calls: []string{"begin alice", "peer abort"}, msg: "Commit check passed"},
		{name: "commit check: the peer refuses", pair: &fakePair{beginErr: errors.New("r2: high-availability vrrp group wan interface: interface eth7 does not exist")},
			line: "commit check", wantErr: "r2: high-availability vrrp group wan interface", calls: []string{"begin alice"}},
		{name: "commit check local", pair: &fakePair{}, line: "commit check local", calls: []string{"begin alice local"}, msg: "Commit check passed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			run(t, r.session("root"), append(append([]string(nil), baseConfig...), "commit")...)
			before, _ := r.srv.Engine.Running()
			files := r.files()
			fp := tc.pair
			r.srv.Pair = fp
			if tc.apply != nil {
				r.vrrp.ApplyFunc = func(cfg string) error {
					if strings.Contains(cfg, "advertise-interval 2") {
						return tc.apply
					}
					return nil
				}
			}
			s := r.session("alice")
			run(t, s, change)
			out, err := s.Exec(context.Background(), tc.line)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("%s: %v; want %q", tc.line, err, tc.wantErr)
			}
			if tc.msg != "" && !strings.Contains(out, tc.msg) {
				t.Errorf("output %q lacks %q", out, tc.msg)
			}
			if diff := cmp.Diff(tc.calls, fp.calls); diff != "" {
				t.Errorf("asked of the peer (-want +got):\n%s", diff)
			}
			after, _ := r.srv.Engine.Running()
			if tc.changed == configtree.Equal(before, after) {
				t.Errorf("changed %v, want %v", !configtree.Equal(before, after), tc.changed)
			}
			if !tc.changed {
				if diff := cmp.Diff(files, r.files()); diff != "" {
					t.Errorf("files (-before +after):\n%s", diff)
				}
			}
			got := r.archived()
			if diff := cmp.Diff(append(tc.archive, "commit: "), got); diff != "" {
				t.Errorf("archive (-want +got):\n%s", diff)
			}
			if fp.prev != nil && !configtree.Equal(fp.prev, before) {
				t.Error("Begin was not given the running config as prev")
			}
		})
	}
}

// TestHoldCommits: the lock config sync holds keeps sessions' commits
// and restarts out, waits a bounded time for a commit, and refuses while
// a commit-confirm is pending.
func TestHoldCommits(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	run(t, r.session("root"), append(append([]string(nil), baseConfig...), "commit")...)
	h, err := r.srv.HoldCommits(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.srv.HoldCommits(ctx, 100*time.Millisecond); !errors.Is(err, service.ErrCommitInProgress) {
		t.Errorf("a second hold: %v, want service.ErrCommitInProgress", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.session("alice").Exec(ctx, "set high-availability vrrp group wan advertise-interval 2")
		if err == nil {
			_, err = r.srv.CommitWith(ctx, mustCandidate(t, r, "high-availability vrrp group wan advertise-interval 2"), service.CommitOptions{User: "alice"})
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("a session committed while the lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	cand := mustCandidate(t, r, "high-availability vrrp group wan description held")
	if err := h.Check(ctx, cand); err != nil {
		t.Fatal(err)
	}
	if _, seq, err := h.Commit(ctx, cand, "bob", "config-sync from r1 (user bob)"); err != nil || seq == 0 {
		t.Fatalf("commit under the hold: seq %d, %v", seq, err)
	}
	h.Release()
	h.Release() // the second does nothing
	if err := <-done; err != nil {
		t.Fatalf("the session's commit after the release: %v", err)
	}
	list, _ := r.srv.archive().List()
	if len(list) != 3 || list[1].Kind != archive.KindConfigSync || list[1].User != "bob" || list[1].Comment != "config-sync from r1 (user bob)" {
		t.Errorf("archive: %+v", list)
	}
	run(t, r.session("root"), "set high-availability vrrp group wan advertise-interval 3", "commit-confirm 5")
	if _, err := r.srv.HoldCommits(ctx, time.Second); err == nil || !strings.Contains(err.Error(), "a commit-confirm by root awaits confirm") {
		t.Errorf("hold with a commit-confirm pending: %v", err)
	}
}

// mustCandidate is the running config with one line set.
func mustCandidate(t *testing.T, r *rig, line string) *configtree.Node {
	t.Helper()
	c, _ := r.srv.Engine.Running()
	if err := r.srv.Schema.Set(c, strings.Fields(line)); err != nil {
		t.Fatal(err)
	}
	return c
}
