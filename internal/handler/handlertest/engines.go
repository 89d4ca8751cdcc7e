package handlertest

import (
	"context"
	"sync"

	"github.com/ctsync/ctsync/internal/handler"
)

// Engines is a handler.Engines that runs nothing: it records what a
// handler asked of the supervisor ("start NAME", "restart NAME", "keep
// NAME" for an Ensure of one that runs, "reload NAME", "stop NAME") and
// gives every engine it starts a pid of its own making. Adopt finds only
// what it started itself: it never runs beside an earlier ctsyncd.
type Engines struct {
	// OnStart, when set, runs after each start and restart with the new
	// pid, and its error is Ensure's: a test whose handler reads what the
	// supervisor records of a start writes the record here.
	OnStart func(spec handler.EngineSpec, pid int) error
	// OnReload, when set, is what Reload does (keepalived deleting its
	// reload file), and its error is Reload's.
	OnReload func(name string) error

	mu    sync.Mutex
	pids  map[string]int
	specs []handler.EngineSpec
	calls []string
	last  int
}

var _ handler.Engines = (*Engines)(nil)

// Ensure implements handler.Engines.
func (e *Engines) Ensure(_ context.Context, spec handler.EngineSpec, restart bool) error {
	e.mu.Lock()
	e.specs = append(e.specs, spec)
	switch {
	case restart:
		e.calls = append(e.calls, "restart "+spec.Name)
	case e.pids[spec.Name] == 0:
		e.calls = append(e.calls, "start "+spec.Name)
	default:
		e.calls = append(e.calls, "keep "+spec.Name)
		e.mu.Unlock()
		return nil
	}
	if e.pids == nil {
		e.pids = map[string]int{}
	}
	if e.last == 0 {
		e.last = 100
	}
	e.last++
	pid := e.last
	e.pids[spec.Name] = pid
	onStart := e.OnStart
	e.mu.Unlock()
	if onStart != nil {
		return onStart(spec, pid)
	}
	return nil
}

// Reload implements handler.Engines.
func (e *Engines) Reload(_ context.Context, name string) error {
	e.mu.Lock()
	e.calls = append(e.calls, "reload "+name)
	onReload := e.OnReload
	e.mu.Unlock()
	if onReload != nil {
		return onReload(name)
	}
	return nil
}

// Stop implements handler.Engines.
func (e *Engines) Stop(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "stop "+name)
	delete(e.pids, name)
	return nil
}

// Adopt implements handler.Engines.
func (e *Engines) Adopt(spec handler.EngineSpec) int { return e.Pid(spec.Name) }

// Pid implements handler.Engines.
func (e *Engines) Pid(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pids[name]
}

// Calls returns the calls recorded so far and forgets them.
func (e *Engines) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.calls
	e.calls = nil
	return c
}

// Specs returns the spec of every Ensure so far.
func (e *Engines) Specs() []handler.EngineSpec {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]handler.EngineSpec(nil), e.specs...)
}

// SetPid makes engine name run as pid, as one an earlier ctsyncd left
// would: Adopt finds it.
func (e *Engines) SetPid(name string, pid int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pids == nil {
		e.pids = map[string]int{}
	}
	e.pids[name] = pid
}
