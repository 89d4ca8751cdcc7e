package conntracksync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
)

var vrrpLines = []string{
	"high-availability vrrp group wan interface eth0",
	"high-availability vrrp group wan vrid 20",
	"high-availability vrrp group wan address 198.19.0.101/24",
	"high-availability vrrp group lan interface eth2",
	"high-availability vrrp group lan vrid 10",
	"high-availability vrrp group lan address 198.18.1.1/24",
	"high-availability vrrp group lan address 198.18.1.254/24",
	// Not a member of the sync-group: not the guard's business.
	"high-availability vrrp group mgmt interface eth3",
	"high-availability vrrp group mgmt vrid 30",
	"high-availability vrrp group mgmt address 198.18.30.1/24",
	"high-availability vrrp sync-group MAIN-GW member wan",
	"high-availability vrrp sync-group MAIN-GW member lan",
	"service conntrack-sync interface eth1 peer 198.18.10.3",
	"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
}

// TestFactsVIPs: the facts file names the virtual addresses of the
// sync-group's members, and only those, for the hook's guard.
func TestFactsVIPs(t *testing.T) {
	h := testHandler()
	cfg, _, err := h.Load(handlertest.Tree(t, vrrpLines...))
	if err != nil {
		t.Fatal(err)
	}
	facts, err := h.Verify(context.Background(), cfg, baseSystem())
	if err != nil {
		t.Fatal(err)
	}
	files, err := h.Generate(handler.Present(cfg, facts), &handler.Env{Root: paths.Root{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	var f transition.Facts
	for _, file := range files {
		if strings.HasSuffix(file.Path, "failover.json") {
			if err := json.Unmarshal(file.Data, &f); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d := cmp.Diff([]string{"198.18.1.1", "198.18.1.254", "198.19.0.101"}, f.VIPs); d != "" {
		t.Errorf("facts VIPs (-want +got):\n%s", d)
	}
}

// recGuard records the guard's calls.
type recGuard struct {
	calls []string
	up    bool
	fail  error
}

func (g *recGuard) Raise(rs guard.Ruleset) error {
	g.calls = append(g.calls, fmt.Sprintf("raise %v", rs.VIPs))
	if g.fail != nil {
		return g.fail
	}
	g.up = true
	return nil
}
func (g *recGuard) Lift() error { g.calls = append(g.calls, "lift"); g.up = false; return nil }
func (g *recGuard) Inspect() (guard.Present, error) {
	return guard.Present{Table: g.up, Armed: g.up}, nil
}

// TestApplyGuardLifecycle: the commit that adds conntrack-sync raises the
// guard on a node that is not master, re-applying the same config (a
// failed commit's rollback, a ctsyncd start) leaves it as it is, and
// deleting conntrack-sync removes it.
func TestApplyGuardLifecycle(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	env := &handler.Env{Root: root, Engines: newFakeEngines()}
	h := testHandler()
	g := &recGuard{}
	h.Guard = g
	loaded, _, err := h.Load(handlertest.Tree(t, vrrpLines...))
	if err != nil {
		t.Fatal(err)
	}
	facts, err := h.Verify(context.Background(), loaded, baseSystem())
	if err != nil {
		t.Fatal(err)
	}
	cfg := handler.Present(loaded, facts)
	vips := "raise [198.18.1.1 198.18.1.254 198.19.0.101]"
	steps := []struct {
		name      string
		prev, cfg State
		want      []string
		up        bool
		msg       string
	}{
		{"add conntrack-sync", State{}, cfg, []string{vips}, true, "switchover guard up"},
		{"apply again (rollback of a failed commit, ctsyncd start)", cfg, cfg, []string{vips}, true, "switchover guard up"},
		{"delete conntrack-sync", cfg, State{}, []string{"lift"}, false, "switchover guard removed"},
	}
	for _, s := range steps {
		g.calls = nil
		msg, err := h.Apply(context.Background(), s.prev, s.cfg, env)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d := cmp.Diff(s.want, g.calls); d != "" {
			t.Errorf("%s: guard calls (-want +got):\n%s", s.name, d)
		}
		if g.up != s.up || !strings.Contains(msg, s.msg) {
			t.Errorf("%s: up %v, message %q; want up %v, message with %q", s.name, g.up, msg, s.up, s.msg)
		}
	}
}

// TestApplyGuardError: a guard that cannot be raised fails the commit,
// naming the table, so the engine puts the previous state back.
func TestApplyGuardError(t *testing.T) {
	env := &handler.Env{Root: paths.Root{Dir: t.TempDir()}, Engines: newFakeEngines()}
	h := testHandler()
	h.Guard = &recGuard{fail: fmt.Errorf("operation not permitted")}
	cfg := verified(t, h, baseLines, true)
	_, err := h.Apply(context.Background(), State{}, cfg, env)
	if err == nil || !strings.Contains(err.Error(), "inet "+guard.Table) {
		t.Fatalf("Apply = %v, want an error naming the guard's table", err)
	}
}
