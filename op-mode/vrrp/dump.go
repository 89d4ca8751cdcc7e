package vrrp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/supervise"
)

// The one-line failures every command of the family can end with.
var (
	ErrNotConfigured = errors.New("VRRP is not configured (no high-availability vrrp in the running configuration)")
	ErrNotRunning    = errors.New("keepalived is not running")
	ErrUsage         = errors.New("usage")
)

// Kind is one of keepalived's state dumps: the signal that asks for it
// and the file its VRRP process writes into $TMPDIR.
type Kind struct {
	Name   string
	Signal syscall.Signal
	File   string
}

// The dumps keepalived 2.2 writes. The signal numbers are what
// `keepalived --signum=JSON|DATA|STATS` prints with glibc: SIGRTMIN is
// 34 there, and JSON is SIGRTMIN+2.
var (
	JSONDump  = Kind{Name: "JSON", Signal: syscall.Signal(36), File: "keepalived.json"}
	DataDump  = Kind{Name: "DATA", Signal: syscall.SIGUSR1, File: "keepalived.data"}
	StatsDump = Kind{Name: "STATS", Signal: syscall.SIGUSR2, File: "keepalived.stats"}
)

// dumpTimeout bounds the wait for keepalived to write a dump: it does so
// from its event loop, within milliseconds when it is healthy.
var dumpTimeout = 5 * time.Second

// Configured reports whether the running config has high-availability
// vrrp, so that a missing keepalived can be told apart from no VRRP at all.
func Configured(root paths.Root) error {
	tree, err := schema.Default().ReadConfig(root.RunningConfig())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return ErrNotConfigured
	case errors.As(err, new(*os.PathError)):
		return fmt.Errorf("reading running config: %w", err)
	case err != nil:
		return fmt.Errorf("reading running config %s: %w", root.RunningConfig(), err)
	}
	if !tree.Exists("high-availability", "vrrp", "group") {
		return ErrNotConfigured
	}
	return nil
}

// Keepalived finds the keepalived of root: the pid of its parent process
// (the one that takes the dump signals and passes them to its VRRP
// child) and the directory its dumps land in.
func Keepalived(root paths.Root) (pid int, dir string, err error) {
	// The process its Started record names, while it runs (pid, start
	// ticks, command line): it is signalled, and a pid file may name
	// any process called keepalived.
	pid = supervise.RecordedPid(handler.EngineSpec{StartedFile: root.KeepalivedStarted()})
	if pid == 0 {
		return 0, "", fmt.Errorf("%w (no process started for this router runs: %s); ctsyncd starts it at commit and keeps it running", ErrNotRunning, root.KeepalivedStarted())
	}
	dir = root.KeepalivedDumpDir()
	// Several routers share a machine, and keepalived writes its dumps
	// to $TMPDIR, /tmp when unset: only a keepalived started with this
	// router's own TMPDIR can be read without the risk of reading
	// another router's dump.
	if tmp := environ(pid, "TMPDIR"); filepath.Clean(tmp) != filepath.Clean(dir) {
		if tmp == "" {
			tmp = "/tmp"
		}
		return 0, "", fmt.Errorf("keepalived (pid %d) writes its state dumps to %s, shared with other routers, not to %s: run `ctsync restart vrrp` once to restart it with its own", pid, tmp, dir)
	}
	return pid, dir, nil
}

// environ returns the value of key in the environment of pid.
func environ(pid int, key string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return ""
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok && k == key {
			return v
		}
	}
	return ""
}

// Fetch asks the keepalived of root for a dump and returns its content.
// The old file is removed first, so what is read was written after the
// signal; keepalived writes the file in place, so Fetch waits until it
// is whole: valid JSON for the JSON dump, and for the text dumps a size
// that has stopped changing.
func Fetch(ctx context.Context, root paths.Root, k Kind) ([]byte, error) {
	pid, dir, err := Keepalived(root)
	if err != nil {
		return nil, err
	}
	// Two ctsync commands asking at once would each remove the file the
	// other waits for: one at a time per router.
	lock, err := os.OpenFile(root.KeepalivedDumpLock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking keepalived's dumps: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking keepalived's dumps: %w", err)
	}
	path := filepath.Join(dir, k.File)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the old %s: %w", path, err)
	}
	ctx, cancel := context.WithTimeout(ctx, dumpTimeout)
	defer cancel()
	// A keepalived just started (restart vrrp asks at once) has not set
	// up its signals yet, and the dump signals' default is to terminate:
	// signalled now, it would die. Wait until it receives the signal
	// (keepalived blocks it and reads it from a signalfd).
	for !proc.Receives(pid, k.Signal) {
		select {
		case <-ctx.Done():
			if !proc.Alive(pid) {
				return nil, fmt.Errorf("%w (pid %d exited)", ErrNotRunning, pid)
			}
			return nil, fmt.Errorf("keepalived (pid %d) does not take the %s dump signal within %s: it is not ready", pid, k.Name, dumpTimeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := syscall.Kill(pid, k.Signal); err != nil {
		return nil, fmt.Errorf("asking keepalived (pid %d) for its %s dump: %w", pid, k.Name, err)
	}
	var last []byte
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			if k == JSONDump && json.Valid(b) {
				return b, nil
			}
			if k != JSONDump && bytes.Equal(b, last) {
				return b, nil
			}
			last = b
		}
		select {
		case <-ctx.Done():
			if !proc.Alive(pid) {
				return nil, fmt.Errorf("%w (pid %d exited)", ErrNotRunning, pid)
			}
			return nil, fmt.Errorf("keepalived (pid %d) wrote no %s dump to %s within %s", pid, k.Name, path, dumpTimeout)
		case <-time.After(25 * time.Millisecond):
		}
	}
}
