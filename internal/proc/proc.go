// Package proc answers, from /proc and pid files, whether a process runs
// and what it is. Every part of ctsync that adopts, supervises, waits for
// or reports on an engine asks the same question, and a pid file may name
// a pid the kernel has since given to another program or left as a zombie.
package proc

import (
	"bytes"
	"context"
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
	f := stat(pid)
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// stat is pid's /proc/PID/stat from the state on (field 3), nil when it
// cannot be read. The fields start after the parenthesised command
// name, which may itself contain spaces and ") ".
func stat(pid int) []string {
	if pid <= 0 {
		return nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// Parent is pid's parent, 0 when unknown.
func Parent(pid int) int {
	f := stat(pid)
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// Pids lists the processes /proc shows.
func Pids() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
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
	pid, err := ParsePid(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return pid, nil
}

// ParsePid reads a pid file's content: a decimal pid, surrounded by white
// space and followed by anything (some daemons add a word). Pid 1 is no
// engine's: a pid file naming it is refused rather than signalled.
func ParsePid(b []byte) (int, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, errors.New("not a pid: empty")
	}
	p, err := strconv.Atoi(string(f[0]))
	if err != nil || p <= 1 {
		return 0, fmt.Errorf("not a pid: %q", f[0])
	}
	return p, nil
}

// StartTicks is field 22 of /proc/PID/stat: when pid started, in clock
// ticks after boot. A pid and its start ticks name one process for the
// life of the machine, where a pid alone may be reused.
func StartTicks(pid int) (uint64, bool) {
	f := stat(pid)
	if len(f) < 20 {
		return 0, false
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	return ticks, err == nil
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

// Stop ends pid, any pid (not only a child): Terminate with no exit
// channel and no deadline but its own.
func Stop(pid int, grace time.Duration) error {
	_, err := Terminate(context.Background(), pid, grace, nil)
	return err
}

// killWait bounds the wait for a process to go after SIGKILL.
const killWait = 5 * time.Second

// Terminate is the one way ctsync stops a process: SIGTERM, up to grace
// (or until ctx ends) for it to go, then SIGKILL and up to five seconds
// more; grace 0 sends SIGKILL at once. exited, when not nil, is closed
// once the caller reaped the process (its child): it is watched instead
// of /proc, where a zombie counts as gone, so that Terminate never waits
// on a parent that does not reap. killed says SIGTERM was not enough.
func Terminate(ctx context.Context, pid int, grace time.Duration, exited <-chan struct{}) (killed bool, err error) {
	if pid <= 0 || gone(pid, exited) {
		return false, nil
	}
	if grace > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if waitGone(ctx, pid, grace, exited) {
			return false, nil
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	if waitGone(context.Background(), pid, killWait, exited) {
		return true, nil
	}
	return true, fmt.Errorf("pid %d still running after SIGKILL", pid)
}

// WaitGone waits up to d for pid to be gone and reports whether it is.
func WaitGone(pid int, d time.Duration) bool { return waitGone(context.Background(), pid, d, nil) }

func gone(pid int, exited <-chan struct{}) bool {
	if exited == nil {
		return !Alive(pid)
	}
	select {
	case <-exited:
		return true
	default:
		return false
	}
}

// waitGone waits up to d, or until ctx ends, for pid to be gone: for
// exited to close, or without it for /proc to say so.
func waitGone(ctx context.Context, pid int, d time.Duration, exited <-chan struct{}) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	var poll <-chan time.Time
	if exited == nil {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		poll = t.C
	}
	for !gone(pid, exited) {
		select {
		case <-exited:
		case <-poll:
		case <-deadline.C:
			return gone(pid, exited)
		case <-ctx.Done():
			return gone(pid, exited)
		}
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
	var out []int
	for _, pid := range Pids() {
		if pid != os.Getpid() && InNetns(pid, name) && Alive(pid) {
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

// NetlinkBacklog sums the receive queues of the netfilter netlink
// sockets (protocol 12) pid holds open: events the kernel delivered to
// it that it has not read yet. It reads /proc/PID/fd for the sockets'
// inodes and /proc/PID/net/netlink (the table of pid's network
// namespace) for their queues.
func NetlinkBacklog(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "net", "netlink"))
	if err != nil {
		return 0, err
	}
	return parseNetlinkBacklog(string(b), inodes)
}

// parseNetlinkBacklog reads /proc/net/netlink ("sk Eth Pid Groups Rmem
// Wmem Dump Locks Drops Inode") and sums Rmem of the NETLINK_NETFILTER
// sockets whose inode is in inodes.
func parseNetlinkBacklog(table string, inodes map[string]bool) (int, error) {
	total := 0
	for i, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if i == 0 {
			if len(f) < 10 || f[1] != "Eth" || f[4] != "Rmem" || f[9] != "Inode" {
				return 0, fmt.Errorf("/proc/net/netlink: unexpected header %q", line)
			}
			continue
		}
		if len(f) < 10 || f[1] != "12" || !inodes[f[9]] {
			continue
		}
		n, err := strconv.Atoi(f[4])
		if err != nil {
			return 0, fmt.Errorf("/proc/net/netlink: Rmem %q: %w", f[4], err)
		}
		total += n
	}
	return total, nil
}
