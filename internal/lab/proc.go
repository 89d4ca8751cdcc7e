package lab

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/proc"
)

// parsePid reads a pid file's contents: a decimal pid, optionally
// surrounded by white space.
func parsePid(b []byte) (int, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, errors.New("parsing pid: empty")
	}
	s := string(f[0])
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("parsing pid %q: %w", s, err)
	}
	if p <= 1 {
		return 0, fmt.Errorf("parsing pid %q: not a process id", s)
	}
	return p, nil
}

// alive reports whether pid runs; a zombie counts as gone.
func alive(pid int) bool { return proc.Alive(pid) }

func killPid(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -%d %d: %w", sig, pid, err)
	}
	return nil
}

// stopPid sends SIGTERM, waits up to grace, then SIGKILL, and waits for
// the exit.
func stopPid(pid int, grace time.Duration) error {
	if !alive(pid) {
		return nil
	}
	if err := killPid(pid, syscall.SIGTERM); err != nil {
		return err
	}
	if waitGone(pid, grace) {
		return nil
	}
	if err := killPid(pid, syscall.SIGKILL); err != nil {
		return err
	}
	if waitGone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d still running after SIGKILL", pid)
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !alive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inNamespace reports whether pid's network namespace is the named one. A
// pid file can outlive its process and its number be reused: the lab
// never signals a process outside its own namespaces.
func inNamespace(pid int, nsName string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a) != nil {
		return false
	}
	if syscall.Stat("/run/netns/"+nsName, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
