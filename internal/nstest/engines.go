package nstest

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/proc"
	"github.com/ctsync/ctsync/internal/supervise"
)

// Engines is the smallest real handler.Engines: it starts each engine in
// the namespace as ctsyncd's supervisor does (supervise.Spawn: detached,
// logging to the spec's LogFile, leaving the Started record and pid file
// the handlers decide from), so that Apply can be tested end to end
// against the real daemon. Unlike the supervisor it restarts nothing that
// dies, and Adopt finds only what it started itself.
type Engines struct {
	ns   *NS
	mu   sync.Mutex
	pids map[string]int
	done map[string]chan struct{}
}

var _ handler.Engines = (*Engines)(nil)

// Engines returns the namespace's engines. Every engine still running
// when the test ends is stopped before the namespace is removed.
func (n *NS) Engines() *Engines {
	e := &Engines{ns: n, pids: map[string]int{}, done: map[string]chan struct{}{}}
	n.t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for name := range e.pids {
			e.stopLocked(name)
		}
	})
	return e
}

// Ensure implements handler.Engines.
func (e *Engines) Ensure(_ context.Context, spec handler.EngineSpec, restart bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pidLocked(spec.Name) != 0 {
		if !restart {
			return nil
		}
		e.stopLocked(spec.Name)
	}
	return e.ns.Do(func() error {
		pid, done, err := supervise.Spawn(spec)
		if err != nil {
			return err
		}
		e.pids[spec.Name], e.done[spec.Name] = pid, done
		return nil
	})
}

func (e *Engines) stopLocked(name string) {
	if e.pidLocked(name) == 0 {
		return
	}
	_, _ = proc.Terminate(context.Background(), e.pids[name], 5*time.Second, e.done[name])
	delete(e.pids, name)
}

// Reload implements handler.Engines: SIGHUP, as the supervisor sends.
func (e *Engines) Reload(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	pid := e.pidLocked(name)
	if pid == 0 {
		return fmt.Errorf("reloading %s: not running", name)
	}
	return syscall.Kill(pid, syscall.SIGHUP)
}

// Stop implements handler.Engines.
func (e *Engines) Stop(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopLocked(name)
	return nil
}

// Adopt implements handler.Engines.
func (e *Engines) Adopt(spec handler.EngineSpec) int { return e.Pid(spec.Name) }

// Pid implements handler.Engines.
func (e *Engines) Pid(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pidLocked(name)
}

func (e *Engines) pidLocked(name string) int {
	if e.pids[name] == 0 {
		return 0
	}
	select {
	case <-e.done[name]:
		return 0
	default:
		return e.pids[name]
	}
}
