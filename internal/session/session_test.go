package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/migrate"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/service"
)

type rig struct {
	root paths.Root
	log  *handlertest.CallLog
	ct   *handlertest.Fake
	vrrp *handlertest.Fake
	eng  *commit.Engine
}

func newRig(t testing.TB) *rig {
	t.Helper()
	r := &rig{root: paths.Root{Dir: t.TempDir()}, log: &handlertest.CallLog{}}
	r.ct, r.vrrp = handlertest.Pair(r.root, r.log)
	r.eng = commit.New(commit.Options{
		Schema:   schema.Default(),
		Handlers: handlertest.Runners(r.vrrp, r.ct), // priority, not this order, decides
		Env:      &handler.Env{Root: r.root},
		LockPath: filepath.Join(r.root.Dir, "commit.lock"),
	})
	return r
}

// engineService is the service a session needs, over a bare commit
// engine: commits are not archived, no commit-confirm runs, and the
// saved configuration is config.boot under the root, as ctsyncd keeps
// it (internal/configd tests the real service with sessions).
type engineService struct {
	*commit.Engine
	root paths.Root
}

func (e engineService) CommitWith(ctx context.Context, c *configtree.Node, _ service.CommitOptions) (*commit.Result, error) {
	return e.Commit(ctx, c)
}

func (e engineService) CheckWith(ctx context.Context, c *configtree.Node, _ service.CommitOptions) error {
	return e.Check(ctx, c)
}

func (engineService) Confirm(context.Context, string) (string, error) {
	return "", errors.New("confirm: no commit-confirm is pending; nothing changed")
}

func (engineService) Revision(int) (*archive.Entry, error) {
	return nil, errors.New("no commit archive")
}

func (e engineService) Saved() ([]byte, error) {
	b, err := os.ReadFile(e.root.ConfigBoot())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (e engineService) Save() (string, error) {
	running, _ := e.Running()
	data, err := migrate.Format(running)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(e.root.ConfigDir(), 0o750); err != nil {
		return "", err
	}
	return e.root.ConfigBoot(), os.WriteFile(e.root.ConfigBoot(), data, 0o640)
}

func (r *rig) session() *Session {
	return New(r.root, schema.Default(), engineService{Engine: r.eng, root: r.root})
}

var baseConfig = []string{
	"set high-availability vrrp group wan interface eth0",
	"set high-availability vrrp group wan vrid 1",
	"set high-availability vrrp group wan address 198.18.0.101/24",
	"set high-availability vrrp sync-group MAIN member wan",
	"set service conntrack-sync interface eth1 peer 198.18.10.3",
	"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
}

func run(t *testing.T, s *Session, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if _, err := s.Exec(context.Background(), l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
}

func fileOrAbsent(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "<absent>"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCommitRunsHandlersInPriorityOrderAndOnlyWhatChanged(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, baseConfig...)
	out, err := s.Exec(context.Background(), "commit")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"conntrack-sync verify", "vrrp verify", "conntrack-sync precheck", "vrrp precheck", "conntrack-sync apply start", "vrrp apply start"}
	if diff := cmp.Diff(want, r.log.Take()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "conntrack-sync: start") || !strings.Contains(out, "vrrp: start") {
		t.Errorf("commit output lacks handler messages: %q", out)
	}
	if !strings.Contains(fileOrAbsent(t, r.root.ConntrackdConf()), "peer 198.18.10.3") {
		t.Errorf("conntrackd.conf not generated")
	}

	// A change under vrrp alone still reruns conntrack-sync, which reads
	// the vrrp subtree: dependencies are data, not special cases.
	r.log.Take()
	run(t, s, "set high-availability vrrp group wan priority 200", "commit")
	want = []string{"conntrack-sync verify", "vrrp verify", "conntrack-sync precheck", "vrrp precheck", "conntrack-sync apply start", "vrrp apply start"}
	if diff := cmp.Diff(want, r.log.Take()); diff != "" {
		t.Errorf("calls after vrrp change (-want +got):\n%s", diff)
	}

	// Deleting conntrack-sync stops it and regenerates keepalived.conf.
	r.log.Take()
	run(t, s, "delete service conntrack-sync", "commit")
	want = []string{"vrrp verify", "vrrp precheck", "conntrack-sync apply stop", "vrrp apply start"}
	if diff := cmp.Diff(want, r.log.Take()); diff != "" {
		t.Errorf("calls after delete (-want +got):\n%s", diff)
	}
	if got := fileOrAbsent(t, r.root.ConntrackdConf()); got != "<absent>" {
		t.Errorf("conntrackd.conf still present after delete: %q", got)
	}
	if strings.Contains(fileOrAbsent(t, r.root.KeepalivedConf()), "conntrack-sync") {
		t.Errorf("keepalived.conf still mentions conntrack-sync")
	}
}

// TestFailedCommitChangesNothing: whatever stage fails, the running
// config, the generated files and the engines stay as they were.
func TestFailedCommitChangesNothing(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(r *rig)
		lines   []string
		wantErr string
		// handler calls expected after the failed commit
		wantCalls []string
	}{
		{
			name:      "verify fails with a path",
			setup:     func(r *rig) { r.ct.VerifyFunc = verifyNoEth9 },
			lines:     []string{"set service conntrack-sync interface eth9"},
			wantErr:   "service conntrack-sync interface eth9: interface does not exist",
			wantCalls: []string{"conntrack-sync verify", "vrrp verify"},
		},
		{
			name:    "schema: mandatory node deleted",
			lines:   []string{"delete service conntrack-sync failover-mechanism"},
			wantErr: "service conntrack-sync failover-mechanism",
		},
		{
			name:  "apply of the second handler fails",
			setup: func(r *rig) { r.vrrp.ApplyFunc = func(string) error { return errors.New("keepalived did not start") } },
			lines: []string{"set service conntrack-sync accept-protocol tcp"},
			// conntrack-sync applied, vrrp failed, then both put back
			// in reverse order.
			wantErr: "vrrp: keepalived did not start",
			wantCalls: []string{"conntrack-sync verify", "vrrp verify", "conntrack-sync precheck", "vrrp precheck",
				"conntrack-sync apply start", "vrrp apply start",
				"vrrp apply start", "conntrack-sync apply start"},
		},
		{
			name: "an engine refuses its installed file",
			setup: func(r *rig) {
				r.vrrp.PrecheckFunc = func(string) error { return errors.New("keepalived -t refuses keepalived.conf") }
			},
			lines: []string{"set service conntrack-sync accept-protocol tcp"},
			// Refused before any handler applies: no engine is touched.
			wantErr:   "vrrp: keepalived -t refuses keepalived.conf",
			wantCalls: []string{"conntrack-sync verify", "vrrp verify", "conntrack-sync precheck", "vrrp precheck"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			s := r.session()
			run(t, s, baseConfig...)
			run(t, s, "commit")
			runningBefore, revBefore := r.eng.Running()
			ctBefore, kaBefore := fileOrAbsent(t, r.root.ConntrackdConf()), fileOrAbsent(t, r.root.KeepalivedConf())
			if tt.setup != nil {
				tt.setup(r)
			}
			r.log.Take()
			run(t, s, tt.lines...)
			_, err := s.Exec(context.Background(), "commit")
			if err == nil {
				t.Fatal("commit succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), CommitFailed) {
				t.Errorf("error %q lacks %q and %q", err, tt.wantErr, CommitFailed)
			}
			if diff := cmp.Diff(tt.wantCalls, r.log.Take()); diff != "" {
				t.Errorf("handler calls (-want +got):\n%s", diff)
			}
			runningAfter, revAfter := r.eng.Running()
			if !configtree.Equal(runningBefore, runningAfter) || revBefore != revAfter {
				t.Errorf("running config changed by a failed commit")
			}
			if got := fileOrAbsent(t, r.root.ConntrackdConf()); got != ctBefore {
				t.Errorf("conntrackd.conf changed:\n%s", cmp.Diff(ctBefore, got))
			}
			if got := fileOrAbsent(t, r.root.KeepalivedConf()); got != kaBefore {
				t.Errorf("keepalived.conf changed:\n%s", cmp.Diff(kaBefore, got))
			}
			// The candidate keeps the operator's edits for fixing.
			if !s.Modified() {
				t.Errorf("candidate lost after failed commit")
			}
		})
	}
}

func verifyNoEth9(cfg string) error {
	if strings.Contains(cfg, "eth9") {
		return errors.Join(cfgerr.New([]string{"service", "conntrack-sync", "interface", "eth9"}, "interface does not exist"))
	}
	return nil
}

// TestSessionSteps walks a session through set, delete, compare, discard
// and checks the whole candidate after each step.
func TestSessionSteps(t *testing.T) {
	r := newRig(t)
	s := r.session()
	steps := []struct {
		line    string
		wantErr string
		want    string // the candidate's config.boot after the step
	}{
		{line: "set service conntrack-sync accept-protocol tcp", want: "service {\n    conntrack-sync {\n        accept-protocol tcp\n    }\n}\n"},
		{line: "set service conntrack-sync accept-protocol udp", want: "service {\n    conntrack-sync {\n        accept-protocol tcp\n        accept-protocol udp\n    }\n}\n"},
		{line: "set service conntrack-sync accept-protocol igmp", wantErr: "service conntrack-sync accept-protocol igmp"},
		{line: "set service conntrack-sync mcast-group 198.18.0.5", wantErr: "service conntrack-sync mcast-group 198.18.0.5"},
		{line: "set service conntrack-sync interface eth1 port 70000", wantErr: "service conntrack-sync interface eth1 port 70000"},
		{line: "set service conntrack-sync bogus 1", wantErr: "service conntrack-sync bogus"},
		{line: `set service conntrack-sync interface "eth1 }" peer 198.18.10.3`, wantErr: "service conntrack-sync interface"},
		{line: "delete service conntrack-sync accept-protocol tcp", want: "service {\n    conntrack-sync {\n        accept-protocol udp\n    }\n}\n"},
		{line: "delete service conntrack-sync accept-protocol tcp", wantErr: "nothing to delete"},
		{line: "set service conntrack-sync interface eth1 peer 198.18.10.3", want: "service {\n    conntrack-sync {\n        accept-protocol udp\n        interface eth1 {\n            peer 198.18.10.3\n        }\n    }\n}\n"},
		{line: "set service conntrack-sync interface eth1 port 3781", want: "service {\n    conntrack-sync {\n        accept-protocol udp\n        interface eth1 {\n            peer 198.18.10.3\n            port 3781\n        }\n    }\n}\n"},
		// A whole leaf is deleted without its value, as in VyOS.
		{line: "delete service conntrack-sync interface eth1 port", want: "service {\n    conntrack-sync {\n        accept-protocol udp\n        interface eth1 {\n            peer 198.18.10.3\n        }\n    }\n}\n"},
		{line: "delete service conntrack-sync interface eth1", want: "service {\n    conntrack-sync {\n        accept-protocol udp\n    }\n}\n"},
		{line: "discard", want: ""},
	}
	for _, st := range steps {
		before := s.Candidate()
		_, err := s.Exec(context.Background(), st.line)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("%s: error %v, want one naming %q", st.line, err, st.wantErr)
			}
			if !configtree.Equal(before, s.Candidate()) {
				t.Fatalf("%s: a failed command changed the candidate", st.line)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.line, err)
		}
		if diff := cmp.Diff(st.want, s.Candidate().String()); diff != "" {
			t.Fatalf("after %s (-want +got):\n%s", st.line, diff)
		}
	}
}

func TestCompareShowsDiff(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, "set service conntrack-sync interface eth1 peer 198.18.10.3")
	out, err := s.Exec(context.Background(), "compare")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[edit]", "+service {", "+    conntrack-sync {", "+            peer 198.18.10.3"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare output lacks %q:\n%s", want, out)
		}
	}
}

func TestSaveAndLoadRoundTrip(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, baseConfig...)
	run(t, s, "commit", "save")
	saved := fileOrAbsent(t, r.root.ConfigBoot())
	running, _ := r.eng.Running()
	// The tree, then the version footer that lets a later release migrate it.
	if want := running.String() + strings.Join(migrate.Footer(), "\n") + "\n"; saved != want {
		t.Fatalf("saved file is not the running config:\n%s", cmp.Diff(running.String(), saved))
	}
	s2 := r.session()
	run(t, s2, "delete service", "load config.boot")
	if s2.Modified() {
		t.Errorf("loading the saved running config left a difference:\n%s", configtree.Diff(running, s2.Candidate()))
	}
	if err := os.WriteFile(filepath.Join(r.root.ConfigDir(), "junk.boot"), []byte("\x00\x01binary{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Exec(context.Background(), "load junk.boot"); err == nil {
		t.Errorf("loading a binary file succeeded")
	}
}

func TestCommitRefusedWhenAnotherSessionCommittedFirst(t *testing.T) {
	r := newRig(t)
	a, b := r.session(), r.session()
	run(t, a, baseConfig...)
	run(t, a, "commit")
	run(t, b, "set service conntrack-sync accept-protocol tcp")
	_, err := b.Exec(context.Background(), "commit")
	if err == nil || !strings.Contains(err.Error(), "another session committed") {
		t.Fatalf("commit on a stale base: %v", err)
	}
	running, _ := r.eng.Running()
	if running.Get("service", "conntrack-sync", "accept-protocol") != nil {
		t.Errorf("stale commit reached the running config")
	}
}

func TestExitWithUncommittedChanges(t *testing.T) {
	r := newRig(t)
	s := r.session()
	run(t, s, "exit")
	if !s.Exited() {
		t.Fatal("exit without changes did not exit")
	}
	s = r.session()
	run(t, s, "set service conntrack-sync accept-protocol tcp")
	if _, err := s.Exec(context.Background(), "exit"); err == nil || !strings.Contains(err.Error(), "exit discard") || s.Exited() {
		t.Fatalf("exit with uncommitted changes: %v (exited %v); want a refusal naming 'exit discard'", err, s.Exited())
	}
	run(t, s, "exit discard")
	if !s.Exited() {
		t.Fatal("exit discard did not exit")
	}
}
