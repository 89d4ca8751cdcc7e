package conntracksync

import (
	"context"
	"errors"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
)

func TestApply(t *testing.T) {
	changed := append([]string{"service conntrack-sync startup-resync"}, baseLines...)
	multicast := []string{
		"service conntrack-sync interface eth1",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
		"high-availability vrrp sync-group MAIN-GW member wan",
	}
	tests := []struct {
		name    string
		running bool
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
			name: "unchanged is a no-op", running: true, prev: baseLines, cfg: baseLines,
			wantMsg: "conntrackd unchanged", wantCalls: []string{"keep conntrackd"},
		},
		{
			name: "unchanged against an unverified prev", running: true, prev: baseLines, cfg: baseLines, unverifiedPrev: true,
			wantMsg: "conntrackd unchanged", wantCalls: []string{"keep conntrackd"},
		},
		{
			name: "change restarts", running: true, prev: baseLines, cfg: changed,
			wantMsg: "conntrackd restarted (unicast to 198.18.10.3 over eth1)", wantCalls: []string{"restart conntrackd"},
		},
		{
			name: "change while stopped starts", prev: baseLines, cfg: changed,
			wantMsg: "conntrackd started (unicast to 198.18.10.3 over eth1)", wantCalls: []string{"start conntrackd"},
		},
		{
			name: "adopted at ctsyncd start is kept", running: true, cfg: baseLines,
			wantMsg: "conntrackd unchanged", wantCalls: []string{"keep conntrackd"},
		},
		{
			name: "delete stops", running: true, prev: baseLines,
			wantMsg: "conntrackd stopped", wantCalls: []string{"stop conntrackd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := paths.Root{Dir: t.TempDir()}
			eng := newFakeEngines()
			if tt.running {
				eng.pids[EngineName] = 42
			}
			env := &handler.Env{Root: root, Engines: eng}
			h := testHandler()
			var probed []string
			h.Probe = func(_ context.Context, socket string) error {
				probed = append(probed, socket)
				return nil
			}
			prev := verified(t, h, tt.prev, !tt.unverifiedPrev)
			cfg := verified(t, h, tt.cfg, true)
			msg, err := h.Apply(context.Background(), prev, cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			if msg != tt.wantMsg {
				t.Errorf("Apply() = %q, want %q", msg, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantCalls, eng.calls); diff != "" {
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
				Name:     "conntrackd",
				Argv:     []string{"/usr/sbin/conntrackd", "-C", root.Join("etc/ctsync/conntrackd.conf")},
				PidFile:  root.Join("run/ctsync/conntrackd.pid"),
				LockFile: root.Join("run/ctsync/conntrackd.lock"),
				LogFile:  root.Join("var/log/ctsync/conntrackd.log"),

				ConfigFile:  root.Join("etc/ctsync/conntrackd.conf"),
				StartedFile: root.Join("run/ctsync/conntrackd.started.json"),
			}
			if diff := cmp.Diff([]handler.EngineSpec{want}, eng.specs); diff != "" {
				t.Errorf("engine spec (-want +got):\n%s", diff)
			}
		})
	}
}

// TestApplyTwice checks Apply is safe to repeat, as a rollback does.
func TestApplyTwice(t *testing.T) {
	eng := newFakeEngines()
	env := &handler.Env{Root: paths.Root{Dir: t.TempDir()}, Engines: eng}
	h := testHandler()
	cfg := verified(t, h, baseLines, true)
	for range 2 {
		if _, err := h.Apply(context.Background(), nil, cfg, env); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"start conntrackd", "keep conntrackd"}, eng.calls); diff != "" {
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
	_, err := h.Apply(context.Background(), nil, verified(t, h, baseLines, true), env)
	if err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Apply() = %v, want a no-answer error", err)
	}
	if tries < 2 {
		t.Errorf("probed %d times, want retries", tries)
	}
}

func TestSame(t *testing.T) {
	h := testHandler()
	a := verified(t, h, baseLines, true).(*Config)
	b := verified(t, h, baseLines, true).(*Config)
	if !Same(a, b) {
		t.Error("identical configs differ")
	}
	// The link's address changed under the same config: the file changes,
	// so conntrackd must restart.
	b.Facts.Local["eth1"] = "198.18.10.9"
	if Same(a, b) {
		t.Error("a changed local address went unnoticed")
	}
}

// verified returns the config of lines after Verify, or nil for nil lines.
func verified(t *testing.T, h *Handler, lines []string, verify bool) any {
	t.Helper()
	if lines == nil {
		return nil
	}
	cfg, err := h.GetConfig(buildTree(t, lines...))
	if err != nil {
		t.Fatal(err)
	}
	if verify {
		if err := h.Verify(context.Background(), cfg, baseSystem()); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func BenchmarkGetConfigVerifyGenerate(b *testing.B) {
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
		cfg, err := h.GetConfig(tree)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Verify(ctx, cfg, sys); err != nil {
			b.Fatal(err)
		}
		if _, err := h.Generate(cfg, env); err != nil {
			b.Fatal(err)
		}
	}
}
