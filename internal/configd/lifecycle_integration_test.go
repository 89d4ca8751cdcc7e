//go:build integration

package configd_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/proc"
)

// daemonPid is the pid of the ctsyncd that holds r's root, from its
// lock, checked to be a ctsyncd of that root.
func daemonPid(t *testing.T, r *nstest.Router) int {
	t.Helper()
	b, err := os.ReadFile(r.Root.CtsyncdLock())
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !proc.Alive(pid) || !slices.Contains(proc.Argv(pid), r.Root.Dir) {
		t.Fatalf("the daemon lock names pid %q (%v), not a live ctsyncd of %s", b, err, r.Root.Dir)
	}
	return pid
}

// TestIntegrationOneDaemonAndItsRestart: a second ctsyncd for a root
// refuses to start and says which pid holds the root; a ctsyncd killed
// with a session holding uncommitted changes leaves that count behind,
// and the next one starts from zero; and it resumes the committed
// configuration, never saved, rather than config.boot, adopting the
// engines.
func TestIntegrationOneDaemonAndItsRestart(t *testing.T) {
	r := newRouter(t)
	r.MustConfigure(goodConfig...)
	r.MustConfigure("save")
	r.MustConfigure("set high-availability vrrp group wan priority 250", "commit")
	first := daemonPid(t, r)

	t.Run("a second ctsyncd refuses", func(t *testing.T) {
		_, ctsyncd := nstest.Binaries(t)
		cmd := r.NS.Cmd(ctsyncd, "--root", r.Root.Dir, "--ctsync", r.Ctsync)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("a second ctsyncd for the root kept running:\n%s", out)
		}
		want := fmt.Sprintf("another ctsyncd runs for this root (pid %d holds %s)", first, r.Root.CtsyncdLock())
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("second ctsyncd: %v, want a refusal saying %q:\n%s", err, want, out)
		}
		if got := daemonPid(t, r); got != first {
			t.Errorf("the lock names pid %d after the refusal, want %d", got, first)
		}
		r.MustConfigure("show service conntrack-sync")
	})

	// A session with uncommitted changes when ctsyncd dies.
	s := startShell(t, r.NS.Cmd(r.Ctsync, "--root", r.Root.Dir, "configure"))
	if _, err := s.stdin.Write([]byte("set high-availability vrrp group wan vrid 5\nshow high-availability vrrp group wan vrid\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the open session counted", func() error {
		out, _, err := r.Run("", "show", "system", "commit")
		if err != nil || !strings.Contains(out, "1 configuration session(s) hold uncommitted changes") {
			return fmt.Errorf("show system commit: %v\n%s", err, out)
		}
		return nil
	})
	ct, ka := r.ConntrackdPid(), kaPid(r)
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !r.Wait(10 * time.Second) {
		t.Fatal("ctsyncd survived SIGKILL")
	}
	_, _, _ = s.finish("")
	r.Start()
	r.MustConfigure("show service conntrack-sync") // served once booted

	t.Run("the session count starts from zero", func(t *testing.T) {
		out, errOut, err := r.Run("", "show", "system", "commit")
		if err != nil || strings.Contains(out, "uncommitted") {
			t.Errorf("show system commit after the restart: %v\n%s%s", err, out, errOut)
		}
	})

	t.Run("the committed configuration is resumed, not config.boot", func(t *testing.T) {
		if b := mustRead(t, r.Root.ConfigBoot()); strings.Contains(b, "priority 250") {
			t.Fatalf("config.boot holds the unsaved commit: the test proves nothing\n%s", b)
		}
		out, errOut, err := r.Run("", "show", "configuration", "commands")
		if err != nil || !strings.Contains(out, "high-availability vrrp group wan priority 250") {
			t.Errorf("show configuration after the restart: %v\n%s%s", err, out, errOut)
		}
		if k := mustRead(t, r.Root.KeepalivedConf()); !strings.Contains(k, "priority 250") {
			t.Errorf("keepalived.conf after the restart:\n%s", k)
		}
		if got := r.ConntrackdPid(); got != ct {
			t.Errorf("conntrackd pid %d -> %d: not adopted", ct, got)
		}
		if got := kaPid(r); got != ka {
			t.Errorf("keepalived pid %d -> %d: not adopted", ka, got)
		}
	})
}

// TestIntegrationForeignConntrackd: a process named conntrackd, with this
// root's conntrackd.conf on its command line and conntrackd's pid file
// pointing at it, is not this root's conntrackd: a starting ctsyncd does
// not adopt it (it starts the daemon), `restart conntrack-sync` restarts
// the daemon and never signals it, and keepalived's backup hook, with
// ctsyncd stopped, starts the daemon rather than wait for it to answer.
func TestIntegrationForeignConntrackd(t *testing.T) {
	r := newRouter(t)
	r.MustConfigure(goodConfig...)
	foreign, alive := handlertest.Foreign(t, "conntrackd", "-C", r.Root.ConntrackdConf())
	pointAtForeign := func() {
		t.Helper()
		if err := os.WriteFile(r.Root.ConntrackdPid(), []byte(fmt.Sprintln(foreign)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// conntrackd dies while ctsyncd is down; its pid file now names the
	// namesake.
	killConntrackd := func() {
		t.Helper()
		pid := r.ConntrackdPid()
		if pid == 0 {
			t.Fatal("no conntrackd")
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !proc.WaitGone(pid, 10*time.Second) {
			t.Fatalf("conntrackd %d survived SIGKILL", pid)
		}
		pointAtForeign()
	}

	t.Run("not adopted", func(t *testing.T) {
		r.StopService()
		killConntrackd()
		r.Start()
		pid := waitPid(t, "conntrackd started by the resuming ctsyncd", r.ConntrackdPid, 0)
		if pid == foreign {
			t.Fatalf("ctsyncd took pid %d, the namesake, for conntrackd", pid)
		}
		waitFor(t, "conntrackd answering", func() error { return answers(r) })
		if !alive() {
			t.Fatal("the namesake was signalled")
		}
	})

	t.Run("not signalled by restart conntrack-sync", func(t *testing.T) {
		old := r.ConntrackdPid()
		pointAtForeign()
		out, errOut, err := r.Run("", "restart", "conntrack-sync")
		if err != nil || !strings.Contains(out, fmt.Sprintf("(was %d)", old)) {
			t.Fatalf("restart conntrack-sync: %v\n%s%s", err, out, errOut)
		}
		if pid := r.ConntrackdPid(); pid == old || pid == foreign || pid == 0 {
			t.Errorf("conntrackd pid %d after the restart (was %d, the namesake is %d)", pid, old, foreign)
		}
		if !alive() {
			t.Fatal("restart conntrack-sync signalled the namesake")
		}
	})

	t.Run("not waited on by the backup hook", func(t *testing.T) {
		r.StopService()
		killConntrackd()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		t0 := time.Now()
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", r.NS.Name, r.Ctsync, "--root", r.Root.Dir, "vrrp-transition", "backup", "MAIN")
		out, err := cmd.CombinedOutput()
		took := time.Since(t0)
		if err != nil {
			t.Fatalf("backup hook: %v after %v\n%s", err, took, out)
		}
		// It waited for no answer from the namesake: the daemon it
		// started answers within seconds; the hook's bound is 30 s.
		if took > 15*time.Second {
			t.Errorf("the backup hook took %v", took)
		}
		pid := r.ConntrackdPid()
		if pid == 0 || pid == foreign {
			t.Errorf("conntrackd pid %d after the hook (the namesake is %d)", pid, foreign)
		}
		if err := answers(r); err != nil {
			t.Errorf("conntrackd started by the hook: %v", err)
		}
		if !alive() {
			t.Fatal("the backup hook signalled the namesake")
		}
		t.Logf("backup hook with a namesake in the pid file: %v, conntrackd pid %d", took.Round(time.Millisecond), pid)
	})
}
