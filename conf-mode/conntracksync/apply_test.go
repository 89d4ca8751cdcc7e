package conntracksync

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/supervise"
	"github.com/ctsync/ctsync/internal/transition"
)

func TestApply(t *testing.T) {
	changed := append([]string{"service conntrack-sync startup-resync"}, baseLines...)
	multicast := []string{
		"service conntrack-sync interface eth1",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
		"high-availability vrrp sync-group MAIN-GW member wan",
	}
	renamed := []string{
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync failover-mechanism vrrp sync-group SYNC2",
		"high-availability vrrp sync-group SYNC2 member wan",
	}
	tests := []struct {
		name    string
		running bool
		// started is the config whose file the running conntrackd was
		// started with (its Started record); nil: no record.
		started []string
		prev    []string // nil: no previous config
		cfg     []string // nil: the service was deleted
		// unverifiedPrev: prev re-derived from the running tree, without
		// live facts.
		unverifiedPrev bool
		wantMsg        string
		wantCalls      []string
	}{
		{
			name: "first commit starts", cfg: baseLines,
			wantMsg: "conntrackd started (unicast to 198.18.10.3 over eth1)", wantCalls: []string{"start conntrackd"},
		},
		{
			name: "multicast start", cfg: multicast,
			wantMsg: "conntrackd started (multicast 225.0.0.50 over eth1)", wantCalls: []string{"start conntrackd"},
		},
		{
			name: "unchanged is a no-op", running: true, started: baseLines, prev: baseLines, cfg: baseLines,
			wantMsg: "conntrackd unchanged", wantCalls: []string{"keep conntrackd"},
		},
		{
			name: "unchanged against an unverified prev", running: true, started: baseLines, prev: baseLines, cfg: baseLines, unverifiedPrev: true,
			wantMsg: "conntrackd unchanged", wantCalls: []string{"keep conntrackd"},
		},
		{
			name: "change restarts", running: true, started: baseLines, prev: baseLines, cfg: changed,
			wantMsg: "conntrackd restarted (unicast to 198.18.10.3 over eth1)", wantCalls: []string{"restart conntrackd"},
		},
		{
			name: "renaming the sync-group renders the same file: no restart", running: true, started: baseLines, prev: baseLines, cfg: renamed,
			wantMsg: "conntrackd unchanged", wantCalls: []string{"keep conntrackd"},
		},
		{
			name: "change while stopped starts", prev: baseLines, cfg: changed,
			wantMsg: "conntrackd started (unicast to 198.18.10.3 over eth1)", wantCalls: []string{"start conntrackd"},
		},
		{
			name: "adopted at ctsyncd start is kept", running: true, started: baseLines, cfg: baseLines,
			wantMsg: "conntrackd unchanged", wantCalls: []string{"keep conntrackd"},
		},
		{
			name: "adopted running an older file restarts", running: true, started: baseLines, cfg: changed,
			wantMsg: "conntrackd restarted (unicast to 198.18.10.3 over eth1)", wantCalls: []string{"restart conntrackd"},
		},
		{
			name: "adopted without a start record restarts", running: true, cfg: baseLines,
			wantMsg: "conntrackd restarted (unicast to 198.18.10.3 over eth1)", wantCalls: []string{"restart conntrackd"},
		},
		{
			name: "delete stops", running: true, started: baseLines, prev: baseLines,
			wantMsg: "conntrackd stopped", wantCalls: []string{"stop conntrackd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := paths.Root{Dir: t.TempDir()}
			eng := newFakeEngines()
			env := &handler.Env{Root: root, Engines: eng}
			h := testHandler()
			// What the running conntrackd was started with, then what the
			// commit installed before Apply.
			if tt.started != nil {
				install(t, h, root, verified(t, h, tt.started, true))
			}
			if tt.running {
				eng.SetPid(EngineName, 42)
				if tt.started != nil {
					writeStartedRecord(t, root, 42)
				}
			}
			var probed []string
			h.Probe = func(_ context.Context, socket string) error {
				probed = append(probed, socket)
				return nil
			}
			prev := verified(t, h, tt.prev, !tt.unverifiedPrev)
			cfg := verified(t, h, tt.cfg, true)
			if cfg.Present {
				install(t, h, root, cfg)
			}
			msg, err := h.Apply(context.Background(), prev, cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			if msg != tt.wantMsg {
				t.Errorf("Apply() = %q, want %q", msg, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantCalls, eng.Calls()); diff != "" {
				t.Errorf("engine calls (-want +got):\n%s", diff)
			}
			if tt.cfg == nil {
				if len(probed) != 0 {
					t.Errorf("probed %v after stop", probed)
				}
				return
			}
			if diff := cmp.Diff([]string{root.ConntrackdSocket()}, probed); diff != "" {
				t.Errorf("probes (-want +got):\n%s", diff)
			}
			want := handler.EngineSpec{
				Name:        "conntrackd",
				Argv:        []string{"/usr/sbin/conntrackd", "-C", root.Join("etc/ctsync/conntrackd.conf")},
				PidFile:     root.Join("run/ctsync/conntrackd.pid"),
				LockFile:    root.Join("run/ctsync/conntrackd.lock"),
				LogFile:     root.Join("var/log/ctsync/conntrackd.log"),
				ConfigFile:  root.Join("etc/ctsync/conntrackd.conf"),
				StartedFile: root.Join("run/ctsync/conntrackd.started.json"),
			}
			if diff := cmp.Diff([]handler.EngineSpec{want}, eng.Specs()); diff != "" {
				t.Errorf("engine spec (-want +got):\n%s", diff)
			}
		})
	}
}

// install writes the files Generate renders for cfg, as the commit
// engine does before Apply.
func install(t *testing.T, h *Handler, root paths.Root, cfg State) {
	t.Helper()
	files, err := h.Generate(cfg, &handler.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.Path, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeStartedRecord records pid as started with the conntrackd.conf
// installed now.
func writeStartedRecord(t *testing.T, root paths.Root, pid int) {
	t.Helper()
	sum, err := supervise.HashFile(root.ConntrackdConf())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(supervise.Started{Pid: pid, ConfigSHA256: sum})
	if err := os.MkdirAll(root.RunDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root.ConntrackdStarted(), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRestartDecision(t *testing.T) {
	rec := &supervise.Started{Pid: 42, ConfigSHA256: "aaa"}
	tests := []struct {
		name      string
		st        *supervise.Started
		pid       int
		running   bool
		installed string
		err       error
		restart   bool
		why       string
	}{
		{"same process, same file", rec, 42, true, "aaa", nil, false, ""},
		{"same process, file changed", rec, 42, true, "bbb", nil, true, "older conntrackd.conf"},
		{"no record", nil, 42, false, "aaa", nil, true, "no record"},
		{"record of another pid", rec, 43, true, "aaa", nil, true, "names pid 42, not the running pid 43"},
		{"record of a process that is gone (pid reused)", rec, 42, false, "aaa", nil, true, "names pid 42"},
		{"installed file unreadable", rec, 42, true, "", errors.New("no such file"), true, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restart, why := restartDecision(tt.st, tt.pid, tt.running, tt.installed, tt.err)
			if restart != tt.restart || !strings.Contains(why, tt.why) {
				t.Errorf("restartDecision = %v, %q; want %v, %q", restart, why, tt.restart, tt.why)
			}
		})
	}
}

// A restart waits for the transition lock and holds it across the
// restart; a keep does not touch it.
func TestApplyRestartHoldsTransitions(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	eng := newFakeEngines()
	env := &handler.Env{Root: root, Engines: eng}
	h := testHandler()
	var log []string
	h.HoldTransitions = func(context.Context, paths.Root) (func(), error) {
		log = append(log, "hold")
		return func() { log = append(log, "release") }, nil
	}
	install(t, h, root, verified(t, h, baseLines, true))
	eng.SetPid(EngineName, 42)
	writeStartedRecord(t, root, 42)
	cfg := verified(t, h, baseLines, true)
	if _, err := h.Apply(context.Background(), cfg, cfg, env); err != nil {
		t.Fatal(err)
	}
	if len(log) != 0 {
		t.Errorf("a keep took the transition lock: %v", log)
	}
	changed := verified(t, h, append([]string{"service conntrack-sync sync-queue-size 2"}, baseLines...), true)
	install(t, h, root, changed)
	if _, err := h.Apply(context.Background(), cfg, changed, env); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hold", "release"}, log); diff != "" {
		t.Errorf("lock (-want +got):\n%s", diff)
	}
	h.HoldTransitions = func(context.Context, paths.Root) (func(), error) {
		return nil, errors.New("a master transition is still committing")
	}
	install(t, h, root, cfg)
	if _, err := h.Apply(context.Background(), changed, cfg, env); err == nil || !strings.Contains(err.Error(), "still committing") {
		t.Errorf("Apply with the lock held elsewhere = %v", err)
	}
}

// TestApplyTwice checks Apply is safe to repeat, as a rollback does.
func TestApplyTwice(t *testing.T) {
	eng := newFakeEngines()
	env := &handler.Env{Root: paths.Root{Dir: t.TempDir()}, Engines: eng}
	h := testHandler()
	cfg := verified(t, h, baseLines, true)
	install(t, h, env.Root, cfg)
	for range 2 {
		if _, err := h.Apply(context.Background(), State{}, cfg, env); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"start conntrackd", "keep conntrackd"}, eng.Calls()); diff != "" {
		t.Errorf("engine calls (-want +got):\n%s", diff)
	}
}

func TestApplyNoAnswer(t *testing.T) {
	eng := newFakeEngines()
	env := &handler.Env{Root: paths.Root{Dir: t.TempDir()}, Engines: eng}
	h := testHandler()
	h.ProbeTimeout = 300 * time.Millisecond
	tries := 0
	h.Probe = func(context.Context, string) error { tries++; return errors.New("connection refused") }
	_, err := h.Apply(context.Background(), State{}, verified(t, h, baseLines, true), env)
	if err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Apply() = %v, want a no-answer error", err)
	}
	if tries < 2 {
		t.Errorf("probed %d times, want retries", tries)
	}
}

// verified returns the state of lines with the facts Verify found (none
// without verify), or the absent state for nil lines.
func verified(t *testing.T, h *Handler, lines []string, verify bool) State {
	t.Helper()
	if lines == nil {
		return State{}
	}
	cfg, ok, err := h.Load(buildTree(t, lines...))
	if err != nil || !ok {
		t.Fatalf("Load = %v, %v", ok, err)
	}
	var facts Facts
	if verify {
		if facts, err = h.Verify(context.Background(), cfg, baseSystem()); err != nil {
			t.Fatal(err)
		}
	}
	return handler.Present(cfg, facts)
}

func BenchmarkLoadVerifyGenerate(b *testing.B) {
	lines := append([]string{
		"service conntrack-sync accept-protocol tcp",
		"service conntrack-sync accept-protocol udp",
		"service conntrack-sync expect-sync ftp",
		"service conntrack-sync ignore-address 192.0.2.0/24",
		"service conntrack-sync ignore-address 2001:db8::/48",
		"service conntrack-sync startup-resync",
	}, baseLines...)
	tree := handlertest.Tree(b, lines...)
	sys := baseSystem()
	env := &handler.Env{Root: paths.Root{Dir: "/"}}
	h := testHandler()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		cfg, _, err := h.Load(tree)
		if err != nil {
			b.Fatal(err)
		}
		facts, err := h.Verify(ctx, cfg, sys)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Generate(handler.Present(cfg, facts), env); err != nil {
			b.Fatal(err)
		}
	}
}

// A commit renaming the sync-group tells the hook the old name, which
// the keepalived running until its reload still calls it with.
func TestGenerateFactsKeepPreviousSyncGroup(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	h := testHandler()
	install(t, h, root, verified(t, h, baseLines, true))
	renamed := []string{
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync failover-mechanism vrrp sync-group SYNC2",
		"high-availability vrrp sync-group SYNC2 member wan",
	}
	files, err := h.Generate(verified(t, h, renamed, true), &handler.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	var got transition.Facts
	for _, f := range files {
		if f.Path == root.FailoverFacts() {
			if err := json.Unmarshal(f.Data, &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got.SyncGroup != "SYNC2" || got.Previous != "MAIN-GW" {
		t.Errorf("facts = %+v, want SYNC2 with previous MAIN-GW", got)
	}
	// The same name again: no previous.
	install(t, h, root, verified(t, h, renamed, true))
	files, _ = h.Generate(verified(t, h, renamed, true), &handler.Env{Root: root})
	for _, f := range files {
		if f.Path == root.FailoverFacts() {
			got = transition.Facts{}
			_ = json.Unmarshal(f.Data, &got)
		}
	}
	if got.Previous != "" {
		t.Errorf("facts after an unchanged commit = %+v", got)
	}
}
