package nstest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
	"github.com/ctsync/ctsync/internal/supervise"
)

// Router is one ctsync router for a test: a namespace, its own root, and
// a ctsyncd running there, configured through the real `ctsync configure`.
type Router struct {
	NS     *NS
	Root   paths.Root
	Ctsync string

	t       testing.TB
	env     []string // extra environment for ctsyncd
	ctsyncd string
	cmd     *exec.Cmd
	done    chan struct{}
	log     *bytes.Buffer
}

// NewRouter starts ctsyncd in ns with a fresh root and env added to its
// environment. At cleanup it stops ctsyncd and then the engines it left,
// by their pids, and waits for them before the namespace goes.
func NewRouter(t testing.TB, ns *NS, env ...string) *Router {
	t.Helper()
	_, ctsyncd := Binaries(t)
	return NewRouterBinary(t, ns, ctsyncd, env...)
}

// NewRouterBinary is NewRouter running the ctsyncd binary at ctsyncd (a
// build with test-only fault points, say).
func NewRouterBinary(t testing.TB, ns *NS, ctsyncd string, env ...string) *Router {
	t.Helper()
	ctsync, _ := Binaries(t)
	// Short root: conntrackd's socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "ctr")
	if err != nil {
		t.Fatal(err)
	}
	r := &Router{NS: ns, Root: paths.Root{Dir: dir}, Ctsync: ctsync, t: t, ctsyncd: ctsyncd, env: env}
	r.Start()
	t.Cleanup(func() {
		r.shutdown()
		os.RemoveAll(dir)
	})
	return r
}

// Start starts ctsyncd and waits for its socket.
func (r *Router) Start() {
	r.t.Helper()
	r.log = &bytes.Buffer{}
	r.cmd = r.NS.Cmd(r.ctsyncd, "--root", r.Root.Dir, "--ctsync", r.Ctsync)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if len(r.env) > 0 {
		r.cmd.Env = append(os.Environ(), r.env...)
	}
	_ = os.Remove(r.Root.CtsyncdSocket())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(r.Root.CtsyncdSocket()); err == nil {
			return
		}
		select {
		case <-r.done:
			r.t.Fatalf("ctsyncd exited:\n%s", r.log)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("ctsyncd did not open its socket:\n%s", r.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StopService stops ctsyncd only; the engines stay, as on a real router
// whose config service is down.
func (r *Router) StopService() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// Wait waits, at most d, for ctsyncd to exit by itself (a crash test's
// kill); false when it still runs.
func (r *Router) Wait(d time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(d):
		return false
	}
}

// SetEnv replaces the extra environment of the next Start.
func (r *Router) SetEnv(env ...string) { r.env = env }

// Log is what ctsyncd printed.
func (r *Router) Log() string { return r.log.String() }

func (r *Router) shutdown() {
	r.StopService()
	for _, pf := range []string{r.Root.ConntrackdPid(), r.Root.KeepalivedSupervisorPid(), r.Root.KeepalivedPid()} {
		if pid, err := proc.ReadPidFile(pf); err == nil && proc.InNetns(pid, r.NS.Name) {
			_ = proc.Stop(pid, 0)
		}
	}
	if r.t.Failed() {
		r.t.Logf("ctsyncd log (%s):\n%s", r.NS.Name, r.log)
	}
}

// Configure runs a config script through `ctsync configure`.
func (r *Router) Configure(lines ...string) (stdout, stderr string, err error) {
	return r.Run(strings.Join(lines, "\n")+"\n", "configure")
}

// MustConfigure is Configure that fails the test on error.
func (r *Router) MustConfigure(lines ...string) string {
	r.t.Helper()
	out, errOut, err := r.Configure(lines...)
	if err != nil {
		r.t.Fatalf("configure in %s: %v\nstdout:\n%s\nstderr:\n%s", r.NS.Name, err, out, errOut)
	}
	return out
}

// Run runs `ctsync --root ROOT args...` in the namespace with stdin.
func (r *Router) Run(stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := r.NS.Cmd(r.Ctsync, append([]string{"--root", r.Root.Dir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// ConntrackdPid is the pid of the root's conntrackd, by its Started
// record, or 0.
func (r *Router) ConntrackdPid() int {
	return supervise.RecordedPid(handler.EngineSpec{StartedFile: r.Root.ConntrackdStarted()})
}

// Conntrackd runs the stock conntrackd client against the router's
// generated config, e.g. Conntrackd("-s").
func (r *Router) Conntrackd(args ...string) (string, error) {
	return r.NS.Try("conntrackd", append([]string{"-C", r.Root.ConntrackdConf()}, args...)...)
}
