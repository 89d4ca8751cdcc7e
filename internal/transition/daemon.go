package transition

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/supervise"
)

// StartConntrackd starts conntrackd under root exactly as ctsyncd's
// supervisor does (supervise.Spawn with conntrackd.Spec): detached, in the
// foreground mode so the pid is the daemon's own, logging under the root,
// with the pid file the supervisor adopts when ctsyncd comes back. bin
// empty means conntrackd.Binary(). exited is closed when the process ends.
func StartConntrackd(root paths.Root, bin string) (pid int, exited <-chan struct{}, err error) {
	if bin == "" {
		if bin, err = conntrackd.Binary(); err != nil {
			return 0, nil, err
		}
	}
	pid, done, err := supervise.Spawn(conntrackd.Spec(root, bin))
	if err != nil {
		return 0, nil, err
	}
	return pid, done, nil
}

// liveConntrackd returns the pid of a running conntrackd of root, run
// as bin ("" is conntrackd.Binary()): the one its Started record names
// while that process still runs with the same start ticks and command
// line (the supervisor's adoption check), else an orphan, a process with
// that exact command line, which names this root's files, whose start
// was never recorded. A pid file and a process name prove nothing:
// anyone can name a process conntrackd. 0 means none.
func liveConntrackd(root paths.Root, bin string) int {
	if bin == "" {
		var err error
		if bin, err = conntrackd.Binary(); err != nil {
			return 0
		}
	}
	spec := conntrackd.Spec(root, bin)
	if pid := supervise.AdoptablePid(spec); pid != 0 {
		return pid
	}
	if o := supervise.Orphans(spec, 0); len(o) > 0 {
		return o[0]
	}
	return 0
}

// answers reports whether conntrackd answers a statistics request.
func answers(ctx context.Context, c *conntrackd.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b, err := c.Do(ctx, conntrackd.Stats)
	if err != nil {
		return err
	}
	if _, err := parseStats(b); err != nil {
		return err
	}
	return nil
}

// ensureRunning makes conntrackd answer on its socket: if it does not,
// it clears a stale lock file (only when no live conntrackd uses this
// config: conntrackd refuses to start while the file exists, and a crash
// leaves it behind) and starts the daemon, then waits until it answers.
// It returns what it did, for the record.
func ensureRunning(ctx context.Context, o *Options, c *conntrackd.Client) (string, error) {
	if err := answers(ctx, c, 2*time.Second); err == nil {
		return "running", nil
	}
	if pid := liveConntrackd(o.Root, o.Conntrackd); pid != 0 {
		// Starting, or busy: a second daemon would fight it for the lock.
		if err := waitAnswer(ctx, c, nil); err != nil {
			return "", fmt.Errorf("conntrackd pid %d is alive but does not answer on %s: %w", pid, c.Path, err)
		}
		return fmt.Sprintf("pid %d answered after waiting", pid), nil
	}
	var did []string
	lock := o.Root.ConntrackdLock()
	if _, err := os.Stat(lock); err == nil {
		if err := os.Remove(lock); err != nil {
			return "", fmt.Errorf("removing stale conntrackd lock %s: %w", lock, err)
		}
		did = append(did, "removed stale lock "+lock)
	}
	pid, exited, err := StartConntrackd(o.Root, o.Conntrackd)
	if err != nil {
		return "", err
	}
	did = append(did, fmt.Sprintf("started pid %d", pid))
	if err := waitAnswer(ctx, c, exited); err != nil {
		if exited != nil {
			select {
			case <-exited:
				err = fmt.Errorf("conntrackd pid %d exited; see %s", pid, o.Root.ConntrackdLog())
			default:
			}
		}
		return strings.Join(did, ", "), fmt.Errorf("conntrackd did not come up: %w", err)
	}
	return strings.Join(did, ", "), nil
}

// waitAnswer waits until conntrackd answers a statistics request with
// statistics, ctx ends, or the process exits.
func waitAnswer(ctx context.Context, c *conntrackd.Client, exited <-chan struct{}) error {
	return conntrackd.WaitAnswer(ctx, func(ctx context.Context) error { return answers(ctx, c, time.Second) }, exited)
}
