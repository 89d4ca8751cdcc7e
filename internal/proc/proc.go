// Package proc answers, from /proc and pid files, whether a process runs
// and what it is. Every part of ctsync that adopts, supervises, waits for
// or reports on an engine asks the same question, and a pid file may name
// a pid the kernel has since given to another program or left as a zombie.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Alive reports whether pid is a live process; a zombie counts as gone
// (it holds nothing, and in a container its parent may never reap it).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may itself
	// contain ") ".
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// Argv is pid's command line, nil when it cannot be read.
func Argv(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// Runs reports whether pid is a live process running binary (compared by
// base name). It guards against a pid reused by another program, not
// against a process named after an engine: what adopts, signals or waits
// for an engine goes by its Started record (supervise.RecordedPid).
func Runs(pid int, binary string) bool {
	if !Alive(pid) {
		return false
	}
	argv := Argv(pid)
	return len(argv) > 0 && filepath.Base(argv[0]) == binary
}

// Receives reports whether pid receives sig rather than dies of it: it
// has a handler for it (SigCgt in /proc/PID/status) or blocks it to read
// it from a signalfd, as keepalived does (SigBlk), and does not ignore
// it. Most signals kill a process that does neither: signalling an
// engine that is still starting, before it set up its signals, would end
// it rather than ask it something.
func Receives(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil || sig < 1 || sig > 64 {
		return false
	}
	bit := uint64(1) << (uint(sig) - 1)
	masks := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if ok && (name == "SigCgt" || name == "SigBlk" || name == "SigIgn") {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return false
			}
			masks[name] = m
		}
	}
	return masks["SigIgn"]&bit == 0 && (masks["SigCgt"]|masks["SigBlk"])&bit != 0
}

// ReadPidFile returns the pid a pid file holds.
func ReadPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: not a pid: %q", path, bytes.TrimSpace(b))
	}
	return pid, nil
}

// StartTicks is field 22 of /proc/PID/stat: when pid started, in clock
// ticks after boot. A pid and its start ticks name one process for the
// life of the machine, where a pid alone may be reused.
func StartTicks(pid int) (uint64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may contain spaces: fields start after ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, false
	}
	return ticks, true
}

// StartTime reads when pid started from /proc: field 22 of
// /proc/PID/stat is the start in clock ticks after boot (btime in
// /proc/stat). USER_HZ is 100 on every Linux architecture Go supports.
func StartTime(pid int) *time.Time {
	ticks, ok := StartTicks(pid)
	if !ok {
		return nil
	}
	s, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(s), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			bt, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return nil
			}
			t := time.Unix(bt, 0).Add(time.Duration(ticks) * 10 * time.Millisecond)
			return &t
		}
	}
	return nil
}

// Stop sends SIGTERM, waits up to grace for pid to be gone, then sends
// SIGKILL and waits again. It works on any pid, not only a child: a zombie
// counts as gone, so it never waits on a parent that does not reap.
func Stop(pid int, grace time.Duration) error {
	if !Alive(pid) {
		return nil
	}
	if grace > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if WaitGone(pid, grace) {
			return nil
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	if WaitGone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d still running after SIGKILL", pid)
}

// WaitGone waits up to d for pid to be gone and reports whether it is.
func WaitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// InNetns reports whether pid lives in the network namespace named name
// (as `ip netns` names them, under /run/netns). A pid file can outlive its
// process and its number be reused: tests and the lab never signal a
// process outside their own namespaces.
func InNetns(pid int, name string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &a) != nil {
		return false
	}
	if syscall.Stat("/run/netns/"+name, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// NetnsPids lists the live processes in the named network namespace,
// this process excepted.
func NetnsPids(name string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if InNetns(pid, name) && Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// KillNetns SIGKILLs every process left in the named network namespace
// and waits until none is: one that outlived its namespace would keep its
// lock file and socket path, and the next daemon would talk to it.
func KillNetns(name string) error {
	for _, p := range NetnsPids(name) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := NetnsPids(name)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netns %s: processes still running after SIGKILL: %v", name, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
