//go:build integration

package vrrp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/sysinfo"
)

// router is one side of the test: a namespace, a root, a handler and its
// engines.
type router struct {
	ns  *nstest.NS
	env *handler.Env
	h   *Handler
	eng *nstest.Engines
	sys *sysinfo.System
}

func newRouter(t *testing.T, ns *nstest.NS, self string) *router {
	t.Helper()
	root := paths.Root{Dir: t.TempDir()}
	for _, d := range []string{root.RunDir(), root.EtcDir(), root.LogDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	eng := ns.Engines()
	h := New()
	h.configTest = func(ctx context.Context, conf string) error {
		return configTestWith(ctx, "ip", "netns", "exec", ns.Name, KeepalivedPath, "-t", "-f", conf)
	}
	nh, err := netns.GetFromName(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nh.Close() })
	sys, err := sysinfo.NewAt(nh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	r := &router{ns: ns, h: h, eng: eng, sys: sys, env: &handler.Env{Root: root, Engines: eng, Self: self}}
	// Registered after the engines: runs before they are stopped.
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(Spec(root).LogFile)
			t.Logf("%s keepalived log:\n%s", ns.Name, b)
		}
	})
	return r
}

// commit runs the handler the way the commit engine does.
func (r *router) commit(t *testing.T, prev, cfg *Config) string {
	t.Helper()
	ctx := context.Background()
	if _, err := r.h.Verify(ctx, *cfg, r.sys); err != nil {
		t.Fatalf("%s: verify: %v", r.ns.Name, err)
	}
	install(t, r.h, cfg, r.env)
	out, err := r.h.Apply(ctx, stateOf(prev), stateOf(cfg), r.env)
	if err != nil {
		t.Fatalf("%s: apply: %v", r.ns.Name, err)
	}
	return out
}

func (r *router) hasVIP(t *testing.T) bool {
	out, _ := r.ns.Try("ip", "-4", "addr", "show", "dev", "eth0")
	return strings.Contains(out, "192.0.2.100/24")
}

func (r *router) notifies() []string {
	b, _ := os.ReadFile(filepath.Join(r.env.Root.Dir, "notify"))
	return strings.Fields(strings.ReplaceAll(string(b), " MAIN", ""))
}

func (r *router) lastNotify() string {
	n := r.notifies()
	if len(n) == 0 {
		return ""
	}
	return n[len(n)-1]
}

func eventually(t *testing.T, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hookScript stands in for ctsync: keepalived calls it as
// `SELF --root ROOT vrrp-transition STATE GROUP`, and it appends the
// state to ROOT/notify.
func hookScript(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ctsync-hook")
	script := "#!/bin/sh\n[ \"$3\" = vrrp-transition ] || exit 2\necho \"$4 $5\" >> \"$2/notify\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func routerConfig(t *testing.T, priority int) *Config {
	return configOf(t,
		"high-availability vrrp group wan interface eth0",
		"high-availability vrrp group wan vrid 51",
		"high-availability vrrp group wan address 192.0.2.100/24",
		fmt.Sprintf("high-availability vrrp group wan priority %d", priority),
		"high-availability vrrp sync-group MAIN member wan",
		"service conntrack-sync interface eth0",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN",
	)
}

// TestFailover runs real keepalived on two routers from the generated
// files: the higher priority one becomes MASTER and runs the master hook,
// a config change reloads without a transition, and when the master's
// link goes down the address and the master hook move to the other.
func TestFailover(t *testing.T) {
	nstest.Require(t, "keepalived")
	var before []string
	for _, f := range []string{"/run/keepalived.pid", "/run/keepalived_vrrp.pid", "/run/keepalived"} {
		if _, err := os.Stat(f); err == nil {
			before = append(before, f)
		}
	}
	// The routers meet on a bridge in a third namespace: on a plain veth
	// pair, downing one end takes the carrier of the other too and both
	// would go to FAULT.
	n1, n2, sw := nstest.New(t, "vr1"), nstest.New(t, "vr2"), nstest.New(t, "vsw")
	sw.Run("ip", "link", "add", "br0", "type", "bridge")
	sw.Run("ip", "link", "set", "br0", "up")
	nstest.Link(t, n1, "eth0", sw, "p1")
	nstest.Link(t, n2, "eth0", sw, "p2")
	sw.Run("ip", "link", "set", "p1", "master", "br0")
	sw.Run("ip", "link", "set", "p2", "master", "br0")
	n1.Addr("eth0", "192.0.2.1/24")
	n2.Addr("eth0", "192.0.2.2/24")
	self := hookScript(t)
	r1, r2 := newRouter(t, n1, self), newRouter(t, n2, self)

	c1, c2 := routerConfig(t, 200), routerConfig(t, 100)
	want := "keepalived started (1 group, sync-group MAIN with failover hooks)"
	if got := r1.commit(t, nil, c1); got != want {
		t.Errorf("r1 commit: %q, want %q", got, want)
	}
	if got := r2.commit(t, nil, c2); got != want {
		t.Errorf("r2 commit: %q, want %q", got, want)
	}

	eventually(t, "r1 MASTER with the VIP", 15*time.Second, func() bool {
		return r1.hasVIP(t) && r1.lastNotify() == "master"
	})
	eventually(t, "r2 BACKUP", 10*time.Second, func() bool { return r2.lastNotify() == "backup" })
	if r2.hasVIP(t) {
		t.Fatal("r2 holds the VIP while r1 is master")
	}

	// Two keepalived on one machine, neither at the default paths.
	for _, f := range []string{"/run/keepalived.pid", "/run/keepalived_vrrp.pid", "/run/keepalived"} {
		if _, err := os.Stat(f); err == nil && !contains(before, f) {
			t.Errorf("keepalived wrote %s outside its root", f)
		}
	}

	// A change that a reload covers keeps mastership: same process, no
	// new transition, the VIP stays.
	pid := r1.eng.Pid(Engine)
	seen := len(r1.notifies())
	c1b := routerConfig(t, 250)
	if got, want := r1.commit(t, c1, c1b), "keepalived reloaded (1 group, sync-group MAIN with failover hooks)"; got != want {
		t.Errorf("r1 reload: %q, want %q", got, want)
	}
	time.Sleep(3 * time.Second)
	if r1.eng.Pid(Engine) != pid {
		t.Error("keepalived was restarted, not reloaded")
	}
	if n := r1.notifies(); len(n) != seen || !r1.hasVIP(t) {
		t.Errorf("reload disturbed the master: notifies %v, VIP %v", n, r1.hasVIP(t))
	}
	// Running it again with the same config is a no-op.
	if got := r1.commit(t, c1b, c1b); !strings.HasPrefix(got, "keepalived running, unchanged") {
		t.Errorf("r1 repeat: %q", got)
	}

	// Failover: r1 loses its link.
	n1.Run("ip", "link", "set", "eth0", "down")
	eventually(t, "r2 MASTER with the VIP", 15*time.Second, func() bool {
		return r2.hasVIP(t) && r2.lastNotify() == "master"
	})
	eventually(t, "r1 FAULT", 10*time.Second, func() bool { return r1.lastNotify() == "fault" })
	t.Logf("r1 notifies %v, r2 notifies %v", r1.notifies(), r2.notifies())

	// Deleting the subtree stops keepalived.
	for _, r := range []*router{r1, r2} {
		install(t, r.h, nil, r.env)
		if got, err := r.h.Apply(context.Background(), stateOf(c2), State{}, r.env); err != nil || got != "keepalived stopped" {
			t.Errorf("%s delete: %q, %v", r.ns.Name, got, err)
		}
		if r.eng.Pid(Engine) != 0 {
			t.Errorf("%s: keepalived still running", r.ns.Name)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestGoldenCasesPassConfigTest renders every golden case for a namespace
// that has its interfaces and has the installed keepalived check it.
func TestGoldenCasesPassConfigTest(t *testing.T) {
	nstest.Require(t, "keepalived")
	a, b := nstest.New(t, "vck"), nstest.New(t, "vcp")
	for i, dev := range []string{"eth0", "eth1", "eth2"} {
		nstest.Link(t, a, dev, b, dev)
		a.Addr(dev, []string{"198.18.0.2/24", "192.0.2.2/24", "198.18.1.2/24"}[i])
	}
	if !executable(PingPath) {
		// The ping health-check needs iputils-ping, which Verify demands;
		// keepalived -t checks the script exists, so stand in for it.
		t.Logf("%s missing: health-check ping rendered with /usr/bin/true", PingPath)
		old := PingPath
		PingPath = "/usr/bin/true"
		t.Cleanup(func() { PingPath = old })
	}
	root := paths.Root{Dir: t.TempDir()}
	env := &handler.Env{Root: root, Self: "/usr/bin/true"}
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			data, err := Render(configOf(t, tc.lines...), env)
			if err != nil {
				t.Fatal(err)
			}
			conf := filepath.Join(root.Dir, tc.name+".conf")
			if err := os.WriteFile(conf, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := configTestWith(context.Background(), "ip", "netns", "exec", a.Name, KeepalivedPath, "-t", "-f", conf); err != nil {
				t.Errorf("%v\n%s", err, data)
			}
		})
	}
}
