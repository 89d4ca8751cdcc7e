// Package nstest gives integration tests their own hosts: network
// namespaces with veth links, created per test and removed when it ends.
// Tests that use it build with the "integration" tag and need root. In CI
// (CI=true) a missing prerequisite fails the test instead of skipping it:
// a skipped test is not a passing one.
package nstest

import (
	"fmt"
	"github.com/ctsync/ctsync/internal/proc"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

// Require checks that the test runs as root and that the named binaries
// are on PATH. Outside CI it skips when they are missing; in CI it fails.
func Require(t testing.TB, bins ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, b := range append([]string{"ip"}, bins...) {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "integration prerequisites missing: " + strings.Join(missing, ", ")
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var seq atomic.Int64

// NS is a network namespace owned by one test.
type NS struct {
	Name string
	t    testing.TB
}

// New creates a namespace whose name starts with prefix and is unique to
// this process. Loopback is brought up. The namespace is deleted when the
// test ends, after the test's own cleanups (which stop its processes) ran.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	name := fmt.Sprintf("cts-%s-%d-%d", prefix, os.Getpid()%100000, seq.Add(1))
	if len(name) > 30 {
		name = name[:30]
	}
	run(t, "ip", "netns", "add", name)
	ns := &NS{Name: name, t: t}
	t.Cleanup(func() {
		// Processes left in the namespace would keep sockets and lock
		// files alive: kill what is left, by the namespace's own pids.
		if err := proc.KillNetns(name); err != nil {
			t.Error(err)
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

// Cmd returns a command that runs inside the namespace.
func (n *NS) Cmd(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Run runs a command in the namespace and fails the test on error. It
// returns the combined output.
func (n *NS) Run(name string, args ...string) string {
	n.t.Helper()
	out, err := n.Cmd(name, args...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("%s %s in %s: %v\n%s", name, strings.Join(args, " "), n.Name, err, out)
	}
	return string(out)
}

// Try runs a command in the namespace and returns its output and error.
func (n *NS) Try(name string, args ...string) (string, error) {
	out, err := n.Cmd(name, args...).CombinedOutput()
	return string(out), err
}

// Do runs f on an OS thread switched into the namespace, for in-process
// netlink work.
func (n *NS) Do(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	h, err := netns.GetFromName(n.Name)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

// Link joins a:aname and b:bname with a veth pair, both up.
func Link(t testing.TB, a *NS, aname string, b *NS, bname string) {
	t.Helper()
	tmp := fmt.Sprintf("vt%d", seq.Add(1))
	run(t, "ip", "link", "add", tmp+"a", "type", "veth", "peer", "name", tmp+"b")
	run(t, "ip", "link", "set", tmp+"a", "netns", a.Name)
	run(t, "ip", "link", "set", tmp+"b", "netns", b.Name)
	a.Run("ip", "link", "set", tmp+"a", "name", aname)
	b.Run("ip", "link", "set", tmp+"b", "name", bname)
	a.Run("ip", "link", "set", aname, "up")
	b.Run("ip", "link", "set", bname, "up")
}

// Addr adds cidr to dev in the namespace.
func (n *NS) Addr(dev, cidr string) {
	n.t.Helper()
	n.Run("ip", "addr", "add", cidr, "dev", dev)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Binaries builds ctsync and ctsyncd once per test process and returns
// their paths.
func Binaries(t testing.TB) (ctsync, ctsyncd string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ctsync-bin-")
		if buildErr != nil {
			return
		}
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		for _, c := range []string{"ctsync", "ctsyncd"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, c), "./cmd/"+c)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", c, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "ctsync"), filepath.Join(binDir, "ctsyncd")
}

// Main runs a package's tests and then removes the binaries Binaries
// built for them: every test process builds its own, and a run of the
// integration suite would otherwise leave some 30 MB per package behind
// in the temp dir. Call it from the package's TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}
