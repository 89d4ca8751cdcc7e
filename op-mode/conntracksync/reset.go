package conntracksync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/opcmd"
)

// cacheCount is one cache's current size from conntrackd -s.
func cacheCount(ctx context.Context, c *conntrackd.Client, name string) (uint64, error) {
	st, err := readStats(ctx, c, conntrackd.Stats)
	if err != nil {
		return 0, err
	}
	cc, ok := st.Cache[name]
	if !ok {
		return 0, fmt.Errorf("conntrackd statistics have no %s cache", name)
	}
	return cc.Current, nil
}

// As VyOS does: flush the internal cache, then resync it from the kernel
// table; the outcome is checked through the cache's size afterwards.
func runResetInternal(ctx context.Context, env *opcmd.Env, args []string) error {
	args, _ = opcmd.StripJSON(args)
	if err := noArgs("reset conntrack-sync internal-cache", args); err != nil {
		return err
	}
	cfg, c, err := prepare(env)
	if err != nil {
		return err
	}
	before, err := cacheCount(ctx, c, "internal")
	if err != nil {
		return err
	}
	if _, err := ask(ctx, c, conntrackd.FlushInternal); err != nil {
		return err
	}
	resync := conntrackd.Resync
	if cfg.ExpectSync {
		resync = conntrackd.ResyncAll
	}
	if _, err := ask(ctx, c, resync); err != nil {
		return err
	}
	// The resync is a kernel dump conntrackd reads after answering: give
	// the count a moment to settle.
	after, err := settle(ctx, c, "internal", 3*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "internal cache flushed (%d entries) and resynced with the kernel table: %d entries\n", before, after)
	return nil
}

// As VyOS does: flush the external cache, then ask the peer to send its
// internal cache again.
func runResetExternal(ctx context.Context, env *opcmd.Env, args []string) error {
	args, _ = opcmd.StripJSON(args)
	if err := noArgs("reset conntrack-sync external-cache", args); err != nil {
		return err
	}
	cfg, c, err := prepare(env)
	if err != nil {
		return err
	}
	if cfg.DisableExternalCache {
		return errors.New("the external cache is disabled (service conntrack-sync disable-external-cache): nothing to reset")
	}
	before, err := cacheCount(ctx, c, "external")
	if err != nil {
		return err
	}
	if _, err := ask(ctx, c, conntrackd.FlushExternal); err != nil {
		return err
	}
	flushed, err := cacheCount(ctx, c, "external")
	if err != nil {
		return err
	}
	if flushed != 0 {
		return fmt.Errorf("external cache still holds %d entries after the flush", flushed)
	}
	if _, err := ask(ctx, c, conntrackd.RequestResync); err != nil {
		return err
	}
	after, err := settle(ctx, c, "external", 3*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "external cache flushed (%d entries); resync requested from the peer: %d entries received\n", before, after)
	return nil
}

// settle polls a cache's size until it stops changing (two equal
// readings 300 ms apart, the first non-zero) or max passes.
func settle(ctx context.Context, c *conntrackd.Client, name string, max time.Duration) (uint64, error) {
	deadline := time.Now().Add(max)
	last, err := cacheCount(ctx, c, name)
	if err != nil {
		return 0, err
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		n, err := cacheCount(ctx, c, name)
		if err != nil {
			return 0, err
		}
		if n == last && n != 0 {
			return n, nil
		}
		last = n
	}
	return last, nil
}

// ErrCommitInProgress refuses a restart while ctsyncd commits.
var ErrCommitInProgress = errors.New("a commit is in progress: try again when it has finished")

// restartTimeout bounds the wait for the supervisor's new conntrackd.
var restartTimeout = 20 * time.Second

// Until ctsyncd offers a restart call, the restart is done here: with the
// commit lock held (so no commit rewrites conntrackd meanwhile), stop
// conntrackd and wait for ctsyncd's supervisor to start a new one.
func runRestart(ctx context.Context, env *opcmd.Env, args []string) error {
	args, _ = opcmd.StripJSON(args)
	if err := noArgs("restart conntrack-sync", args); err != nil {
		return err
	}
	if _, err := LoadConfig(env.Root); err != nil {
		return err
	}
	if _, err := os.Stat(env.Root.CtsyncdSocket()); err != nil {
		return fmt.Errorf("ctsyncd is not running (no %s): nothing would start conntrackd again", env.Root.CtsyncdSocket())
	}
	lock, err := os.OpenFile(env.Root.CommitLock(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		if os.IsPermission(err) {
			return errors.New("no permission to take the commit lock (run as root)")
		}
		return fmt.Errorf("opening commit lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return ErrCommitInProgress
		}
		return fmt.Errorf("taking commit lock: %w", err)
	}
	old, alive := readPid(env.Root.ConntrackdPid())
	if !alive {
		return fmt.Errorf("%w (pid file %s names no live process)", ErrNotRunning, env.Root.ConntrackdPid())
	}
	if err := syscall.Kill(old, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.EPERM) {
			return fmt.Errorf("no permission to stop conntrackd (pid %d): run as root", old)
		}
		return fmt.Errorf("stopping conntrackd (pid %d): %w", old, err)
	}
	deadline := time.Now().Add(restartTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if pid, ok := readPid(env.Root.ConntrackdPid()); ok && pid != old {
			fmt.Fprintf(env.Out, "conntrackd restarted: pid %d (was %d)\n", pid, old)
			return nil
		}
	}
	return fmt.Errorf("conntrackd (pid %d) was stopped but no new conntrackd started within %s: check ctsyncd's log", old, restartTimeout)
}

// readPid returns the pid in path and whether that process is alive and
// is conntrackd (a stale pid file may name a reused pid).
func readPid(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "conntrackd" {
		return pid, false
	}
	return pid, true
}
