// Package commit is the commit engine: it moves the running configuration
// to a candidate all or nothing. Validate the candidate against the schema,
// then, for every handler whose subtrees changed and in the schema's
// priority order, GetConfig and Verify; only when every handler verified,
// Generate all files, install them atomically and Apply; only when every
// Apply succeeded does the candidate become the running config. Any failure
// restores the previous files and re-applies the previous state.
package commit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/schema"
)

// Engine owns the running configuration. One commit runs at a time.
type Engine struct {
	schema   *schema.Schema
	handlers []handler.Handler // in priority order
	sys      handler.System
	env      *handler.Env
	lockPath string

	mu       sync.Mutex
	running  *configtree.Node
	revision int
	applied  map[string]any // handler name -> config last applied
	busy     bool

	observe func(time.Duration, error) // see Observe
}

// Observe has f told the duration and outcome of every Commit (not of
// Resume or Check): the metrics count commits by it. Set it before the
// first commit.
func (e *Engine) Observe(f func(d time.Duration, err error)) { e.observe = f }

// observed reports one commit that started at start to the observer.
func (e *Engine) observed(start time.Time, err error) {
	if e.observe != nil {
		e.observe(time.Since(start), err)
	}
}

// Options configure an Engine.
type Options struct {
	Schema   *schema.Schema
	Handlers []handler.Handler // nil: every registered handler
	System   handler.System
	Env      *handler.Env
	// LockPath, when set, is flock'ed for the whole of every commit so
	// that other processes (op-mode restart) can tell one is running.
	LockPath string
}

// New returns an engine with an empty running configuration.
func New(o Options) *Engine {
	hs := o.Handlers
	if hs == nil {
		hs = handler.All()
	}
	hs = append([]handler.Handler(nil), hs...)
	sort.SliceStable(hs, func(i, j int) bool { return priority(o.Schema, hs[i]) < priority(o.Schema, hs[j]) })
	if o.Env.Log == nil {
		o.Env.Log = zap.NewNop()
	}
	return &Engine{schema: o.Schema, handlers: hs, sys: o.System, env: o.Env, running: configtree.New(), applied: map[string]any{}, lockPath: o.LockPath}
}

func priority(s *schema.Schema, h handler.Handler) int {
	if n := s.Lookup(h.Owns()); n != nil {
		return n.Priority
	}
	return 1 << 30
}

// Running returns a copy of the running configuration and its revision.
func (e *Engine) Running() (*configtree.Node, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running.Clone(), e.revision
}

// Busy reports whether a commit is under way.
func (e *Engine) Busy() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.busy
}

// Result is what a commit did.
type Result struct {
	Revision int
	Messages []string // one line per handler that ran, e.g. "conntrack-sync: conntrackd started"
	Changed  bool
}

// Error is a failed commit. Errs holds every problem found (each usually
// a *cfgerr.Error naming its config path); Changed is false when nothing
// on the system was touched or everything was put back.
type Error struct {
	Stage    string // "validate", "verify", "generate", "install", "apply"
	Errs     []error
	Restored error // non-nil when putting the previous state back failed too
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(err.Error())
	}
	if e.Restored != nil {
		fmt.Fprintf(&b, "\nrestoring the previous state also failed: %v", e.Restored)
	}
	return b.String()
}

func (e *Error) Unwrap() []error { return e.Errs }

// plan is one handler's part in a commit.
type plan struct {
	h       handler.Handler
	prev    any
	cfg     any
	files   []handler.File
	applied bool
}

// Check runs a commit short of installing anything: schema validation,
// Verify and Generate for every handler the candidate changes. It reports
// every problem it finds, not only the first stage's: a schema error in
// one subtree does not hide a Verify error in another. Only a handler
// whose own subtree failed validation is skipped, since its GetConfig
// would only repeat the schema's complaint.
func (e *Engine) Check(ctx context.Context, candidate *configtree.Node) error {
	e.mu.Lock()
	running := e.running.Clone()
	applied := e.appliedCopy()
	e.mu.Unlock()
	var errs []error
	var badPaths [][]string
	if err := e.schema.Validate(candidate); err != nil {
		for _, ve := range cfgerr.List(err) {
			errs = append(errs, ve)
			badPaths = append(badPaths, strings.Fields(cfgerr.PathOf(ve)))
		}
	}
	skip := func(h handler.Handler) bool {
		for _, b := range badPaths {
			if len(b) == 0 || overlaps(h.Owns(), b) {
				return true
			}
		}
		return false
	}
	plans, verr := e.plan(ctx, running, candidate, applied, false, skip)
	errs = append(errs, verr...)
	if _, err := e.generate(plans); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			errs = append(errs, ce.Errs...)
		} else {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &Error{Stage: "check", Errs: errs}
	}
	return nil
}

// overlaps reports whether one path lies on or under the other.
func overlaps(a, b []string) bool {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Commit moves the running configuration to candidate.
func (e *Engine) Commit(ctx context.Context, candidate *configtree.Node) (*Result, error) {
	start := time.Now()
	res, err := e.commit(ctx, candidate, false)
	e.observed(start, err)
	return res, err
}

// Resume is run once at start with the configuration the previous ctsyncd
// left running: every handler applies it as both previous and new state,
// which adopts the engines still running without restarting them and
// starts those that died meanwhile.
func (e *Engine) Resume(ctx context.Context, running *configtree.Node) (*Result, error) {
	return e.commit(ctx, running, true)
}

func (e *Engine) commit(ctx context.Context, candidate *configtree.Node, resume bool) (*Result, error) {
	e.mu.Lock()
	if e.busy {
		e.mu.Unlock()
		return nil, errors.New("another commit is in progress")
	}
	e.busy = true
	running := e.running.Clone()
	applied := e.appliedCopy()
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.busy = false
		e.mu.Unlock()
	}()
	if e.lockPath != "" {
		unlock, err := Lock(e.lockPath)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}

	plans, err := e.prepare(ctx, running, candidate, applied, resume)
	if err != nil {
		return nil, err
	}
	if resume {
		for _, p := range plans {
			p.prev = p.cfg
		}
	}
	files, err := e.generate(plans)
	if err != nil {
		return nil, err
	}
	backup, err := install(files)
	if err != nil {
		rerr := backup.restore()
		return nil, &Error{Stage: "install", Errs: []error{err}, Restored: rerr}
	}
	if err := e.precheck(ctx, plans); err != nil {
		return nil, &Error{Stage: "precheck", Errs: cfgerr.List(err), Restored: backup.restore()}
	}
	var msgs []string
	var resumeErrs []error
	for _, p := range plans {
		msg, err := p.h.Apply(ctx, p.prev, p.cfg, e.env)
		if err != nil && resume {
			// There is no earlier state to go back to: this config is
			// what the engines were last told to run. Keep it running and
			// report; the supervisor keeps trying to start what failed.
			resumeErrs = append(resumeErrs, fmt.Errorf("%s: %w", p.h.Name(), err))
			continue
		}
		if err != nil {
			e.env.Log.Error("apply failed; rolling back", zap.String("handler", p.h.Name()), zap.Error(err))
			p.applied = true // partly: re-apply the previous state below
			rerr := e.rollback(plans, backup)
			return nil, &Error{Stage: "apply", Errs: []error{fmt.Errorf("%s: %w", p.h.Name(), err)}, Restored: rerr}
		}
		p.applied = true
		if msg != "" {
			msgs = append(msgs, p.h.Name()+": "+msg)
		}
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	e.running = candidate.Clone()
	for _, p := range plans {
		if p.cfg == nil {
			delete(e.applied, p.h.Name())
		} else {
			e.applied[p.h.Name()] = p.cfg
		}
	}
	changed := len(plans) > 0 && !resume
	if changed || e.revision == 0 {
		e.revision++
	}
	res := &Result{Revision: e.revision, Messages: msgs, Changed: changed}
	if len(resumeErrs) > 0 {
		return res, &Error{Stage: "apply", Errs: resumeErrs}
	}
	return res, nil
}

func (e *Engine) appliedCopy() map[string]any {
	m := make(map[string]any, len(e.applied))
	for k, v := range e.applied {
		m[k] = v
	}
	return m
}

// prepare validates candidate and runs GetConfig and Verify for every
// handler whose subtrees differ between running and candidate (every
// handler with config when all is set).
func (e *Engine) prepare(ctx context.Context, running, candidate *configtree.Node, applied map[string]any, all bool) ([]*plan, error) {
	if err := e.schema.Validate(candidate); err != nil {
		return nil, &Error{Stage: "validate", Errs: cfgerr.List(err)}
	}
	plans, errs := e.plan(ctx, running, candidate, applied, all, nil)
	if len(errs) > 0 {
		return nil, &Error{Stage: "verify", Errs: errs}
	}
	return plans, nil
}

// plan runs GetConfig and Verify for each handler to run (skip, when set,
// leaves some out), returning the plans of those that verified and every
// error found.
func (e *Engine) plan(ctx context.Context, running, candidate *configtree.Node, applied map[string]any, all bool, skip func(handler.Handler) bool) ([]*plan, []error) {
	full := e.schema.WithDefaults(candidate)
	var plans []*plan
	var errs []error
	for _, h := range e.handlers {
		if !all && !readsChanged(running, candidate, h.Reads()) {
			continue
		}
		if skip != nil && skip(h) {
			continue
		}
		cfg, err := h.GetConfig(full)
		if err != nil {
			errs = append(errs, cfgerr.List(err)...)
			continue
		}
		if isNil(cfg) {
			cfg = nil
		}
		if all && cfg == nil {
			continue
		}
		if cfg != nil {
			if err := h.Verify(ctx, cfg, e.sys); err != nil {
				errs = append(errs, cfgerr.List(err)...)
				continue
			}
		}
		plans = append(plans, &plan{h: h, prev: applied[h.Name()], cfg: cfg})
	}
	return plans, errs
}

func (e *Engine) generate(plans []*plan) ([]handler.File, error) {
	var all []handler.File
	owner := map[string]string{}
	var errs []error
	for _, p := range plans {
		files, err := p.h.Generate(p.cfg, e.env)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: generating: %w", p.h.Name(), err))
			continue
		}
		for _, f := range files {
			if o, dup := owner[f.Path]; dup {
				errs = append(errs, fmt.Errorf("%s and %s both generate %s", o, p.h.Name(), f.Path))
			}
			owner[f.Path] = p.h.Name()
		}
		p.files = files
		all = append(all, files...)
	}
	if len(errs) > 0 {
		return nil, &Error{Stage: "generate", Errs: errs}
	}
	return all, nil
}

// precheck lets every engine that can test its installed file do so,
// before any engine is applied.
func (e *Engine) precheck(ctx context.Context, plans []*plan) error {
	var errs []error
	for _, p := range plans {
		pc, ok := p.h.(handler.Prechecker)
		if !ok || p.cfg == nil {
			continue
		}
		if err := pc.Precheck(ctx, p.cfg, e.env); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.h.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// rollback puts the previous files back and re-applies the previous
// state of every handler that applied (or tried to), in reverse order.
func (e *Engine) rollback(plans []*plan, b *backup) error {
	var errs []error
	if err := b.restore(); err != nil {
		errs = append(errs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := len(plans) - 1; i >= 0; i-- {
		p := plans[i]
		if !p.applied {
			continue
		}
		if _, err := p.h.Apply(ctx, p.cfg, p.prev, e.env); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.h.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// backup remembers what install replaced.
type backup struct {
	saved []savedFile
}

type savedFile struct {
	path   string
	data   []byte
	mode   os.FileMode
	absent bool
}

// install writes every file, remembering the old ones first. A file whose
// content is unchanged is not rewritten.
func install(files []handler.File) (*backup, error) {
	b := &backup{}
	for _, f := range files {
		old, err := os.ReadFile(f.Path)
		absent := errors.Is(err, os.ErrNotExist)
		if err != nil && !absent {
			return b, fmt.Errorf("reading %s: %w", f.Path, err)
		}
		if (f.Data == nil && absent) || (f.Data != nil && !absent && bytes.Equal(old, f.Data)) {
			continue
		}
		var mode os.FileMode = 0o644
		if fi, err := os.Stat(f.Path); err == nil {
			mode = fi.Mode().Perm()
		}
		b.saved = append(b.saved, savedFile{path: f.Path, data: old, mode: mode, absent: absent})
		if f.Data == nil {
			err = atomicfile.Remove(f.Path)
		} else {
			m := f.Mode
			if m == 0 {
				m = 0o644
			}
			err = atomicfile.WriteFile(f.Path, f.Data, m)
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

func (b *backup) restore() error {
	var errs []error
	for i := len(b.saved) - 1; i >= 0; i-- {
		s := b.saved[i]
		var err error
		if s.absent {
			err = atomicfile.Remove(s.path)
		} else {
			err = atomicfile.WriteFile(s.path, s.data, s.mode)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readsChanged reports whether any subtree the handler reads differs.
func readsChanged(a, b *configtree.Node, paths [][]string) bool {
	return slices.ContainsFunc(paths, func(p []string) bool { return configtree.ChangedUnder(a, b, p) })
}

// isNil catches a typed nil pointer returned through the any of
// GetConfig, which means "subtree absent" just like a plain nil.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// Lock takes the commit lock file, so that op-mode commands that must not
// run during a commit (restart) can tell. It returns the unlock function.
func Lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("commit lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("commit lock: %w", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
