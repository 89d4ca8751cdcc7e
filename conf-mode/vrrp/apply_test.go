package vrrp

import (
	"context"
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
)

// testHandler is a handler whose keepalived is faked: the config test
// passes, the VRRP child "runs" when alive says so.
func testHandler(alive *bool) *Handler {
	h := New()
	h.configTest = func(context.Context, string) error { return nil }
	h.readyTimeout = 300 * time.Millisecond
	h.settleTime = time.Millisecond
	h.vrrpCheck = func(paths.Root) bool { return *alive }
	return h
}

// install writes what Generate produced, as the commit engine would.
func install(t *testing.T, h *Handler, cfg *Config, env *handler.Env) {
	t.Helper()
	files, err := h.Generate(stateOf(cfg), env)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Data == nil {
			os.Remove(f.Path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.Path, f.Data, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestApplyLifecycle(t *testing.T) {
	alive := true
	h := testHandler(&alive)
	eng := &handlertest.Engines{}
	env := &handler.Env{Root: paths.Root{Dir: t.TempDir()}, Engines: eng, Self: "/usr/bin/ctsync"}
	if err := os.MkdirAll(env.Root.RunDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	// keepalived deletes its reload file once it has read the config.
	eng.OnReload = func(string) error { return os.Remove(ReloadFile(env.Root)) }
	ctx := context.Background()

	v1 := configOf(t, wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24",
		"high-availability vrrp sync-group MAIN-GW member wan",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW")
	v2 := configOf(t, wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24", wan+" priority 200")
	off := configOf(t, wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24", wan+" priority 200",
		"high-availability disable")

	steps := []struct {
		name      string
		prev, cfg *Config
		want      string
		calls     []string
	}{
		{"start", nil, v1, "keepalived started (1 group, sync-group MAIN-GW with failover hooks)",
			[]string{"start keepalived"}},
		{"same again", v1, v1, "keepalived running, unchanged (1 group, sync-group MAIN-GW with failover hooks)",
			[]string{"keep keepalived"}},
		{"change reloads", v1, v2, "keepalived reloaded (1 group)",
			[]string{"keep keepalived", "reload keepalived"}},
		{"rollback reloads back", v2, v1, "keepalived reloaded (1 group, sync-group MAIN-GW with failover hooks)",
			[]string{"keep keepalived", "reload keepalived"}},
		{"disable stops", v1, off, "keepalived stopped: high-availability disable (1 group kept in the configuration)", []string{"stop keepalived"}},
		{"disable again", off, off, "keepalived stopped: high-availability disable (1 group kept in the configuration)", []string{"stop keepalived"}},
		{"enable starts", off, v1, "keepalived started (1 group, sync-group MAIN-GW with failover hooks)",
			[]string{"start keepalived"}},
		{"delete stops", v1, nil, "keepalived stopped", []string{"stop keepalived"}},
		{"delete twice", nil, nil, "keepalived stopped", []string{"stop keepalived"}},
	}
	for _, s := range steps {
		if s.cfg != nil {
			install(t, h, s.cfg, env)
		}
		got, err := h.Apply(ctx, stateOf(s.prev), stateOf(s.cfg), env)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Errorf("%s: summary %q, want %q", s.name, got, s.want)
		}
		if d := cmp.Diff(s.calls, eng.Calls()); d != "" {
			t.Errorf("%s: engine calls (-want +got):\n%s", s.name, d)
		}
	}
}

func TestApplyFailures(t *testing.T) {
	ctx := context.Background()
	cfg := configOf(t, wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24")
	newEnv := func(t *testing.T) (*handler.Env, *handlertest.Engines) {
		eng := &handlertest.Engines{}
		env := &handler.Env{Root: paths.Root{Dir: t.TempDir()}, Engines: eng, Self: "/usr/bin/ctsync"}
		os.MkdirAll(env.Root.RunDir(), 0o755)
		return env, eng
	}

	t.Run("config test refuses", func(t *testing.T) {
		alive := true
		h := testHandler(&alive)
		h.configTest = func(context.Context, string) error { return errors.New("keepalived -t refuses keepalived.conf: boom") }
		env, eng := newEnv(t)
		install(t, h, cfg, env)
		if err := h.Precheck(ctx, stateOf(cfg), nil, env); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("Precheck = %v", err)
		}
		if c := eng.Calls(); len(c) != 0 {
			t.Errorf("engine touched by a config test: %v", c)
		}
	})
	t.Run("vrrp child never comes up", func(t *testing.T) {
		alive := false
		h := testHandler(&alive)
		env, _ := newEnv(t)
		install(t, h, cfg, env)
		if _, err := h.Apply(ctx, State{}, stateOf(cfg), env); err == nil || !strings.Contains(err.Error(), "not answering") {
			t.Errorf("Apply = %v", err)
		}
	})
	t.Run("reload never finishes", func(t *testing.T) {
		alive := true
		h := testHandler(&alive)
		env, eng := newEnv(t)
		install(t, h, cfg, env)
		if _, err := h.Apply(ctx, State{}, stateOf(cfg), env); err != nil {
			t.Fatal(err)
		}
		cfg2 := configOf(t, wan+" interface eth0", wan+" vrid 2", wan+" address 198.18.0.101/24")
		install(t, h, cfg2, env)
		_, err := h.Apply(ctx, stateOf(cfg), stateOf(cfg2), env)
		if err == nil || !strings.Contains(err.Error(), "did not finish reading") {
			t.Errorf("Apply = %v", err)
		}
		if _, serr := os.Stat(ReloadFile(env.Root)); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("reload file left behind: %v", serr)
		}
		// keepalived got the signal and may run the new file: rolling
		// back must reload the old one, not call it unchanged.
		eng.Calls()
		eng.OnReload = func(string) error { return os.Remove(ReloadFile(env.Root)) }
		install(t, h, cfg, env)
		got, err := h.Apply(ctx, stateOf(cfg2), stateOf(cfg), env)
		if err != nil || !strings.HasPrefix(got, "keepalived reloaded") {
			t.Errorf("rollback Apply = %q, %v", got, err)
		}
		if d := cmp.Diff([]string{"keep keepalived", "reload keepalived"}, eng.Calls()); d != "" {
			t.Errorf("rollback engine calls (-want +got):\n%s", d)
		}
	})
	t.Run("reload signal fails", func(t *testing.T) {
		alive := true
		h := testHandler(&alive)
		env, eng := newEnv(t)
		install(t, h, cfg, env)
		if _, err := h.Apply(ctx, State{}, stateOf(cfg), env); err != nil {
			t.Fatal(err)
		}
		eng.OnReload = func(string) error { return errors.New("not running") }
		cfg2 := configOf(t, wan+" interface eth0", wan+" vrid 2", wan+" address 198.18.0.101/24")
		install(t, h, cfg2, env)
		if _, err := h.Apply(ctx, stateOf(cfg), stateOf(cfg2), env); err == nil {
			t.Error("Apply succeeded although the reload failed")
		}
	})
}

// With high-availability disable the subtree is kept and verified, but
// no keepalived.conf is written and nothing is tested with keepalived.
func TestDisabledWritesNoFile(t *testing.T) {
	cfg := configOf(t, wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24", "high-availability disable")
	if !cfg.Disabled || cfg.Group["wan"] == nil {
		t.Fatalf("config = %+v, want the group kept and Disabled", cfg)
	}
	files, err := New().Generate(stateOf(cfg), testEnv())
	if err != nil || len(files) != 1 || files[0].Data != nil || files[0].Path != testEnv().Root.KeepalivedConf() {
		t.Fatalf("Generate = %+v, %v; want only the removal of keepalived.conf", files, err)
	}
	h := New()
	h.configTest = func(context.Context, string) error { return errors.New("keepalived -t ran") }
	if err := h.Precheck(context.Background(), stateOf(cfg), nil, testEnv()); err != nil {
		t.Errorf("Precheck of a disabled config: %v", err)
	}
	// Still verified: a disabled pair must come back valid.
	bad := configOf(t, wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24", "high-availability disable",
		wan+" advertise-interval 0.5")
	if err := verify(bad, nil); err == nil {
		t.Error("a disabled config with a bad value verified")
	}
	// Without vrrp, disable alone is no config for this handler.
	if c, present, err := New().Load(handlertest.Tree(t, "high-availability disable")); present || err != nil {
		t.Errorf("Load(high-availability disable) = %v, %v, %v; want absent", c, present, err)
	}
}

func TestSpecKeepsEveryPathUnderTheRoot(t *testing.T) {
	root := paths.Root{Dir: "/srv/r1"}
	spec := Spec(root)
	for i, a := range spec.Argv[1:] {
		if strings.HasPrefix(a, "/") && !strings.HasPrefix(a, "/srv/r1/") {
			t.Errorf("argv[%d] %q is outside the root", i+1, a)
		}
	}
	for _, f := range []string{spec.PidFile, spec.LogFile} {
		if !strings.HasPrefix(f, "/srv/r1/") {
			t.Errorf("%q is outside the root", f)
		}
	}
	if spec.PidFile == root.KeepalivedPid() {
		t.Error("the supervisor's pid file is keepalived's own -p file")
	}
	if !filepath.IsAbs(spec.Argv[0]) {
		t.Errorf("binary %q is not absolute", spec.Argv[0])
	}
}

func TestProblems(t *testing.T) {
	out := "Sync group MAIN-GW has only 1 virtual router(s) - this probably isn't what you want\n" +
		"(wan) Ignoring track_interface eth0 since own interface\n" +
		"\n" +
		"(t.conf: Line 45) Unknown keyword 'garp_interval'\n"
	want := []string{"(t.conf: Line 45) Unknown keyword 'garp_interval'"}
	if d := cmp.Diff(want, problems(out)); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}

func TestDescribe(t *testing.T) {
	cfg := configOf(t,
		wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24",
		"high-availability vrrp group lan interface eth1",
		"high-availability vrrp group lan vrid 2",
		"high-availability vrrp group lan address 192.0.2.1/24",
		"high-availability vrrp group lan disable",
		"high-availability vrrp sync-group A member wan",
		"high-availability vrrp sync-group B member lan",
		"service conntrack-sync failover-mechanism vrrp sync-group B",
	)
	want := "1 group and 1 disabled, sync-group A, sync-group B (every member disabled)"
	if got := Describe(cfg); got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}
