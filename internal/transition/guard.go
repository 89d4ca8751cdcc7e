package transition

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/paths"
)

// The switchover guard (package guard) across a transition:
//
//   - backup, fault: raised, with no bound, before anything else: the
//     node may be made master at any moment, and keepalived raises the
//     virtual addresses before the master hook runs.
//   - master: re-raised at the hook's start with a bound equal to what
//     is left of the hook's time budget, before the hook even waits for
//     an earlier transition, so that whatever happens to the hook from
//     then on (killed, hung) the kernel lifts the guard by itself; then
//     lifted as soon as the commit is verified, or has failed: a guard
//     never outlives the commit attempt it covers.
//   - master with DisableExternalCache: the peer's states are already in
//     the kernel table, there is nothing to wait for: lifted at the start.
//     A backup still raises it, for the packets that arrive between the
//     virtual addresses coming up and the master hook starting.

// GuardRecord is what a transition did to the guard, in its record.
type GuardRecord struct {
	// Raised is when this transition raised the guard (backup, fault, or
	// master re-arming it with Bound).
	Raised time.Time     `json:"raised,omitzero"`
	Bound  time.Duration `json:"bound_ns,omitempty"`
	// Lifted is when the master hook lifted it; LiftedAfter is the time
	// from the hook's start until then: how long old flows' packets were
	// held back on this side of the switchover.
	Lifted      time.Time     `json:"lifted,omitzero"`
	LiftedAfter time.Duration `json:"lifted_after_ns,omitempty"`
	// Up says whether the guard was up when the transition ended.
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

// guardRuleset is the guard for facts.
func guardRuleset(f Facts, bound time.Duration) (guard.Ruleset, error) {
	rs := guard.Ruleset{Bound: bound}
	for _, s := range f.VIPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return rs, fmt.Errorf("failover facts: virtual address %q: %w", s, err)
		}
		rs.VIPs = append(rs.VIPs, a)
	}
	return rs, nil
}

// armMaster re-raises the guard, bounded by the hook's deadline, at the
// start of a master transition. Errors are recorded, not fatal: the
// commit matters more than the guard.
func armMaster(ctx context.Context, o *Options, f Facts, seq uint64, start time.Time, log *zap.Logger) *GuardRecord {
	if o.Guard == nil {
		return nil
	}
	gr := &GuardRecord{}
	if f.DisableExternalCache {
		gr.Error = errString(liftGuard(o, seq, gr, start, log))
		return gr
	}
	bound := time.Until(deadline(ctx))
	rs, err := guardRuleset(f, bound)
	if err == nil {
		err = o.Guard.Raise(rs)
	}
	now := time.Now()
	if err != nil {
		gr.Error = err.Error()
		log.Error("arming the switchover guard", zap.Error(err))
		return gr
	}
	gr.Raised, gr.Bound, gr.Up = now, bound, true
	werr := guard.WriteState(o.Root, guard.State{Up: true, By: "master hook", Seq: seq, At: now, Until: now.Add(bound), VIPs: f.VIPs})
	log.Info("switchover guard armed until the commit is verified", zap.Duration("bound", bound), zap.Error(werr))
	return gr
}

// liftGuard lifts the guard and records it in gr.
func liftGuard(o *Options, seq uint64, gr *GuardRecord, start time.Time, log *zap.Logger) error {
	err := o.Guard.Lift()
	now := time.Now()
	if err != nil {
		log.Error("lifting the switchover guard", zap.Error(err))
		return err
	}
	gr.Lifted, gr.LiftedAfter, gr.Up = now, now.Sub(start), false
	werr := guard.WriteState(o.Root, guard.State{Up: false, By: "master hook", Seq: seq, At: now})
	log.Info("switchover guard lifted", zap.Duration("after", gr.LiftedAfter), zap.Error(werr))
	return nil
}

// raiseGuard raises the guard without a bound, for backup and fault.
func (r *runner) raiseGuard() error {
	if r.o.Guard == nil {
		return nil
	}
	gr := r.guardRecord()
	rs, err := guardRuleset(r.facts, 0)
	if err == nil {
		err = r.o.Guard.Raise(rs)
	}
	now := time.Now()
	st := Step{Name: "raise-guard", Detail: fmt.Sprintf("inet %s, virtual addresses %v", guard.Table, r.facts.VIPs)}
	r.finish(&st, now, err)
	if err != nil {
		gr.Error = err.Error()
		return fmt.Errorf("raising the switchover guard: %w", err)
	}
	gr.Raised, gr.Up = now, true
	return guard.WriteState(r.o.Root, guard.State{Up: true, By: r.o.State + " hook", Seq: r.rec.Seq, At: now, VIPs: r.facts.VIPs})
}

// liftAfterCommit lifts the guard the master armed, whether the commit
// was verified or failed.
func (r *runner) liftAfterCommit() error {
	if r.o.Guard == nil || r.facts.DisableExternalCache {
		return nil
	}
	gr := r.guardRecord()
	t0 := time.Now()
	err := liftGuard(r.o, r.rec.Seq, gr, r.start, r.log)
	st := Step{Name: "lift-guard"}
	if err == nil {
		st.Detail = fmt.Sprintf("%d ms after the hook started", gr.LiftedAfter.Milliseconds())
	} else {
		gr.Error = err.Error()
	}
	r.finish(&st, t0, err)
	if err != nil {
		return fmt.Errorf("lifting the switchover guard: %w", err)
	}
	return nil
}

func (r *runner) guardRecord() *GuardRecord {
	if r.rec.Guard == nil {
		r.rec.Guard = &GuardRecord{}
	}
	return r.rec.Guard
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// guardLockWait bounds how long a commit waits for a transition in
// progress before it sets the guard: a master hook holds the lock for
// its whole commit.
const guardLockWait = DefaultTimeout + 5*time.Second

// ApplyGuard puts the guard where a commit leaves it, under the
// transition lock so that a hook and a commit never interleave their
// changes. facts nil (conntrack-sync deleted) lifts it. Otherwise the
// hook's last decision is kept, with the virtual addresses of facts:
//
//   - raised by a backup or fault hook, or by a commit: raised again
//     (replaced atomically: the addresses may have changed);
//   - lifted by a master hook: stays lifted;
//   - armed by a master hook that did not finish (it holds the lock while
//     it runs, so it was killed): left to its bound, or cleaned once the
//     bound has passed;
//   - never touched since boot (no state): raised, unless the sync-group
//     was last seen master, which has no commit to wait for.
//
// The result says what was done, for the commit's output.
func ApplyGuard(ctx context.Context, root paths.Root, g guard.Guard, facts *Facts) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, guardLockWait)
	defer cancel()
	lk, err := lockFile(ctx, root.TransitionLock())
	if err != nil {
		return "", fmt.Errorf("switchover guard: waiting for a transition in progress: %w", err)
	}
	defer unlock(lk)
	return ApplyGuardLocked(root, g, facts)
}

// ApplyGuardLocked is ApplyGuard for a caller that already holds the
// transition lock (HoldLock): a commit that restarts conntrackd keeps
// the lock from the restart until the guard is set. flock is per open
// file, so taking it a second time in the same process would wait on
// itself.
func ApplyGuardLocked(root paths.Root, g guard.Guard, facts *Facts) (string, error) {
	now := time.Now()
	lift := func(why string) (string, error) {
		if err := g.Lift(); err != nil {
			return "", err
		}
		return "switchover guard down (" + why + ")", nil
	}
	if facts == nil {
		if err := g.Lift(); err != nil {
			return "", err
		}
		return "switchover guard removed", guard.RemoveState(root)
	}
	st, err := guard.ReadState(root)
	if err != nil {
		// Unreadable: decide as if never touched.
		st = nil
	}
	switch {
	case st != nil && st.Up && !st.Until.IsZero():
		if now.Before(st.Until) {
			return "switchover guard left to expire at " + st.Until.Format("15:04:05") + " (a master hook did not finish)", nil
		}
		if err := guard.WriteState(root, guard.State{By: "commit", At: now}); err != nil {
			return "", err
		}
		return lift("the master hook's bound passed")
	case st != nil && !st.Up:
		return lift("lifted by the " + st.By)
	case st == nil:
		if m, err := ReadVRRPState(root); err == nil && m[facts.SyncGroup].State == Master {
			return lift("this node is master")
		}
	}
	rs, err := guardRuleset(*facts, 0)
	if err != nil {
		return "", err
	}
	if err := g.Raise(rs); err != nil {
		return "", err
	}
	by := "commit"
	if st != nil && st.By != "" {
		by = st.By // the hook's decision, kept: status tells who raised it
	}
	seq, at := uint64(0), now
	if st != nil && st.Up {
		seq, at = st.Seq, st.At
	}
	if err := guard.WriteState(root, guard.State{Up: true, By: by, Seq: seq, At: at, VIPs: facts.VIPs}); err != nil {
		return "", err
	}
	return "switchover guard up (this node is not a committed master)", nil
}
