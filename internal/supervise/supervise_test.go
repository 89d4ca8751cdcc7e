package supervise

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
)

func sleepSpec(t *testing.T) handler.EngineSpec {
	t.Helper()
	dir := t.TempDir()
	return handler.EngineSpec{
		Name:     "sleeper",
		Argv:     handlertest.SleepArgv(t),
		PidFile:  filepath.Join(dir, "sleeper.pid"),
		LockFile: filepath.Join(dir, "sleeper.lock"),
		LogFile:  filepath.Join(dir, "sleeper.log"),
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRestartAfterCrashClearsStaleLock(t *testing.T) {
	spec := sleepSpec(t)
	s := New(nil)
	ctx := context.Background()
	t.Cleanup(func() { _ = s.Stop(ctx, spec.Name) })
	if err := os.WriteFile(spec.LockFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Ensure(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spec.LockFile); !os.IsNotExist(err) {
		t.Errorf("stale lock file survived the start: %v", err)
	}
	first := s.Pid(spec.Name)
	if first == 0 {
		t.Fatal("no pid after Ensure")
	}
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "restart", func() bool { p := s.Pid(spec.Name); return p != 0 && p != first })
	if got := s.Restarts(spec.Name); got != 1 {
		t.Errorf("Restarts = %d, want 1", got)
	}
	if pid := AdoptablePid(spec); pid != s.Pid(spec.Name) {
		t.Errorf("pid file says %d, supervisor %d", pid, s.Pid(spec.Name))
	}
}

func TestEnsureWithoutRestartKeepsPid(t *testing.T) {
	spec := sleepSpec(t)
	s := New(nil)
	ctx := context.Background()
	t.Cleanup(func() { _ = s.Stop(ctx, spec.Name) })
	if err := s.Ensure(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	pid := s.Pid(spec.Name)
	if err := s.Ensure(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	if got := s.Pid(spec.Name); got != pid {
		t.Errorf("Ensure without restart changed pid %d -> %d", pid, got)
	}
	if err := s.Ensure(ctx, spec, true); err != nil {
		t.Fatal(err)
	}
	if got := s.Pid(spec.Name); got == pid || got == 0 {
		t.Errorf("Ensure with restart kept pid %d (now %d)", pid, got)
	}
}

func TestAdoptAfterRelease(t *testing.T) {
	spec := sleepSpec(t)
	ctx := context.Background()
	old := New(nil)
	if err := old.Ensure(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	pid := old.Pid(spec.Name)
	old.Release() // ctsyncd exits, the engine stays

	s := New(nil)
	t.Cleanup(func() { _ = s.Stop(ctx, spec.Name) })
	if got := s.Pid(spec.Name); got != 0 {
		t.Fatalf("Pid before adoption = %d, want 0", got)
	}
	if got := s.Adopt(spec); got != pid {
		t.Fatalf("Adopt = %d, want the running %d", got, pid)
	}
	if err := s.Ensure(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	if got := s.Pid(spec.Name); got != pid {
		t.Fatalf("new supervisor has pid %d, want adopted %d", got, pid)
	}
	// An adopted engine is supervised too.
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "restart of adopted engine", func() bool { p := s.Pid(spec.Name); return p != 0 && p != pid })
	if err := s.Stop(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if s.Pid(spec.Name) != 0 || AdoptablePid(spec) != 0 {
		t.Error("engine still recorded after Stop")
	}
}

func TestRestartOnRequestIsNotACrash(t *testing.T) {
	spec := sleepSpec(t)
	s := New(nil)
	ctx := context.Background()
	t.Cleanup(func() { _ = s.Stop(ctx, spec.Name) })
	if _, _, err := s.Restart(ctx, spec.Name); err == nil {
		t.Fatal("restart of an engine never started succeeded")
	}
	if err := s.Ensure(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	old, now, err := s.Restart(ctx, spec.Name)
	if err != nil {
		t.Fatal(err)
	}
	if old == 0 || now == 0 || old == now || s.Pid(spec.Name) != now {
		t.Fatalf("Restart = %d -> %d, supervisor has %d", old, now, s.Pid(spec.Name))
	}
	if got := s.Restarts(spec.Name); got != 0 {
		t.Errorf("an operator's restart counted as %d crash restarts", got)
	}
}

// Every way an engine comes up reaches OnStart: a first start, a restart
// on request, a restart after a crash, and an adoption.
func TestOnStartEveryStart(t *testing.T) {
	spec := sleepSpec(t)
	type call struct {
		pid     int
		adopted bool
	}
	calls := make(chan call, 10)
	s := New(nil)
	s.OnStart = func(sp handler.EngineSpec, pid int, adopted bool) { calls <- call{pid, adopted} }
	ctx := context.Background()
	next := func(what string) call {
		t.Helper()
		select {
		case c := <-calls:
			return c
		case <-time.After(10 * time.Second):
			t.Fatalf("no OnStart after %s", what)
		}
		return call{}
	}
	if err := s.Ensure(ctx, spec, false); err != nil {
		t.Fatal(err)
	}
	if c := next("first start"); c.pid != s.Pid(spec.Name) || c.adopted {
		t.Errorf("first start: %+v, pid %d", c, s.Pid(spec.Name))
	}
	if _, _, err := s.Restart(ctx, spec.Name); err != nil {
		t.Fatal(err)
	}
	if c := next("restart"); c.pid != s.Pid(spec.Name) || c.adopted {
		t.Errorf("restart: %+v, pid %d", c, s.Pid(spec.Name))
	}
	old := s.Pid(spec.Name)
	_ = syscall.Kill(old, syscall.SIGKILL)
	c := next("crash")
	if c.pid == old || c.adopted {
		t.Errorf("crash restart: %+v, old pid %d", c, old)
	}
	waitFor(t, "the restarted pid", func() bool { return s.Pid(spec.Name) == c.pid })
	// A second supervisor (ctsyncd restarted) adopts it.
	s.Release()
	s2 := New(nil)
	s2.OnStart = s.OnStart
	t.Cleanup(func() { _ = s2.Stop(ctx, spec.Name) })
	if pid := s2.Adopt(spec); pid != c.pid {
		t.Fatalf("adopted pid %d, want %d", pid, c.pid)
	}
	if c2 := next("adoption"); c2.pid != c.pid || !c2.adopted {
		t.Errorf("adoption: %+v", c2)
	}
}

// TestSpawnEnv: the spec's Env reaches the engine, on top of ctsyncd's
// own environment (keepalived's TMPDIR keeps its dumps per router).
func TestSpawnEnv(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	spec := handler.EngineSpec{
		Name:    "printer",
		Argv:    []string{sh, "-c", `echo "$TMPDIR $HOME"`},
		Env:     []string{"TMPDIR=" + dir},
		PidFile: filepath.Join(dir, "printer.pid"),
		LogFile: filepath.Join(dir, "printer.log"),
	}
	t.Setenv("HOME", "/home/ctsyncd")
	_, done, err := Spawn(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	b, err := os.ReadFile(spec.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(b)), dir+" /home/ctsyncd"; got != want {
		t.Errorf("the engine saw %q, want %q", got, want)
	}
}

// TestForeignProcessIsNeverTheEngine: a process that only bears the
// engine's name (and arguments, and a pid file pointing at it, as a crash
// leaves one to a pid the kernel gives to anyone) is not the engine of
// this root, whatever a check by name says: not adopted, not restarted
// or stopped (so never signalled), and not an orphan in the way of a
// start.
func TestForeignProcessIsNeverTheEngine(t *testing.T) {
	for _, withRecord := range []bool{false, true} {
		t.Run(map[bool]string{false: "no start recorded", true: "the recorded engine died"}[withRecord], func(t *testing.T) {
			spec := sleepSpec(t)
			spec.StartedFile = filepath.Join(filepath.Dir(spec.PidFile), "sleeper.started")
			if withRecord {
				// The engine this root ran, now dead: its record stays.
				pid, done, err := Spawn(spec)
				if err != nil {
					t.Fatal(err)
				}
				_ = syscall.Kill(pid, syscall.SIGKILL)
				<-done
			}
			// Its name and arguments, not its command line: argv[0] is
			// the bare name where the engine's is a path.
			fargv := append([]string{filepath.Base(spec.Argv[0])}, spec.Argv[1:]...)
			foreign, alive := handlertest.Foreign(t, fargv...)
			if err := os.WriteFile(spec.PidFile, []byte(strconv.Itoa(foreign)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := AdoptablePid(spec); got != 0 {
				t.Errorf("AdoptablePid = %d (the foreign process is %d), want 0", got, foreign)
			}
			if got := RecordedPid(spec); got != 0 {
				t.Errorf("RecordedPid = %d (the foreign process is %d), want 0", got, foreign)
			}
			if o := Orphans(spec, 0); len(o) != 0 {
				t.Errorf("orphans %v (the foreign process is %d), want none", o, foreign)
			}
			s := New(nil)
			defer s.Release()
			if pid := s.Adopt(spec); pid != 0 {
				t.Errorf("adopted pid %d (the foreign process is %d)", pid, foreign)
			}
			if _, _, err := s.Restart(context.Background(), spec.Name); err == nil || !strings.Contains(err.Error(), "not running under this ctsyncd") {
				t.Errorf("restart with only a foreign process running: %v", err)
			}
			if err := s.Ensure(context.Background(), spec, false); err != nil {
				t.Fatal(err)
			}
			pid := s.Pid(spec.Name)
			if pid == 0 || pid == foreign {
				t.Fatalf("started pid %d (the foreign process is %d)", pid, foreign)
			}
			if old, now, err := s.Restart(context.Background(), spec.Name); err != nil || old != pid || now == foreign {
				t.Errorf("restart: %d -> %d, %v (the foreign process is %d)", old, now, err, foreign)
			}
			if err := s.Stop(context.Background(), spec.Name); err != nil {
				t.Fatal(err)
			}
			if !alive() {
				t.Errorf("the foreign process %d was signalled", foreign)
			}
		})
	}
}
