//go:build integration

package conntracksync

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/kernelinfo"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
	"github.com/ctsync/ctsync/internal/supervise"
	"github.com/ctsync/ctsync/internal/sysinfo"
)

// router is one namespace wired like goldenSystem: eth1 and eth2 lead to
// a peer namespace.
func router(t *testing.T) (*nstest.NS, *sysinfo.System) {
	t.Helper()
	nstest.Require(t, "conntrackd")
	r := nstest.New(t, "ctr1")
	peer := nstest.New(t, "ctr2")
	nstest.Link(t, r, "eth1", peer, "eth1")
	nstest.Link(t, r, "eth2", peer, "eth2")
	r.Addr("eth1", "198.18.10.2/24")
	r.Addr("eth1", "198.18.10.4/24")
	r.Run("ip", "-6", "addr", "add", "2001:db8:10::2/64", "dev", "eth1", "nodad")
	r.Addr("eth2", "198.18.20.2/24")
	peer.Addr("eth1", "198.18.10.3/24")
	peer.Addr("eth2", "198.18.20.3/24")

	h, err := netns.GetFromName(r.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	sys, err := sysinfo.NewAt(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	return r, sys
}

// TestConntrackdAcceptsGenerated runs the real conntrackd on the file
// generated for every golden config, in a namespace of its own: it must
// start and answer on its control socket.
func TestConntrackdAcceptsGenerated(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			r, sys := router(t)
			root := paths.Root{Dir: t.TempDir()}
			h := testHandler()
			h.Kernel = kernelinfo.System
			cfg, err := h.GetConfig(handlertest.Tree(t, tc.lines...))
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Verify(context.Background(), cfg, sys); err != nil {
				t.Fatal(err)
			}
			files, err := h.Generate(cfg, &handler.Env{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			conf := files[0].Path
			for _, d := range []string{filepath.Dir(conf), root.RunDir()} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(conf, files[0].Data, 0o644); err != nil {
				t.Fatal(err)
			}

			log := startConntrackd(t, r, conf)
			if err := waitAnswer(root.ConntrackdSocket(), 5*time.Second); err != nil {
				t.Fatalf("%v\nconntrackd output:\n%s\nconfig:\n%s", err, log(), files[0].Data)
			}
			// conntrackd starts despite options it does not understand,
			// with a warning: the file is only right if it says nothing.
			if l := strings.ToLower(log()); strings.Contains(l, "warning") || strings.Contains(l, "error") {
				t.Errorf("conntrackd complained about the generated file:\n%s", log())
			}
			out, err := r.Try("conntrackd", "-C", conf, "-s")
			if err != nil || !strings.Contains(out, "cache internal") {
				t.Fatalf("conntrackd -s: %v\n%s\nconntrackd output:\n%s", err, out, log())
			}
		})
	}
}

// startConntrackd runs conntrackd in the foreground in ns as a child of
// the test, and kills and reaps it when the test ends (before nstest
// removes the namespace). It returns a function giving its output.
func startConntrackd(t *testing.T, ns *nstest.NS, conf string) func() string {
	t.Helper()
	var mu sync.Mutex
	var buf strings.Builder
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	// ip netns exec execs conntrackd in place: the child's pid is
	// conntrackd's.
	cmd := ns.Cmd("conntrackd", "-C", conf)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func waitAnswer(socket string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := ProbeSocket(ctx, socket)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nsEngines is the smallest real handler.Engines: it starts each engine
// with supervise.Spawn (so it leaves the Started record the handler
// decides restarts from) inside one namespace. It lets Apply be tested
// end to end against the real conntrackd.
type nsEngines struct {
	t    *testing.T
	ns   *nstest.NS
	mu   sync.Mutex
	pids map[string]int
	done map[string]chan struct{}
}

func (e *nsEngines) Ensure(_ context.Context, spec handler.EngineSpec, restart bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pidLocked(spec.Name) != 0 {
		if !restart {
			return nil
		}
		e.stopLocked(spec.Name)
	}
	return e.ns.Do(func() error {
		pid, done, err := supervise.Spawn(spec)
		if err != nil {
			return err
		}
		e.pids[spec.Name], e.done[spec.Name] = pid, done
		return nil
	})
}

func (e *nsEngines) stopLocked(name string) {
	if e.pidLocked(name) == 0 {
		return
	}
	_, _ = proc.Terminate(context.Background(), e.pids[name], 5*time.Second, e.done[name])
	delete(e.pids, name)
}

func (e *nsEngines) Reload(context.Context, string) error { return nil }

func (e *nsEngines) Stop(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopLocked(name)
	return nil
}

// Adopt finds only what this stand-in started itself: it never runs
// beside an earlier ctsyncd.
func (e *nsEngines) Adopt(spec handler.EngineSpec) int { return e.Pid(spec.Name) }

func (e *nsEngines) Pid(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pidLocked(name)
}

func (e *nsEngines) pidLocked(name string) int {
	if e.pids[name] == 0 {
		return 0
	}
	select {
	case <-e.done[name]:
		return 0
	default:
		return e.pids[name]
	}
}

// TestApplyRealConntrackd commits through the handler as ctsyncd does:
// start, keep, restart on change, stop on delete, with the real daemon
// answering on its socket each time.
func TestApplyRealConntrackd(t *testing.T) {
	r, sys := router(t)
	root := paths.Root{Dir: t.TempDir()}
	eng := &nsEngines{t: t, ns: r, pids: map[string]int{}, done: map[string]chan struct{}{}}
	t.Cleanup(func() { _ = eng.Stop(context.Background(), EngineName) })
	env := &handler.Env{Root: root, Engines: eng}
	h := New()
	// The guard goes into the router's namespace, never the host's.
	nh, err := netns.GetFromName(r.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nh.Close() })
	h.Guard = guard.Kernel{NetNS: int(nh)}
	const up = "; switchover guard up (this node is not a committed master)"
	guardUp := func(when string) {
		t.Helper()
		if out := r.Run("nft", "list", "tables"); !strings.Contains(out, guard.Table) {
			t.Errorf("%s: no guard table in %s: %q", when, r.Name, out)
		}
	}

	commit := func(prev any, lines []string) (any, string) {
		t.Helper()
		cfg, err := h.GetConfig(handlertest.Tree(t, lines...))
		if err != nil {
			t.Fatal(err)
		}
		if cfg != nil {
			if err := h.Verify(context.Background(), cfg, sys); err != nil {
				t.Fatal(err)
			}
		}
		files, err := h.Generate(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if f.Data == nil {
				_ = os.Remove(f.Path)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.Path, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		msg, err := h.Apply(context.Background(), prev, cfg, env)
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(root.LogDir(), "conntrackd.log"))
			t.Fatalf("Apply: %v\n%s", err, log)
		}
		return cfg, msg
	}

	cfg1, msg := commit(nil, baseLines)
	if msg != "conntrackd started (unicast to 198.18.10.3 over eth1)"+up {
		t.Errorf("first commit: %q", msg)
	}
	pid1 := eng.Pid(EngineName)
	guardUp("first commit")
	cfg2, msg := commit(cfg1, baseLines)
	if msg != "conntrackd unchanged"+up || eng.Pid(EngineName) != pid1 {
		t.Errorf("same config: %q, pid %d -> %d", msg, pid1, eng.Pid(EngineName))
	}
	// Renaming the sync-group changes the config, not the file
	// conntrackd reads: it keeps running.
	renamed := []string{
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync failover-mechanism vrrp sync-group SYNC2",
		"high-availability vrrp sync-group SYNC2 member wan",
	}
	cfg2, msg = commit(cfg2, renamed)
	if msg != "conntrackd unchanged"+up || eng.Pid(EngineName) != pid1 {
		t.Errorf("renamed sync-group: %q, pid %d -> %d", msg, pid1, eng.Pid(EngineName))
	}
	cfg3, msg := commit(cfg2, append([]string{"service conntrack-sync startup-resync"}, baseLines...))
	if msg != "conntrackd restarted (unicast to 198.18.10.3 over eth1)"+up || eng.Pid(EngineName) == pid1 {
		t.Errorf("changed config: %q, pid %d -> %d", msg, pid1, eng.Pid(EngineName))
	}
	c := conntrackd.Client{Path: root.ConntrackdSocket()}
	if _, err := c.Do(context.Background(), conntrackd.Stats); err != nil {
		t.Errorf("after restart: %v", err)
	}
	_, msg = commit(cfg3, nil)
	if msg != "conntrackd stopped; switchover guard removed" || eng.Pid(EngineName) != 0 {
		t.Errorf("delete: %q, pid %d", msg, eng.Pid(EngineName))
	}
	if _, err := os.Stat(root.ConntrackdConf()); !os.IsNotExist(err) {
		t.Errorf("conntrackd.conf still there after delete: %v", err)
	}
	if out := r.Run("nft", "list", "tables"); strings.Contains(out, guard.Table) {
		t.Errorf("guard table left behind after delete: %q", out)
	}
}
