package handler

import (
	"context"
	"fmt"

	"github.com/ctsync/ctsync/internal/configtree"
)

// Snapshot is one handler's State as the commit engine holds it, without
// knowing its types: the engine only ever hands a Snapshot back to the
// Runner that made it. A nil Snapshot is an absent subtree.
type Snapshot interface {
	snapshot()
}

func (State[C, F]) snapshot() {}

// Runner is a handler as the commit engine drives it, whatever its
// config type. Adapt makes one of a Handler.
type Runner interface {
	Name() string
	Owns() []string
	Reads() [][]string
	// Plan loads the handler's config from tree (defaults applied) and,
	// when the subtree is present, verifies it against sys.
	Plan(ctx context.Context, tree *configtree.Node, sys System) (Snapshot, error)
	Generate(s Snapshot, env *Env) ([]File, error)
	// Prechecks reports whether Precheck has anything to test for s: the
	// handler is a Prechecker and s is present.
	Prechecks(s Snapshot) bool
	Precheck(ctx context.Context, s Snapshot, staged map[string]string, env *Env) error
	Apply(ctx context.Context, prev, next Snapshot, env *Env) (string, error)
}

// Adapt returns the Runner of h.
func Adapt[C, F any](h Handler[C, F]) Runner { return runner[C, F]{h} }

type runner[C, F any] struct{ h Handler[C, F] }

func (r runner[C, F]) Name() string      { return r.h.Name() }
func (r runner[C, F]) Owns() []string    { return r.h.Owns() }
func (r runner[C, F]) Reads() [][]string { return r.h.Reads() }

// state is s as h's own type. Any other Snapshot is the engine mixing up
// its handlers, a programming error reported rather than run.
func (r runner[C, F]) state(s Snapshot) (State[C, F], error) {
	if s == nil {
		return State[C, F]{}, nil
	}
	st, ok := s.(State[C, F])
	if !ok {
		return State[C, F]{}, fmt.Errorf("handler %s: given a state of type %T", r.h.Name(), s)
	}
	return st, nil
}

func (r runner[C, F]) Plan(ctx context.Context, tree *configtree.Node, sys System) (Snapshot, error) {
	cfg, present, err := r.h.Load(tree)
	if err != nil {
		return nil, err
	}
	if !present {
		return State[C, F]{}, nil
	}
	facts, err := r.h.Verify(ctx, cfg, sys)
	if err != nil {
		return nil, err
	}
	return Present(cfg, facts), nil
}

func (r runner[C, F]) Generate(s Snapshot, env *Env) ([]File, error) {
	st, err := r.state(s)
	if err != nil {
		return nil, err
	}
	return r.h.Generate(st, env)
}

func (r runner[C, F]) Prechecks(s Snapshot) bool {
	_, ok := r.h.(Prechecker[C, F])
	st, err := r.state(s)
	return ok && err == nil && st.Present
}

func (r runner[C, F]) Precheck(ctx context.Context, s Snapshot, staged map[string]string, env *Env) error {
	pc, ok := r.h.(Prechecker[C, F])
	if !ok {
		return nil
	}
	st, err := r.state(s)
	if err != nil || !st.Present {
		return err
	}
	return pc.Precheck(ctx, st, staged, env)
}

func (r runner[C, F]) Apply(ctx context.Context, prev, next Snapshot, env *Env) (string, error) {
	p, err := r.state(prev)
	if err != nil {
		return "", err
	}
	n, err := r.state(next)
	if err != nil {
		return "", err
	}
	return r.h.Apply(ctx, p, n, env)
}
