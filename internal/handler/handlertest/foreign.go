package handlertest

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Foreign starts a process that is not an engine of any root but looks
// like one to a check by name: its command line is argv (argv[0] is the
// name, say "conntrackd", followed by whatever it should appear to run
// with, such as "-C" and this root's conntrackd.conf), while what runs is
// a shell waiting for a child sleep. Anyone can start such a process; a
// pid file may point at it. It is killed, with its child, when the test
// ends. Alive reports whether it still runs: a signal from the code
// under test (SIGTERM, SIGHUP, SIGUSR1...) ends it.
func Foreign(t testing.TB, argv ...string) (pid int, alive func() bool) {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	// sh -c SCRIPT NAME ARGS...: the words after the script are only its
	// $0 and $1..., so any of them is fine; "; :" keeps sh from
	// exec'ing sleep in its place.
	cmd := exec.Command(sh)
	cmd.Args = append([]string{argv[0], "-c", "sleep 300; :"}, argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a foreign %s: %v", argv[0], err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	alive = func() bool {
		select {
		case <-done:
			return false
		case <-time.After(100 * time.Millisecond):
			// Long enough for a signal sent just before to land.
			select {
			case <-done:
				return false
			default:
				return true
			}
		}
	}
	return cmd.Process.Pid, alive
}
