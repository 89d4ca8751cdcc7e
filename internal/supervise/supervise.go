// Package supervise runs the engines (conntrackd, keepalived) for ctsyncd
// where systemd does not: it starts them in their own session so that they
// outlive a ctsyncd restart, records their pids in pid files, restarts them
// when they crash (clearing the stale lock file a crash leaves), and adopts
// the processes a previous ctsyncd — or the VRRP hook, which must work with
// ctsyncd stopped — left running.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/handler"
	procfs "github.com/ctsync/ctsync/internal/proc"
)

// Supervisor implements handler.Engines.
type Supervisor struct {
	log *zap.Logger

	// OnStart, when set, is called (in its own goroutine, without any
	// lock held) after every start of an engine — a first start, a
	// restart on request or by a commit, a restart after a crash — and
	// after adopting one a previous ctsyncd or the hook left running
	// (adopted true). ctsyncd uses it to make every conntrackd start
	// refill its caches, whoever caused the start: one mechanism, not one
	// per caller. Set it before the first Ensure or Adopt.
	OnStart func(spec handler.EngineSpec, pid int, adopted bool)

	mu     sync.Mutex
	procs  map[string]*proc
	closed bool
}

type proc struct {
	spec     handler.EngineSpec
	pid      int
	since    time.Time
	done     chan struct{} // closed when pid exits
	wanted   bool          // restart on exit
	restarts int
}

var _ handler.Engines = (*Supervisor)(nil)

// New returns a supervisor that logs to log.
func New(log *zap.Logger) *Supervisor {
	if log == nil {
		log = zap.NewNop()
	}
	return &Supervisor{log: log, procs: map[string]*proc{}}
}

// Adopt implements handler.Engines: the engine's pid when it runs, taking
// over one that a previous ctsyncd or the VRRP hook left running.
func (s *Supervisor) Adopt(spec handler.EngineSpec) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.adoptLocked(spec); p != nil && alive(p) {
		return p.pid
	}
	return 0
}

// adoptLocked returns the engine's record, adopting a process left
// running; s.mu is held.
func (s *Supervisor) adoptLocked(spec handler.EngineSpec) *proc {
	p := s.procs[spec.Name]
	if p != nil {
		return p
	}
	pid := AdoptablePid(spec)
	ReapOrphans(s.log, spec, pid)
	if pid == 0 {
		return nil
	}
	p = &proc{spec: spec, pid: pid, since: startedAt(pid), done: make(chan struct{}), wanted: true}
	s.procs[spec.Name] = p
	go watchPid(pid, p.done)
	go s.monitor(p)
	s.log.Info("adopted running engine", zap.String("engine", spec.Name), zap.Int("pid", pid))
	s.started(spec, pid, true)
	return p
}

// Ensure implements handler.Engines.
func (s *Supervisor) Ensure(ctx context.Context, spec handler.EngineSpec, restart bool) error {
	s.mu.Lock()
	p := s.adoptLocked(spec)
	if p != nil && alive(p) {
		p.spec = spec
		p.wanted = true
		s.mu.Unlock()
		if !restart {
			return nil
		}
		if err := s.Stop(ctx, spec.Name); err != nil {
			return err
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	return s.startLocked(spec)
}

// startLocked starts spec; s.mu is held.
func (s *Supervisor) startLocked(spec handler.EngineSpec) error {
	if s.closed {
		return errors.New("supervisor is shutting down")
	}
	pid, done, err := Spawn(spec)
	if err != nil {
		return err
	}
	prev := s.procs[spec.Name]
	p := &proc{spec: spec, pid: pid, since: time.Now(), done: done, wanted: true}
	if prev != nil {
		p.restarts = prev.restarts
	}
	s.procs[spec.Name] = p
	go s.monitor(p)
	s.log.Info("started engine", zap.String("engine", spec.Name), zap.Int("pid", pid), zap.Strings("argv", spec.Argv))
	s.started(spec, pid, false)
	return nil
}

// started calls OnStart off the lock: the callback talks to the engine
// and may take long.
func (s *Supervisor) started(spec handler.EngineSpec, pid int, adopted bool) {
	if s.OnStart != nil {
		go s.OnStart(spec, pid, adopted)
	}
}

// monitor restarts p when it exits while still wanted.
func (s *Supervisor) monitor(p *proc) {
	<-p.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.procs[p.spec.Name] != p || !p.wanted {
		return
	}
	s.log.Warn("engine exited; restarting", zap.String("engine", p.spec.Name), zap.Int("pid", p.pid))
	// Back off when it dies straight after starting, so a broken engine
	// does not spin.
	backoff := time.Duration(0)
	if time.Since(p.since) < 10*time.Second {
		backoff = min(time.Duration(1<<min(p.restarts, 5))*250*time.Millisecond, 5*time.Second)
	}
	p.restarts++
	go func() {
		time.Sleep(backoff)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || s.procs[p.spec.Name] != p || !p.wanted {
			return
		}
		if err := s.startLocked(p.spec); err != nil {
			s.log.Error("restarting engine failed", zap.String("engine", p.spec.Name), zap.Error(err))
			// Try again later through a fresh monitor.
			retry := &proc{spec: p.spec, done: make(chan struct{}), wanted: true, restarts: p.restarts, since: time.Now()}
			s.procs[p.spec.Name] = retry
			close(retry.done)
			go s.monitor(retry)
		}
	}()
}

// Restart stops a supervised engine and starts it again with the spec it
// runs with, for an operator's restart. It reports the old and new pids.
func (s *Supervisor) Restart(ctx context.Context, name string) (oldPid, newPid int, err error) {
	s.mu.Lock()
	p := s.procs[name]
	s.mu.Unlock()
	if p == nil {
		return 0, 0, fmt.Errorf("%s is not running under this ctsyncd (is it configured?)", name)
	}
	oldPid = s.Pid(name)
	if err := s.Ensure(ctx, p.spec, true); err != nil {
		return oldPid, 0, err
	}
	return oldPid, s.Pid(name), nil
}

// Reload sends SIGHUP to a running engine.
func (s *Supervisor) Reload(ctx context.Context, name string) error {
	s.mu.Lock()
	p := s.procs[name]
	s.mu.Unlock()
	if p == nil || !alive(p) {
		return fmt.Errorf("reloading %s: not running", name)
	}
	// The engine re-reads its file: from now on that is what it runs.
	// Recorded before the signal, as Spawn hashes before the start.
	if err := rerecord(p.spec, p.pid); err != nil {
		return fmt.Errorf("reloading %s: %w", name, err)
	}
	if err := syscall.Kill(p.pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reloading %s: %w", name, err)
	}
	return nil
}

// stopGrace is how long an engine has to exit on SIGTERM before it is
// killed.
const stopGrace = 5 * time.Second

// Stop stops the engine and waits until it exited.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	s.mu.Lock()
	p := s.procs[name]
	if p != nil {
		p.wanted = false
	}
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	_, err := procfs.Terminate(ctx, p.pid, stopGrace, p.done)
	if err == nil {
		_ = atomicfile.Remove(p.spec.PidFile)
		if p.spec.LockFile != "" {
			_ = os.Remove(p.spec.LockFile)
		}
		s.mu.Lock()
		if s.procs[name] == p {
			delete(s.procs, name)
		}
		s.mu.Unlock()
	}
	return err
}

// Pid returns the engine's pid, 0 when it is not running.
func (s *Supervisor) Pid(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.procs[name]; p != nil && alive(p) {
		return p.pid
	}
	return 0
}

// Restarts returns how often the engine was restarted after a crash.
func (s *Supervisor) Restarts(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.procs[name]; p != nil {
		return p.restarts
	}
	return 0
}

// Release stops supervising without stopping the engines: ctsyncd exits
// and a later one adopts them.
func (s *Supervisor) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func alive(p *proc) bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Fault, when set, is called where a crash of the starter leaves a
// different trail: "engine-started NAME" (the process runs, nothing
// records it yet) and "engine-recorded NAME" (its Started record is
// written, its pid file not). Nil outside crash tests.
var Fault func(point string)

func at(point string) {
	if Fault != nil {
		Fault(point)
	}
}

// Spawn starts spec detached (its own session, so it outlives its
// starter), clears a stale lock file first, and writes the pid file. done
// is closed when the process exits. The VRRP hook uses it too, so that
// whoever starts an engine leaves the same trail for ctsyncd to adopt.
func Spawn(spec handler.EngineSpec) (pid int, done chan struct{}, err error) {
	if len(spec.Argv) == 0 {
		return 0, nil, fmt.Errorf("starting %s: no command", spec.Name)
	}
	if live := AdoptablePid(spec); live != 0 {
		return 0, nil, fmt.Errorf("starting %s: pid %d already runs it for this root", spec.Name, live)
	}
	// An engine started for this root whose start was never recorded:
	// stop it first, or two would run and fight over the lock.
	ReapOrphans(nil, spec, 0)
	if spec.LockFile != "" {
		// Nothing live holds it: a crash left it and the engine would
		// refuse to start.
		_ = os.Remove(spec.LockFile)
	}
	for _, f := range []string{spec.PidFile, spec.LockFile, spec.LogFile} {
		if f != "" {
			if err := atomicfile.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return 0, nil, fmt.Errorf("starting %s: %w", spec.Name, err)
			}
		}
	}
	var sum string
	if spec.ConfigFile != "" {
		// Hashed before the start: the engine reads the file after, so
		// the record never claims a newer file than the engine read.
		if sum, err = HashFile(spec.ConfigFile); err != nil {
			return 0, nil, fmt.Errorf("starting %s: %w", spec.Name, err)
		}
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if len(spec.Env) > 0 {
		cmd.Env = append(os.Environ(), spec.Env...)
	}
	if spec.LogFile != "" {
		lf, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return 0, nil, fmt.Errorf("starting %s: %w", spec.Name, err)
		}
		defer lf.Close()
		cmd.Stdout, cmd.Stderr = lf, lf
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("starting %s: %w", spec.Name, err)
	}
	done = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	pid = cmd.Process.Pid
	at("engine-started " + spec.Name)
	if err := writeStarted(spec, pid, sum); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return 0, nil, fmt.Errorf("starting %s: recording its start: %w", spec.Name, err)
	}
	at("engine-recorded " + spec.Name)
	if spec.PidFile != "" {
		if err := atomicfile.WriteFile(spec.PidFile, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			_ = cmd.Process.Kill()
			<-done
			return 0, nil, fmt.Errorf("starting %s: %w", spec.Name, err)
		}
	}
	return pid, done, nil
}

// AdoptablePid returns the pid of the engine spec describes when it
// runs, else 0. A process is that engine for that root only when its
// Started record says so: the pid it names still runs with the same
// start ticks and the same command line (which holds the root's paths),
// and that command line is spec's. A pid file alone, or a process name,
// proves nothing: a pid is reused, and anyone can name a process
// conntrackd. A spec without a Started record (test stand-ins) is judged
// by its pid file and the whole command line.
func AdoptablePid(spec handler.EngineSpec) int {
	if len(spec.Argv) == 0 {
		return 0
	}
	if spec.StartedFile != "" {
		st, err := ReadStarted(spec)
		if err != nil || st == nil || !slices.Equal(st.Argv, spec.Argv) || !st.Running() {
			return 0
		}
		return st.Pid
	}
	if spec.PidFile == "" {
		return 0
	}
	pid, err := procfs.ReadPidFile(spec.PidFile)
	if err != nil || !procfs.Alive(pid) || !slices.Equal(procfs.Argv(pid), spec.Argv) {
		return 0
	}
	return pid
}

// RecordedPid returns the pid spec's Started record names while that
// process still runs (the same pid, start ticks and command line; see
// Started.Running), else 0: AdoptablePid's check for those that report
// on an engine, signal it or wait for it without knowing the exact
// command line it was started with (op-mode, readiness, the pair view).
// Only spec.StartedFile is read. A pid file and a process name are never
// enough: anyone can name a process keepalived and write a pid file
// where a crash left one.
func RecordedPid(spec handler.EngineSpec) int {
	st, err := ReadStarted(spec)
	if err != nil || st == nil || !st.Running() {
		return 0
	}
	return st.Pid
}

// Orphans are the processes running spec's exact command line other
// than keep: an engine started for this root whose start was never
// recorded (its starter died between starting it and writing the
// record). The command line names the root's files, so a process of
// another root or a foreign one of the same name never matches.
func Orphans(spec handler.EngineSpec, keep int) []int {
	if len(spec.Argv) == 0 {
		return nil
	}
	var out []int
	for _, pid := range procfs.Pids() {
		if pid == keep || pid == os.Getpid() {
			continue
		}
		// A child an engine forked (keepalived's VRRP process) has its
		// parent's command line: the parent is the engine.
		if argv := procfs.Argv(pid); slices.Equal(argv, spec.Argv) && !slices.Equal(procfs.Argv(procfs.Parent(pid)), argv) {
			out = append(out, pid)
		}
	}
	return out
}

// ReapOrphans stops every orphan of spec (see Orphans) but keep, and
// waits for them to exit: one engine per root, and the orphan holds the
// lock file the next start would otherwise remove from under it.
func ReapOrphans(log *zap.Logger, spec handler.EngineSpec, keep int) {
	for _, pid := range Orphans(spec, keep) {
		if log != nil {
			log.Warn("stopping an engine whose start was never recorded", zap.String("engine", spec.Name), zap.Int("pid", pid))
		}
		_ = procfs.Stop(pid, stopGrace)
	}
}

// watchPid closes done when pid (not our child) is gone: when no process
// with that pid and start time runs any more.
func watchPid(pid int, done chan struct{}) {
	ticks, ok := procfs.StartTicks(pid)
	for ok && procfs.Alive(pid) {
		if t, ok2 := procfs.StartTicks(pid); !ok2 || t != ticks {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(done)
}

// startedAt is when an adopted pid started, for the crash backoff.
func startedAt(pid int) time.Time {
	if t := procfs.StartTime(pid); t != nil {
		return *t
	}
	return time.Now()
}
