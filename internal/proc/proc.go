// Package proc answers, from /proc and pid files, whether a process runs
// and what it is. Every part of ctsync that adopts, supervises, waits for
// or reports on an engine asks the same question, and a pid file may name
// a pid the kernel has since given to another program or left as a zombie.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
// base name), which guards against a pid reused by another program.
func Runs(pid int, binary string) bool {
	if !Alive(pid) {
		return false
	}
	argv := Argv(pid)
	return len(argv) > 0 && filepath.Base(argv[0]) == binary
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

// FromPidFile returns the pid in path when that process runs binary, else 0.
func FromPidFile(path, binary string) int {
	pid, err := ReadPidFile(path)
	if err != nil || !Runs(pid, binary) {
		return 0
	}
	return pid
}

// StartTime reads when pid started from /proc: field 22 of
// /proc/PID/stat is the start in clock ticks after boot (btime in
// /proc/stat). USER_HZ is 100 on every Linux architecture Go supports.
func StartTime(pid int) *time.Time {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name may contain spaces: fields start after ")".
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
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
