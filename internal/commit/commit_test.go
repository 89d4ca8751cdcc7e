package commit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

var base = []string{
	"high-availability vrrp group wan interface eth0",
	"high-availability vrrp group wan vrid 1",
	"high-availability vrrp group wan address 198.18.0.101/24",
	"high-availability vrrp sync-group MAIN member wan",
	"service conntrack-sync interface eth1 peer 198.18.10.3",
	"service conntrack-sync failover-mechanism vrrp sync-group MAIN",
}

func tree(t *testing.T, lines ...string) *configtree.Node {
	t.Helper()
	s := schema.Default()
	n := configtree.New()
	for _, l := range lines {
		if err := s.Set(n, strings.Fields(l)); err != nil {
			t.Fatalf("set %s: %v", l, err)
		}
	}
	return n
}

func files(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			out[filepath.Base(p)] = "<absent>"
			continue
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

// failNew fails the apply of the new configuration (vrid 2), not the
// rollback's re-apply of the previous one.
func failNew(err error) func(string) error {
	return func(cfg string) error {
		if strings.Contains(cfg, "vrid 2") {
			return err
		}
		return nil
	}
}

// TestFailureAtEveryStage makes a commit fail at each stage and checks
// the stage it reports, that every generated file is as before, the
// running config unchanged, the journal free of intent, and the exact
// applies run (a rollback re-applies the previous state of each handler
// that applied, last first).
func TestFailureAtEveryStage(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		setup func(r paths.Root, ct, vr *handlertest.Fake)
		stage string
		calls []string // after the failed commit's verifies
		// journalled: the commit got as far as writing its intent.
		journalled bool
		// fault, when set, runs at each of the engine's fault points;
		// cleanup takes away what it did before the files are compared.
		fault   func(r paths.Root, point string)
		cleanup func(r paths.Root)
	}{
		{
			name:  "verify",
			setup: func(_ paths.Root, ct, _ *handlertest.Fake) { ct.VerifyFunc = func(string) error { return boom } },
			stage: "verify",
		},
		{
			name: "generate",
			// Two handlers claiming one file is a generate failure.
			setup: func(r paths.Root, ct, vr *handlertest.Fake) { ct.File = vr.File },
			stage: "generate",
		},
		{
			name:  "precheck",
			setup: func(_ paths.Root, _, vr *handlertest.Fake) { vr.PrecheckFunc = func(string) error { return boom } },
			stage: "precheck",
			calls: []string{"conntrack-sync precheck", "vrrp precheck"},
		},
		{
			name: "install, reading what a file replaces",
			// A directory where a file goes: what it holds cannot be
			// read, so nothing is journalled or installed.
			setup: func(r paths.Root, ct, vr *handlertest.Fake) {
				ct.File = filepath.Join(r.EtcDir(), "dir-in-the-way")
				if err := os.MkdirAll(filepath.Join(ct.File, "x"), 0o755); err != nil {
					panic(err)
				}
			},
			stage: "install",
			calls: []string{"conntrack-sync precheck", "vrrp precheck"},
		},
		{
			name: "install of the second file",
			// vrrp's file goes to a new folder; once conntrack-sync's is
			// installed, a plain file takes the folder's name, so the
			// second install fails and the first is put back.
			setup: func(r paths.Root, _, vr *handlertest.Fake) {
				vr.File = filepath.Join(r.EtcDir(), "vr", "keepalived.conf")
			},
			fault: func(r paths.Root, point string) {
				if point == "installed conntrackd.conf" {
					if err := os.WriteFile(filepath.Join(r.EtcDir(), "vr"), nil, 0o644); err != nil {
						panic(err)
					}
				}
			},
			cleanup:    func(r paths.Root) { os.Remove(filepath.Join(r.EtcDir(), "vr")) },
			stage:      "install",
			calls:      []string{"conntrack-sync precheck", "vrrp precheck"},
			journalled: true,
		},
		{
			name:       "apply of vrrp",
			setup:      func(_ paths.Root, _, vr *handlertest.Fake) { vr.ApplyFunc = failNew(boom) },
			stage:      "apply",
			calls:      []string{"conntrack-sync precheck", "vrrp precheck", "conntrack-sync apply start", "vrrp apply start", "vrrp apply start", "conntrack-sync apply start"},
			journalled: true,
		},
		{
			name:       "apply of conntrack-sync",
			setup:      func(_ paths.Root, ct, _ *handlertest.Fake) { ct.ApplyFunc = failNew(boom) },
			stage:      "apply",
			calls:      []string{"conntrack-sync precheck", "vrrp precheck", "conntrack-sync apply start", "conntrack-sync apply start"},
			journalled: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := paths.Root{Dir: t.TempDir()}
			log := &handlertest.CallLog{}
			ct, vr := handlertest.Pair(root, log)
			j := &commit.Journal{Path: filepath.Join(root.Dir, "journal")}
			// What the journal held once the intent was written: the
			// check that none is left after the failure means something
			// only for a commit that wrote one.
			var journalled *commit.Record
			var armed func(r paths.Root, point string)
			fault := func(point string) {
				if armed != nil {
					armed(root, point)
				}
				if point == "journalled" {
					var err error
					if journalled, err = j.Read(); err != nil {
						t.Errorf("reading the journal at %s: %v", point, err)
					}
				}
			}
			eng := commit.New(commit.Options{Schema: schema.Default(), Handlers: handlertest.Runners(ct, vr), Env: &handler.Env{Root: root}, Fault: fault})
			ctx := context.Background()
			if _, err := eng.Commit(ctx, tree(t, base...)); err != nil {
				t.Fatal(err)
			}
			journalled = nil
			// A record the service keeps across commits (a pending
			// commit-confirm) must outlive the failed commit.
			kept := []byte(`{"seq":7}`)
			if err := j.Write(&commit.Record{Kept: kept}); err != nil {
				t.Fatal(err)
			}
			tc.setup(root, ct, vr)
			armed = tc.fault
			paths := []string{root.ConntrackdConf(), root.KeepalivedConf(), ct.File, vr.File}
			before := files(t, paths...)
			running, rev := eng.Running()
			log.Take()
			_, err := eng.Run(ctx, commit.Txn{Candidate: tree(t, append(base, "high-availability vrrp group wan vrid 2", "service conntrack-sync interface eth1 port 3781")...), Journal: j})
			var ce *commit.Error
			if !errors.As(err, &ce) || ce.Stage != tc.stage {
				t.Fatalf("commit = %v, want a %s failure", err, tc.stage)
			}
			if ce.Restored != nil {
				t.Errorf("restoring failed: %v", ce.Restored)
			}
			if tc.cleanup != nil {
				tc.cleanup(root)
			}
			if diff := cmp.Diff(before, files(t, paths...)); diff != "" {
				t.Errorf("files changed (-want +got):\n%s", diff)
			}
			now, nrev := eng.Running()
			if !configtree.Equal(now, running) || nrev != rev {
				t.Errorf("running config moved: revision %d -> %d", rev, nrev)
			}
			var got []string
			for _, c := range log.Take() {
				if !strings.HasSuffix(c, " verify") {
					got = append(got, c)
				}
			}
			if diff := cmp.Diff(tc.calls, got); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if wrote := journalled != nil && journalled.Intent != nil; wrote != tc.journalled {
				t.Errorf("intent journalled = %v, want %v", wrote, tc.journalled)
			}
			rec, err := j.Read()
			if err != nil {
				t.Fatal(err)
			}
			if rec.Intent != nil {
				t.Errorf("the journal still holds the failed commit's intent (%d -> %d, files %d): the next start would act on it",
					rec.Intent.FromRevision, rec.Intent.ToRevision, len(rec.Intent.Files))
			}
			if string(rec.Kept) != string(kept) {
				t.Errorf("the journal's kept record is %q, want %q", rec.Kept, kept)
			}
		})
	}
}

// TestCheckRunsPrechecksAndInstallsNothing: commit check is the commit
// path short of install and apply, prechecks included, on the staged
// bytes.
func TestCheckRunsPrechecksAndInstallsNothing(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	log := &handlertest.CallLog{}
	ct, vr := handlertest.Pair(root, log)
	eng := commit.New(commit.Options{Schema: schema.Default(), Handlers: handlertest.Runners(ct, vr), Env: &handler.Env{Root: root}})
	ctx := context.Background()
	if err := eng.Check(ctx, tree(t, base...)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"conntrackd.conf": "<absent>", "keepalived.conf": "<absent>"}, files(t, root.ConntrackdConf(), root.KeepalivedConf())); diff != "" {
		t.Errorf("check installed files (-want +got):\n%s", diff)
	}
	var calls []string
	for _, c := range log.Take() {
		if !strings.HasSuffix(c, " verify") {
			calls = append(calls, c)
		}
	}
	if diff := cmp.Diff([]string{"conntrack-sync precheck", "vrrp precheck"}, calls); diff != "" {
		t.Errorf("check calls (-want +got):\n%s", diff)
	}
	vr.PrecheckFunc = func(string) error { return errors.New("keepalived -t refuses it") }
	if err := eng.Check(ctx, tree(t, base...)); err == nil || !strings.Contains(err.Error(), "keepalived -t refuses it") {
		t.Errorf("check with a failing precheck = %v", err)
	}
}

// TestJournalRecordsIntentBeforeInstall stops a commit just after the
// journal is written and checks the intent names from, to, every file
// with its old content, and the handlers; Restore puts the files back.
func TestJournalRecordsIntentBeforeInstall(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	ct, vr := handlertest.Pair(root, nil)
	type stop struct{}
	var armed bool
	eng := commit.New(commit.Options{Schema: schema.Default(), Handlers: handlertest.Runners(ct, vr), Env: &handler.Env{Root: root},
		Fault: func(p string) {
			if armed && p == "installed "+filepath.Base(root.KeepalivedConf()) {
				panic(stop{})
			}
		}})
	ctx := context.Background()
	if _, err := eng.Commit(ctx, tree(t, base...)); err != nil {
		t.Fatal(err)
	}
	before := files(t, root.ConntrackdConf(), root.KeepalivedConf())
	j := &commit.Journal{Path: filepath.Join(root.Dir, "journal")}
	armed = true
	func() {
		defer func() {
			if _, ok := recover().(stop); !ok {
				t.Fatal("the commit did not reach the fault point")
			}
		}()
		_, _ = eng.Run(ctx, commit.Txn{Candidate: tree(t, append(base, "high-availability vrrp group wan vrid 2")...), Journal: j, Meta: []byte(`{"who":"test"}`)})
	}()
	rec, err := j.Read()
	if err != nil || rec.Intent == nil {
		t.Fatalf("journal: %+v, %v", rec, err)
	}
	in := rec.Intent
	if !strings.Contains(in.To, "vrid 2") || strings.Contains(in.From, "vrid 2") || string(in.Meta) != `{"who":"test"}` {
		t.Errorf("intent from/to/meta wrong:\nfrom %s\nto %s\nmeta %s", in.From, in.To, in.Meta)
	}
	if len(in.Files) == 0 || len(in.Handlers) == 0 {
		t.Fatalf("intent without files or handlers: %+v", in)
	}
	if err := in.Restore(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, files(t, root.ConntrackdConf(), root.KeepalivedConf())); diff != "" {
		t.Errorf("Restore (-want +got):\n%s", diff)
	}
}

// Handler order is the schema's: a handler whose subtree the schema does
// not have is a programming error, not a handler that runs last.
func TestNewRefusesHandlerOutsideTheSchema(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	ct, _ := handlertest.Pair(root, nil)
	stray := &handlertest.Fake{HName: "stray", HOwns: []string{"service", "no-such-thing"}}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "not in the schema") {
			t.Fatalf("New = %v, want a panic naming the schema", r)
		}
	}()
	commit.New(commit.Options{Schema: schema.Default(), Handlers: handlertest.Runners(ct, stray), Env: &handler.Env{Root: root}})
}
