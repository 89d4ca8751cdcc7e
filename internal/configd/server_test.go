package configd

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/service"
	"github.com/ctsync/ctsync/internal/session"
	"github.com/ctsync/ctsync/internal/transition"
)

type rig struct {
	t    *testing.T
	root paths.Root
	ct   *handlertest.Fake
	vrrp *handlertest.Fake
	srv  *Server
	// fault, when set, is called at every crash point of a commit.
	fault func(point string)
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, root: paths.Root{Dir: t.TempDir()}}
	r.ct, r.vrrp = handlertest.Pair(r.root, nil)
	for _, d := range []string{r.root.RunDir(), r.root.ConfigDir(), r.root.EtcDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	return r
}

// start builds a Server and boots it, as a (re)start of ctsyncd would:
// a fresh engine, the same root.
func (r *rig) start() {
	r.t.Helper()
	if r.srv != nil {
		r.srv.Close()
	}
	eng := commit.New(commit.Options{
		Schema:   schema.Default(),
		Handlers: handlertest.Runners(r.vrrp, r.ct),
		Env:      &handler.Env{Root: r.root},
		LockPath: r.root.CommitLock(),
		Fault:    r.at,
	})
	r.srv = &Server{Root: r.root, Schema: schema.Default(), Engine: eng, Log: zap.NewNop(), Fault: r.at}
	r.t.Cleanup(r.srv.Close)
	if err := r.srv.Boot(context.Background()); err != nil {
		r.t.Fatalf("boot: %v", err)
	}
}

func (r *rig) at(point string) {
	if r.fault != nil {
		r.fault(point)
	}
}

// committed opens a session of user and commits baseConfig from it; it
// returns the session and the files that commit left.
func (r *rig) committed(user string) (*session.Session, map[string]string) {
	r.t.Helper()
	s := r.session(user)
	run(r.t, s, append(baseConfig, "commit")...)
	return s, r.files()
}

// reboot empties the run directory (a tmpfs), as a reboot does.
func (r *rig) reboot() {
	r.t.Helper()
	if err := os.RemoveAll(r.root.RunDir()); err != nil {
		r.t.Fatal(err)
	}
	if err := os.MkdirAll(r.root.RunDir(), 0o755); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) session(user string) *session.Session {
	s := session.New(r.root, r.srv.Schema, r.srv)
	s.SetUser(user)
	return s
}

func run(t *testing.T, s *session.Session, lines ...string) string {
	t.Helper()
	var out strings.Builder
	for _, l := range lines {
		o, err := s.Exec(context.Background(), l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out.WriteString(o)
	}
	return out.String()
}

var baseConfig = []string{
	"set high-availability vrrp group wan interface eth0",
	"set high-availability vrrp group wan vrid 1",
	"set high-availability vrrp group wan address 198.18.0.101/24",
	"set high-availability vrrp sync-group MAIN member wan",
	"set service conntrack-sync interface eth1 peer 198.18.10.3",
	"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
}

// files is the state a commit must restore exactly: the generated files
// and the running config as ctsyncd records it.
func (r *rig) files() map[string]string {
	out := map[string]string{}
	for _, p := range []string{r.root.ConntrackdConf(), r.root.KeepalivedConf(), r.root.RunningConfig()} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			out[filepath.Base(p)] = "<absent>"
			continue
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

// show is `show system commit`, or with a revision number `show
// system commit diff N`.
func (r *rig) show(diff ...int) string {
	var b bytes.Buffer
	err := ShowCommits(r.root, &b, false)
	if len(diff) > 0 {
		b.Reset()
		err = ShowCommitDiff(r.root, &b, diff[0], false)
	}
	if err != nil {
		r.t.Fatalf("show system commit %v: %v", diff, err)
	}
	return b.String()
}

func (r *rig) entries() []archive.Entry {
	list, err := archive.Open(r.root.ArchiveDir()).List()
	if err != nil {
		r.t.Fatal(err)
	}
	return list
}

func TestCommitCheckReportsEveryError(t *testing.T) {
	r := newRig(t)
	s, before := r.committed("alice")
	r.ct.VerifyFunc = func(cfg string) error {
		if strings.Contains(cfg, "eth9") {
			return errors.Join(cfgerr.New([]string{"service", "conntrack-sync", "interface", "eth9"}, "interface does not exist"),
				cfgerr.New([]string{"service", "conntrack-sync", "listen-address"}, "198.18.99.1 is not a local address"))
		}
		return nil
	}
	// One schema error under vrrp and two verify errors under
	// conntrack-sync: check reports all three.
	run(t, s, "delete high-availability vrrp group wan vrid", "set service conntrack-sync interface eth9", "set service conntrack-sync listen-address 198.18.99.1")
	_, err := s.Exec(context.Background(), "commit check")
	if err == nil {
		t.Fatal("commit check passed")
	}
	for _, want := range []string{"high-availability vrrp group wan vrid: required node missing", "interface eth9: interface does not exist", "listen-address: 198.18.99.1 is not a local address", "Commit check failed."} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("commit check output lacks %q:\n%v", want, err)
		}
	}
	if diff := cmp.Diff(before, r.files()); diff != "" {
		t.Errorf("commit check changed files (-before +after):\n%s", diff)
	}
	run(t, s, "set high-availability vrrp group wan vrid 1", "delete service conntrack-sync interface eth9", "delete service conntrack-sync listen-address")
	if out := run(t, s, "commit check"); !strings.Contains(out, "passed") {
		t.Errorf("commit check of a good candidate: %q", out)
	}
	if n := len(r.entries()); n != 1 {
		t.Errorf("commit check archived something: %d entries", n)
	}
}

// TestCommitCheckRefusesWhatCommitRefuses: commit check runs the commit's
// path short of installing, so where the commit is refused (another
// session changed the same path, a commit-confirm awaits confirm) the
// check is too, and where the commit merges the check passes on the
// merge. Each case runs check, then commit, and both must agree.
func TestCommitCheckRefusesWhatCommitRefuses(t *testing.T) {
	tests := []struct {
		name string
		// setup brings the service to the state the second session
		// meets, given the first session (a) and the second (b).
		setup   func(t *testing.T, r *rig, a, b *session.Session)
		wantErr string // "" when both pass
		wantOut string
	}{
		{
			name: "same path changed by another session",
			setup: func(t *testing.T, _ *rig, a, b *session.Session) {
				run(t, a, "set high-availability vrrp group wan priority 10")
				run(t, b, "set high-availability vrrp group wan priority 20")
				run(t, a, "commit")
			},
			wantErr: "another session committed",
		},
		{
			name: "disjoint paths merge",
			setup: func(t *testing.T, _ *rig, a, b *session.Session) {
				run(t, a, "set high-availability vrrp group wan priority 10")
				run(t, b, "set service conntrack-sync accept-protocol tcp")
				run(t, a, "commit")
			},
			wantOut: "merged",
		},
		{
			name: "commit-confirm pending",
			setup: func(t *testing.T, _ *rig, a, b *session.Session) {
				run(t, b, "set service conntrack-sync accept-protocol tcp")
				run(t, a, "set high-availability vrrp group wan priority 10", "commit-confirm 5")
			},
			wantErr: "awaits confirm",
		},
		{
			name: "the merge breaks a rule the commit checks",
			setup: func(t *testing.T, r *rig, a, b *session.Session) {
				// Each side alone passes Verify; their merge does not,
				// and only a check of the merge can tell.
				r.ct.VerifyFunc = func(cfg string) error {
					if strings.Contains(cfg, "priority 200") && strings.Contains(cfg, "accept-protocol tcp") {
						return cfgerr.New([]string{"service", "conntrack-sync", "accept-protocol"}, "tcp is not allowed with priority 200")
					}
					return nil
				}
				run(t, b, "set service conntrack-sync accept-protocol tcp")
				run(t, a, "set high-availability vrrp group wan priority 200", "commit")
			},
			wantErr: "tcp is not allowed with priority 200",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			run(t, r.session("alice"), append(baseConfig, "commit")...)
			a, b := r.session("alice"), r.session("bob")
			tt.setup(t, r, a, b)
			files, n := r.files(), len(r.entries())
			out, checkErr := b.Exec(context.Background(), "commit check")
			if diff := cmp.Diff(files, r.files()); diff != "" || len(r.entries()) != n {
				t.Errorf("commit check changed files or the archive:\n%s", diff)
			}
			_, commitErr := b.Exec(context.Background(), "commit")
			switch {
			case tt.wantErr == "" && (checkErr != nil || commitErr != nil):
				t.Fatalf("check: %v\ncommit: %v\nwant both to pass", checkErr, commitErr)
			case tt.wantErr != "" && (checkErr == nil || commitErr == nil):
				t.Fatalf("check: %v (%q)\ncommit: %v\nwant both refused with %q", checkErr, out, commitErr, tt.wantErr)
			case tt.wantErr != "":
				if !strings.Contains(checkErr.Error(), tt.wantErr) || !strings.HasSuffix(checkErr.Error(), "Commit check failed.") {
					t.Errorf("check: %v; want %q, ending in the check's verdict", checkErr, tt.wantErr)
				}
				if !strings.Contains(commitErr.Error(), tt.wantErr) || !strings.HasSuffix(commitErr.Error(), session.CommitFailed) {
					t.Errorf("commit: %v; want %q, ending in the commit's verdict", commitErr, tt.wantErr)
				}
			case !strings.Contains(out, tt.wantOut) || !strings.Contains(out, "passed"):
				t.Errorf("check: %q; want it to pass and say %q", out, tt.wantOut)
			}
		})
	}
}

func TestArchiveAfterCommits(t *testing.T) {
	r := newRig(t)
	s := r.session("alice")
	run(t, s, baseConfig...)
	run(t, s, `commit comment "first: the pair"`)
	run(t, s, "set high-availability vrrp group wan priority 200", "commit comment raise priority for the move")
	run(t, s, "set service conntrack-sync accept-protocol tcp", "commit")
	list := r.entries()
	if len(list) != 3 {
		t.Fatalf("%d archive entries, want 3", len(list))
	}
	got := []string{}
	for _, e := range list {
		got = append(got, e.User+"|"+e.Kind+"|"+e.Comment)
	}
	want := []string{"alice|commit|", "alice|commit|raise priority for the move", "alice|commit|first: the pair"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
	running, _ := r.srv.Engine.Running()
	top, _ := archive.Open(r.root.ArchiveDir()).Get(0)
	if tree, _ := top.Tree(); !configtree.Equal(tree, running) {
		t.Errorf("revision 0 is not the running config")
	}
	out := r.show()
	for _, w := range []string{"raise priority for the move", "first: the pair", "alice"} {
		if !strings.Contains(out, w) {
			t.Errorf("show system commit lacks %q:\n%s", w, out)
		}
	}
	d := r.show(1)
	if !strings.Contains(d, "-priority 100") && !strings.Contains(d, "+priority 200") {
		t.Errorf("show system commit diff 1:\n%s", d)
	}
	// compare 1 0 is what the last commit did; compare 2 is everything
	// since the first, against the candidate.
	if c := run(t, s, "compare 1 0"); !strings.Contains(c, "+accept-protocol tcp") {
		t.Errorf("compare 1 0:\n%s", c)
	}
	if c := run(t, s, "compare 2"); !strings.Contains(c, "+priority 200") || !strings.Contains(c, "+accept-protocol tcp") {
		t.Errorf("compare 2:\n%s", c)
	}
}

func TestRollbackThenCommit(t *testing.T) {
	r := newRig(t)
	s := r.session("alice")
	run(t, s, baseConfig...)
	run(t, s, "commit")
	first := r.files()
	run(t, s, "set high-availability vrrp group wan priority 200", "set service conntrack-sync accept-protocol udp", "commit")
	out := run(t, s, "rollback 1")
	if !strings.Contains(out, "Loaded revision 1") {
		t.Errorf("rollback output: %q", out)
	}
	if c := run(t, s, "compare"); !strings.Contains(c, "-priority 200") {
		t.Errorf("compare after rollback:\n%s", c)
	}
	if r.files()["running.boot"] == first["running.boot"] {
		t.Fatalf("rollback changed the running config before commit")
	}
	run(t, s, "commit comment back to the first")
	if diff := cmp.Diff(first, r.files()); diff != "" {
		t.Errorf("files after rollback+commit (-want +got):\n%s", diff)
	}
	if n := len(r.entries()); n != 3 {
		t.Errorf("%d archive entries, want 3 (a rollback is a commit)", n)
	}
}

func TestBadInputIsOneLineAndChangesNothing(t *testing.T) {
	r := newRig(t)
	s := r.session("alice")
	run(t, s, baseConfig...)
	run(t, s, "commit")
	run(t, s, "set high-availability vrrp group wan priority 150") // an edit to keep
	if err := os.WriteFile(filepath.Join(r.root.ConfigDir(), "bin.boot"), []byte("\x7fELF\x02\x01\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.root.ConfigDir(), "passwd"), []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.root.ConfigDir(), "other.boot"), []byte("system {\n    host-name x\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ line, want string }{
		{"rollback 999", "no such revision (the archive holds 0-0)"},
		{"rollback -1", "not a revision number"},
		{"rollback x", "not a revision number"},
		{"compare 7", "no such revision"},
		{`commit comment ""`, "the comment is empty"},
		{"commit comment", "the comment is empty"},
		{"commit comment \"a\tb\"", "control character"},
		{"commit comment " + strings.Repeat("x", 300), "at most 200"},
		{"commit-confirm 0", "minutes must be 1-1440"},
		{"commit-confirm 5 bogus", `unexpected "bogus"`},
		{"confirm", "no commit-confirm is pending"},
		{"load bin.boot", "not a text file"},
		{"load passwd", "not a configuration block"},
		{"load other.boot", "holds nothing ctsync manages (it holds only system)"},
		{"load missing.boot", "no such file"},
		{"merge bin.boot", "not a text file"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			cand := s.Candidate()
			files := r.files()
			n := len(r.entries())
			_, err := s.Exec(context.Background(), tt.line)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line:\n%v", err)
			}
			if !configtree.Equal(cand, s.Candidate()) {
				t.Errorf("candidate changed")
			}
			if diff := cmp.Diff(files, r.files()); diff != "" {
				t.Errorf("files changed:\n%s", diff)
			}
			if len(r.entries()) != n {
				t.Errorf("archive changed")
			}
		})
	}
}

// after lets d pass on the test's clock (synctest's: the commit-confirm
// tests wait minutes in no time) and waits until every goroutine the
// service started meanwhile (an automatic rollback) is done.
func after(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (r *rig) pending() bool {
	p, err := ReadPending(r.root)
	if err != nil {
		r.t.Fatal(err)
	}
	return p != nil
}

func TestCommitConfirmExpiresAndRestoresExactFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		s, before := r.committed("alice")
		out := run(t, s, "set high-availability vrrp group wan priority 250", "set service conntrack-sync accept-protocol tcp", `commit-confirm 5 comment "risky change"`)
		if !strings.Contains(out, "type confirm within 5m0s") {
			t.Errorf("commit-confirm output: %q", out)
		}
		if diff := cmp.Diff(before, r.files()); diff == "" {
			t.Fatal("commit-confirm changed nothing")
		}
		if !r.pending() {
			t.Fatal("no pending record")
		}
		if sh := r.show(); !strings.Contains(sh, "Commit-confirm pending") {
			t.Errorf("show system commit does not say a confirm is pending:\n%s", sh)
		}
		after(5*time.Minute - time.Second)
		if !r.pending() {
			t.Fatal("rolled back before the deadline")
		}
		after(2 * time.Second)
		if r.pending() {
			t.Fatal("still pending after the deadline")
		}
		if diff := cmp.Diff(before, r.files()); diff != "" {
			t.Errorf("files after the automatic rollback (-want +got):\n%s", diff)
		}
		list := r.entries()
		if len(list) != 3 || list[0].Kind != archive.KindAutoRollback || list[0].User != "ctsyncd" || !strings.Contains(list[1].Note, "not confirmed") {
			t.Errorf("archive after rollback: %+v", list)
		}
		sh := r.show()
		for _, w := range []string{"auto-rollback", "automatic rollback: commit-confirm by alice", "not confirmed: rolled back by ctsyncd", "risky change"} {
			if !strings.Contains(sh, w) {
				t.Errorf("show system commit lacks %q:\n%s", w, sh)
			}
		}
		// The session's candidate still holds the change, for another try.
		if c := run(t, s, "compare"); !strings.Contains(c, "+priority 250") {
			t.Errorf("compare after rollback:\n%s", c)
		}
	})
}

// TestConfirmUnit: a commit-confirm minute lasts the service's unit, the
// one ctsyncd takes from CTSYNC_CONFIRM_UNIT for demos.
func TestConfirmUnit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.srv.ConfirmUnit = time.Second
		s := r.session("alice")
		run(t, s, baseConfig...)
		run(t, s, "commit")
		if out := run(t, s, "set high-availability vrrp group wan priority 250", "commit-confirm 3"); !strings.Contains(out, "within 3s") {
			t.Errorf("commit-confirm output: %q", out)
		}
		after(2 * time.Second)
		if !r.pending() {
			t.Fatal("rolled back before three units passed")
		}
		after(2 * time.Second)
		if r.pending() {
			t.Fatal("still pending after three units")
		}
	})
}

func TestConfirmInTimeAndSecondCommitRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		a := r.session("alice")
		run(t, a, baseConfig...)
		run(t, a, "commit")
		b := r.session("bob")
		run(t, a, "set high-availability vrrp group wan priority 250", "commit confirmed 3")
		kept := r.files()
		// Another commit waits for the confirm.
		run(t, b, "set service conntrack-sync accept-protocol udp")
		_, err := b.Exec(context.Background(), "commit")
		if err == nil || !strings.Contains(err.Error(), "awaits confirm") || !strings.Contains(err.Error(), session.CommitFailed) {
			t.Fatalf("second commit while pending: %v", err)
		}
		if diff := cmp.Diff(kept, r.files()); diff != "" {
			t.Errorf("refused commit changed files:\n%s", diff)
		}
		if _, err := b.Exec(context.Background(), "save"); err == nil || !strings.Contains(err.Error(), "awaits confirm") {
			t.Errorf("save while a confirm is pending: %v", err)
		}
		if out := run(t, b, "confirm"); !strings.Contains(out, "confirmed") {
			t.Errorf("confirm: %q", out)
		}
		after(4 * time.Minute) // past the deadline: nothing may happen
		if diff := cmp.Diff(kept, r.files()); diff != "" {
			t.Errorf("confirmed commit rolled back (-want +got):\n%s", diff)
		}
		if l := r.entries(); !strings.Contains(l[0].Note, "confirmed by bob") {
			t.Errorf("archive note: %q", l[0].Note)
		}
		if _, err := b.Exec(context.Background(), "confirm"); err == nil {
			t.Errorf("second confirm succeeded")
		}
		run(t, b, "save")
		// And now b's commit goes through, merged with a's.
		if out := run(t, b, "commit"); !strings.Contains(out, "merged") {
			t.Errorf("commit after confirm: %q", out)
		}
	})
}

func TestRollbackOneCancelsPendingConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		s, before := r.committed("alice")
		run(t, s, "set high-availability vrrp group wan priority 250", "commit-confirm")
		out := run(t, s, "rollback 1", "commit")
		if !strings.Contains(out, "commit-confirm is cancelled") || r.pending() {
			t.Errorf("rollback 1 + commit did not cancel: %q", out)
		}
		if diff := cmp.Diff(before, r.files()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		after(time.Hour) // the cancelled countdown does nothing when it ends
		if diff := cmp.Diff(before, r.files()); diff != "" || len(r.entries()) != 3 {
			t.Errorf("after the cancelled deadline (-want +got):\n%s\n%+v", diff, r.entries())
		}
	})
}

func TestPendingConfirmSurvivesRestart(t *testing.T) {
	t.Run("deadline still ahead", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			s, before := r.committed("alice")
			run(t, s, "set high-availability vrrp group wan priority 250", "commit-confirm 10")
			changed := r.files()
			after(9 * time.Minute)
			r.start() // ctsyncd restarts: the countdown goes on
			if !r.pending() {
				t.Fatal("pending confirm lost across restart")
			}
			if diff := cmp.Diff(changed, r.files()); diff != "" {
				t.Errorf("restart undid the pending commit early:\n%s", diff)
			}
			after(61 * time.Second)
			if r.pending() {
				t.Fatal("not rolled back at the deadline after the restart")
			}
			if diff := cmp.Diff(before, r.files()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	})
	t.Run("expired while down", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			s, before := r.committed("alice")
			run(t, s, "set high-availability vrrp group wan priority 250", "commit-confirm 1")
			r.srv.Close() // ctsyncd stops before the deadline ...
			after(3 * time.Minute)
			r.srv = nil
			r.start() // ... and rolls back as soon as it starts
			if r.pending() {
				t.Fatal("still pending after a start past the deadline")
			}
			if diff := cmp.Diff(before, r.files()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	})
	t.Run("confirm after restart", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			r := newRig(t)
			s := r.session("alice")
			run(t, s, baseConfig...)
			run(t, s, "commit", "set high-availability vrrp group wan priority 250", "commit-confirm 5")
			changed := r.files()
			r.start()
			run(t, r.session("bob"), "confirm")
			after(7 * time.Minute)
			if diff := cmp.Diff(changed, r.files()); diff != "" {
				t.Errorf("confirmed commit rolled back:\n%s", diff)
			}
		})
	})
}

func TestTwoSessionsCollideAndMerge(t *testing.T) {
	r := newRig(t)
	s := r.session("alice")
	run(t, s, baseConfig...)
	run(t, s, "commit")
	a, b := r.session("alice"), r.session("bob")
	run(t, a, "set high-availability vrrp group wan priority 200")
	run(t, b, "set service conntrack-sync accept-protocol tcp", "set service conntrack-sync sync-queue-size 4")
	run(t, a, "commit")
	out := run(t, b, "commit")
	if !strings.Contains(out, "merged") || !strings.Contains(out, "+priority 200") {
		t.Errorf("merge output: %q", out)
	}
	running, _ := r.srv.Engine.Running()
	for _, p := range [][]string{{"high-availability", "vrrp", "group", "wan", "priority"}, {"service", "conntrack-sync", "accept-protocol"}, {"service", "conntrack-sync", "sync-queue-size"}} {
		if running.Get(p...) == nil {
			t.Errorf("merged running config lacks %v", p)
		}
	}
	if l := r.entries(); l[0].Kind != archive.KindMerge || l[0].User != "bob" {
		t.Errorf("merge archived as %+v", l[0])
	}
	// The same leaf changed on both sides: refused with the other diff.
	run(t, a, "set high-availability vrrp group wan priority 10")
	run(t, b, "set high-availability vrrp group wan priority 20")
	run(t, a, "commit")
	_, err := b.Exec(context.Background(), "commit")
	if err == nil || !strings.Contains(err.Error(), "another session committed") ||
		!strings.Contains(err.Error(), "high-availability vrrp group wan priority") || !strings.Contains(err.Error(), "+priority 10") {
		t.Fatalf("conflicting commit: %v", err)
	}
	running, _ = r.srv.Engine.Running()
	if v := running.Get("high-availability", "vrrp", "group", "wan", "priority").Values[0]; v != "10" {
		t.Errorf("priority %s after refused commit, want 10", v)
	}
}

func TestLoadVyattaConfig(t *testing.T) {
	r := newRig(t)
	s := r.session("alice")
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "migrate", "vyatta6-r1.boot"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.root.ConfigDir(), "vyatta.boot"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, s, "load vyatta.boot")
	for _, w := range []string{"migrated: interfaces ethernet eth0 vrrp vrrp-group 1 -> high-availability vrrp group eth0-1", "skipped (not managed by ctsync): firewall", "skipped (not managed by ctsync): service ssh", "Loaded"} {
		if !strings.Contains(out, w) {
			t.Errorf("load output lacks %q:\n%s", w, out)
		}
	}
	run(t, s, "commit", "save")
	saved, _ := os.ReadFile(r.root.ConfigBoot())
	if !bytes.Contains(saved, []byte(`// vyos-config-version: "conntrack-sync@2:vrrp@3"`)) {
		t.Errorf("saved file has no version footer:\n%s", saved)
	}
	// merge adds to the candidate instead of replacing it.
	s2 := r.session("bob")
	if err := os.WriteFile(filepath.Join(r.root.ConfigDir(), "extra.boot"), []byte("service {\n    conntrack-sync {\n        accept-protocol sctp\n    }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, s2, "merge extra.boot")
	c := run(t, s2, "compare")
	if !strings.Contains(c, "+accept-protocol sctp") || strings.Contains(c, "\n-") {
		t.Errorf("compare after merge:\n%s", c)
	}
}

func TestCorruptSavedConfigFallsBackToArchive(t *testing.T) {
	r := newRig(t)
	s := r.session("alice")
	run(t, s, baseConfig...)
	run(t, s, "commit comment good", "save")
	good := r.files()
	saved, _ := os.ReadFile(r.root.ConfigBoot())
	tests := map[string][]byte{
		"truncated": saved[:len(saved)/2],
		"binary":    []byte("\x00\x01\x02garbage"),
		"invalid":   []byte("service {\n    conntrack-sync {\n        mcast-group 198.18.0.5\n    }\n}\n"),
	}
	for name, bad := range tests {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(r.root.ConfigBoot(), bad, 0o640); err != nil {
				t.Fatal(err)
			}
			r.reboot()
			r.srv.Close()
			r.srv = nil
			r.start()
			if diff := cmp.Diff(good, r.files()); diff != "" {
				t.Errorf("not running the last good revision (-want +got):\n%s", diff)
			}
			kept, _ := filepath.Glob(r.root.ConfigBoot() + ".bad-*")
			if len(kept) == 0 {
				t.Fatal("the bad file was not kept")
			}
			if b, _ := os.ReadFile(kept[len(kept)-1]); !bytes.Equal(b, bad) {
				t.Errorf("kept file differs from the bad one")
			}
			for _, k := range kept {
				os.Remove(k)
			}
			if sh := r.show(); !strings.Contains(sh, "WARNING: ") || !strings.Contains(sh, "last good archived revision") {
				t.Errorf("show system commit does not say so:\n%s", sh)
			}
		})
	}
}

// TestOthersModified checks what the shell prompt shows: the count of
// other sessions with uncommitted changes, through the real socket.
func TestOthersModified(t *testing.T) {
	r := newRig(t)
	ln, err := r.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.srv.Serve(ctx, ln)
	c1, err := Dial(r.root.CtsyncdSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := Dial(r.root.CtsyncdSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	step := func(c *Client, line string, others int, modified bool) {
		t.Helper()
		resp, err := c.Exec(line)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err != "" {
			t.Fatalf("%s: %s", line, resp.Err)
		}
		if resp.Others != others || resp.Modified != modified {
			t.Errorf("%s: others %d modified %v, want %d %v", line, resp.Others, resp.Modified, others, modified)
		}
	}
	step(c1, "set service conntrack-sync interface eth1 peer 198.18.10.3", 0, true)
	step(c2, "show", 1, false)
	for _, l := range []string{"set service conntrack-sync failover-mechanism vrrp sync-group MAIN", "set high-availability vrrp group wan interface eth0", "set high-availability vrrp group wan vrid 1", "set high-availability vrrp group wan address 198.18.0.101/24", "set high-availability vrrp sync-group MAIN member wan"} {
		step(c1, l, 0, true)
	}
	if sh := r.show(); !strings.Contains(sh, "1 configuration session(s) hold uncommitted changes") {
		t.Errorf("show system commit:\n%s", sh)
	}
	step(c1, "commit", 0, false)
	// c2 made no edits: another session's commit does not make it dirty.
	step(c2, "show", 0, false)

	// Every session's prompt tells of a commit-confirm awaiting confirm.
	step(c1, "set service conntrack-sync accept-protocol tcp", 0, true)
	step(c1, "commit-confirm 5", 0, false)
	if resp, err := c2.Exec("show"); err != nil || resp.ConfirmBy == "" {
		t.Errorf("other session's response while a confirm is pending: %+v, %v; want ConfirmBy set", resp, err)
	}
	step(c1, "confirm", 0, false)
	if resp, err := c2.Exec("show"); err != nil || resp.ConfirmBy != "" {
		t.Errorf("response after confirm: %+v, %v; want no ConfirmBy", resp, err)
	}
	if l := r.entries(); len(l) != 2 || l[0].User == "" || l[0].User == "unknown" {
		t.Errorf("archived user: %+v", l)
	}
	c1.Close()
	c2.Close()
	r.srv.conns.Wait() // their last writes land before the temp dir goes
}

type fakeRestarter struct{ calls int }

func (f *fakeRestarter) Restart(context.Context, string) (int, int, error) {
	f.calls++
	return 10, 11, nil
}

// TestRestartRefusedDuringCommit: an operator's restart never overlaps a
// commit, which may be replacing the same engine.
func TestRestartRefusedDuringCommit(t *testing.T) {
	r := newRig(t)
	fr := &fakeRestarter{}
	r.srv.Engines = fr
	ctx := context.Background()
	out, err := r.srv.operate(ctx, Request{Op: "restart", Engine: "conntrackd"})
	if err != nil || fr.calls != 1 || !strings.Contains(out, "pid 11 (was 10)") {
		t.Fatalf("restart: %q, %v, %d calls", out, err, fr.calls)
	}
	r.srv.cmu.Lock() // a commit holds this for its whole length
	_, err = r.srv.operate(ctx, Request{Op: "restart", Engine: "conntrackd"})
	r.srv.cmu.Unlock()
	if !errors.Is(err, service.ErrCommitInProgress) || fr.calls != 1 {
		t.Fatalf("restart during a commit: %v after %d calls; want ErrCommitInProgress and no call", err, fr.calls)
	}
	if _, err := r.srv.operate(ctx, Request{Op: "reboot"}); err == nil {
		t.Fatal("an unknown operation was accepted")
	}
}

// TestRestartWaitsForTransition: `restart conntrack-sync` waits while a
// VRRP transition holds its lock (a master committing from conntrackd's
// external cache) and restarts once it is released.
func TestRestartWaitsForTransition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		restarted := make(chan struct{}, 1)
		r.srv.Engines = restarterFunc(func() { restarted <- struct{}{} })
		release, err := transition.HoldLock(context.Background(), r.srv.Root)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := r.srv.operate(context.Background(), Request{Op: "restart", Engine: "conntrackd"})
			done <- err
		}()
		after(10 * time.Second) // the restart tries the lock again and again meanwhile
		select {
		case <-restarted:
			t.Fatal("restarted while a transition held its lock")
		default:
		}
		release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		select {
		case <-restarted:
		default:
			t.Fatal("no restart after the transition finished")
		}
	})
}

type restarterFunc func()

func (f restarterFunc) Restart(context.Context, string) (int, int, error) {
	f()
	return 10, 11, nil
}
