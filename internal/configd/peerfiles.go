package configd

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/session"
)

// peerFiles opens the files a session names with the permissions of the
// user at the other end of its socket: ctsyncd runs as root, and the
// ctsync group is a configuration role, not a way to root. It sets the
// filesystem uid, gid and groups of one locked OS thread to the peer's
// for the open, read and write, which is what the kernel checks for
// file access (and which drops CAP_DAC_OVERRIDE for that thread), then
// sets them back. A root peer acts as itself.
type peerFiles struct {
	cred syscall.Ucred
}

var _ session.Files = (*peerFiles)(nil)

func (p *peerFiles) ReadFile(path string, max int64) (data []byte, err error) {
	err = p.as(func() error {
		data, err = session.ReadRegular(path, max)
		return err
	})
	return data, err
}

func (p *peerFiles) WriteFile(path string, data []byte, mode os.FileMode) error {
	return p.as(func() error { return atomicfile.WriteFile(path, data, mode) })
}

// as runs f with the peer's filesystem identity on this goroutine's
// thread.
func (p *peerFiles) as(f func() error) error {
	if p.cred.Uid == 0 {
		return f()
	}
	groups := peerGroups(int(p.cred.Pid), p.cred.Gid)
	runtime.LockOSThread()
	// The thread is given back to the runtime only when every identity
	// was restored; otherwise it dies with this goroutine.
	restored := false
	defer func() {
		if restored {
			runtime.UnlockOSThread()
		}
	}()
	if err := setgroups(groups); err != nil {
		return fmt.Errorf("taking the client's groups: %w", err)
	}
	unix.Setfsgid(int(p.cred.Gid))
	unix.Setfsuid(int(p.cred.Uid))
	err := f()
	unix.Setfsuid(0)
	unix.Setfsgid(0)
	if setgroups(nil) == nil && fsuid() == 0 {
		restored = true
	}
	return err
}

// fsuid reads the thread's filesystem uid: setfsuid(-1) changes nothing
// and returns the current one.
func fsuid() int {
	prev, _ := unix.SetfsuidRetUid(-1)
	return prev
}

// setgroups sets the supplementary groups of this thread only: the raw
// system call, not syscall.Setgroups, which sets them for every thread.
func setgroups(gids []uint32) error {
	var ptr unsafe.Pointer
	if len(gids) > 0 {
		ptr = unsafe.Pointer(&gids[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), uintptr(ptr), 0); e != 0 {
		return e
	}
	return nil
}

// peerGroups are the peer's supplementary groups, from its
// /proc/PID/status, with its primary group; only the primary one when
// they cannot be read.
func peerGroups(pid int, gid uint32) []uint32 {
	out := []uint32{gid}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		for _, w := range strings.Fields(rest) {
			if g, err := strconv.ParseUint(w, 10, 32); err == nil && uint32(g) != gid {
				out = append(out, uint32(g))
			}
		}
	}
	return out
}
