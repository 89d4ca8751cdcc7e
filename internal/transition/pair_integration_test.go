//go:build integration

package transition

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/nstest/flows"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
)

// No ctsyncd runs anywhere in these tests: the hook reads the running
// config and conntrackd.conf from disk and talks to conntrackd directly,
// which is the "works with ctsyncd stopped" claim.

// router is one firewall of the pair: a namespace, a root with a running
// config and a conntrackd.conf, and the conntrackd the test started.
type router struct {
	ns     *nstest.NS
	root   paths.Root
	client *conntrackd.Client
	t      testing.TB
}

// syncGroupName is the sync-group the hand-written running config names.
const syncGroupName = "MAIN-GW"

// newPair builds r1 and r2 joined by a sync link, each with its own root
// and a running conntrackd (FTFW over unicast UDP). Roots are short temp
// dirs because the control socket path must fit in 108 bytes.
func newPair(t testing.TB) (r1, r2 *router) {
	t.Helper()
	nstest.Require(t, "conntrackd", "conntrack")
	a := nstest.New(t, "r1")
	b := nstest.New(t, "r2")
	nstest.Link(t, a, "sync0", b, "sync0")
	a.Addr("sync0", "198.18.77.1/24")
	b.Addr("sync0", "198.18.77.2/24")
	r1 = newRouter(t, a, "198.18.77.1", "198.18.77.2")
	r2 = newRouter(t, b, "198.18.77.2", "198.18.77.1")
	r1.start()
	r2.start()
	return r1, r2
}

func newRouter(t testing.TB, ns *nstest.NS, local, peer string) *router {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := paths.Root{Dir: dir}
	for _, d := range []string{root.RunDir(), root.EtcDir(), root.StateDir(), root.LogDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The conntrack-sync handler generates this in the commit that
	// writes conntrackd.conf; the hook reads nothing else of the config.
	if err := os.WriteFile(root.FailoverFacts(), EncodeFacts(Facts{SyncGroup: syncGroupName}), 0o644); err != nil {
		t.Fatal(err)
	}
	// Large event and sync buffers: the tests create 10,000 to 100,000
	// entries in one burst. Syslog off so that the host's log is not
	// filled; the daemon's log stays under the root for post-mortems.
	conf := fmt.Sprintf(`Sync {
	Mode FTFW {
		DisableExternalCache off
		StartupResync off
	}
	UDP {
		IPv4_address %s
		IPv4_Destination_Address %s
		Port 3780
		Interface sync0
		SndSocketBuffer 16777216
		RcvSocketBuffer 16777216
		Checksum on
	}
}
General {
	HashSize 65536
	HashLimit 524288
	Syslog off
	LogFile %s
	LockFile %s
	UNIX {
		Path %s
	}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 134217728
	NetlinkOverrunResync on
	NetlinkEventsReliable on
}
`, local, peer, filepath.Join(root.LogDir(), "conntrackd-daemon.log"), root.ConntrackdLock(), root.ConntrackdSocket())
	if err := os.WriteFile(root.ConntrackdConf(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &router{ns: ns, root: root, client: &conntrackd.Client{Path: root.ConntrackdSocket()}, t: t}
	t.Cleanup(r.stopConntrackd)
	return r
}

// start runs conntrackd in the router's namespace the way ctsyncd's
// supervisor would, and waits until it answers.
func (r *router) start() {
	r.t.Helper()
	var err error
	r.do(func() error {
		_, _, err = StartConntrackd(r.root, "")
		return err
	})
	if err := waitAnswer(context.Background(), r.client, nil); err != nil {
		r.t.Fatalf("conntrackd in %s: %v\n%s", r.ns.Name, err, r.daemonLog())
	}
}

// pid is the conntrackd pid from the pid file (0 if none).
func (r *router) pid() int {
	b, err := os.ReadFile(r.root.ConntrackdPid())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// kill9 kills conntrackd like a crash would and waits until it is gone
// (StartConntrackd's goroutine reaps it). The lock file stays behind.
func (r *router) kill9() int {
	r.t.Helper()
	pid := r.pid()
	if pid == 0 {
		r.t.Fatal("no conntrackd pid")
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone(r.t, pid)
	return pid
}

func (r *router) stopConntrackd() {
	if pid := r.pid(); pid != 0 && isConntrackd(pid, "") {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(r.t, pid)
	}
}

func waitGone(t testing.TB, pid int) {
	for i := 0; i < 100; i++ {
		if !isConntrackd(pid, "") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("conntrackd pid %d did not exit", pid)
}

func (r *router) do(f func() error) {
	r.t.Helper()
	if err := r.ns.Do(f); err != nil {
		r.t.Fatal(err)
	}
}

func (r *router) daemonLog() string {
	b, _ := os.ReadFile(filepath.Join(r.root.LogDir(), "conntrackd-daemon.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (r *router) request(code int32) []byte {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := r.client.Do(ctx, code)
	if err != nil {
		r.t.Fatalf("conntrackd request %d in %s: %v", code, r.ns.Name, err)
	}
	return b
}

func (r *router) caches() cacheCounts {
	r.t.Helper()
	cc, err := parseStats(r.request(conntrackd.Stats))
	if err != nil {
		r.t.Fatal(err)
	}
	return cc
}

// waitExternal waits until the external cache holds n entries.
func (r *router) waitExternal(n int, within time.Duration) {
	r.t.Helper()
	end := time.Now().Add(within)
	var cc cacheCounts
	for time.Now().Before(end) {
		cc = r.caches()
		if cc.External >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("%s external cache holds %d entries, want %d\n%s", r.ns.Name, cc.External, n, r.daemonLog())
}

func (r *router) kernelCount() int {
	r.t.Helper()
	var n int
	r.do(func() error {
		var err error
		n, err = KernelCount()
		return err
	})
	return n
}

// createFlows puts n established TCP flows into r's kernel table.
func (r *router) createFlows(n int) {
	r.t.Helper()
	if err := flows.Create(r.ns, n); err != nil {
		r.t.Fatal(err)
	}
}

// missingFlows returns how many of the first n test flows r's kernel
// table lacks.
func (r *router) missingFlows(n int) int {
	r.t.Helper()
	m, err := flows.Missing(r.ns, n)
	if err != nil {
		r.t.Fatal(err)
	}
	return m
}

// flushKernel empties r's kernel table.
func (r *router) flushKernel() {
	r.t.Helper()
	r.ns.Run("conntrack", "-F")
}

// stockClient runs the stock conntrackd client with one option, the way
// primary-backup.sh does. The client needs no namespace: it only talks to
// the UNIX socket named in the config.
func (r *router) stockClient(args ...string) {
	r.t.Helper()
	out, err := exec.Command("conntrackd", append([]string{"-C", r.root.ConntrackdConf()}, args...)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("conntrackd %v: %v\n%s", args, err, out)
	}
}

// isConntrackd reports whether pid is a live conntrackd (by its name:
// the test knows what it started), started with conf when conf is not
// empty.
func isConntrackd(pid int, conf string) bool {
	if !proc.Runs(pid, conntrackd.EngineName) {
		return false
	}
	if conf == "" {
		return true
	}
	args := proc.Argv(pid)
	for i, a := range args {
		if a == "-C" && i+1 < len(args) && args[i+1] == conf {
			return true
		}
	}
	return false
}
