// Package transition is the VRRP failover hook: what `ctsync
// vrrp-transition master|backup|fault GROUP` does when keepalived's
// sync-group changes state.
//
// master: commit conntrackd's external cache into the kernel table first
// (the virtual addresses are already up, so old flows' packets are arriving
// at a table that does not know them yet), check that the entries really
// are in the kernel table, then flush the caches, resync the internal cache
// with the kernel and send a bulk update to the peer. With
// DisableExternalCache the peer's states were injected straight into the
// kernel table, so there is nothing to commit: only resync and bulk send.
//
// backup: make sure conntrackd runs (start it, clearing a stale lock file,
// if it does not answer), shorten the kernel timers of entries that may be
// stale, and ask the peer for a full resync.
//
// fault: shorten the kernel timers.
//
// The hook reads only files (the failover facts the conntrack-sync
// handler generates with conntrackd.conf, see Facts) and talks to
// conntrackd's control socket directly, so it works with ctsyncd stopped: failover never waits on the config
// service. Every step is bounded in time. Overlapping calls (keepalived
// runs notify scripts asynchronously) are serialized with a lock and
// ordered by a ticket taken at start: a call that finds a later ticket
// already issued does nothing, so two overlapping transitions end in the
// state of the later one.
package transition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/paths"
)

// VRRP states the hook accepts.
const (
	Master = "master"
	Backup = "backup"
	Fault  = "fault"
)

// DefaultTimeout bounds a whole transition: keepalived must never hang on
// its notify script.
const DefaultTimeout = 30 * time.Second

var (
	// ErrBadState is returned for a state other than master, backup, fault.
	ErrBadState = errors.New("state must be master, backup or fault")
	// ErrCommitIncomplete means conntrackd accepted the commit request but
	// the kernel table does not hold the entries its external cache held:
	// the daemon skipped the commit ("commit already in progress") or part
	// of it failed.
	ErrCommitIncomplete = errors.New("commit incomplete")
)

// Options configures one hook run.
type Options struct {
	Root  paths.Root
	State string // master, backup or fault (case-insensitive)
	Group string // the VRRP sync-group keepalived names
	Log   *zap.Logger
	// Timeout bounds the whole run, waiting for an earlier run included;
	// zero means DefaultTimeout.
	Timeout time.Duration
	// Conntrackd is the binary the backup path starts; empty means
	// conntrackd on PATH or /usr/sbin/conntrackd.
	Conntrackd string
	// CountKernel counts the kernel conntrack table; nil means
	// KernelCount (the calling thread's network namespace).
	CountKernel func() (int, error)
	// EventsPending says what of a commit's destroy events conntrackd has
	// not taken in yet ("" when nothing); nil means eventsPending, which
	// asks the kernel and reads conntrackd's sockets.
	EventsPending func() (string, error)
	// Guard is the switchover guard (see guard.go); nil leaves it alone.
	// The hook's command sets guard.Kernel{}.
	Guard guard.Guard
}

// Run performs the transition, records it, and returns an error when any
// step failed. A group other than conntrack-sync's sync-group, or a router
// without conntrack-sync, is recorded and is not an error.
func Run(ctx context.Context, o Options) error {
	start := time.Now()
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CountKernel == nil {
		o.CountKernel = KernelCount
	}
	if o.EventsPending == nil {
		root := o.Root
		o.EventsPending = func() (string, error) { return eventsPending(root) }
	}
	state, err := normState(o.State)
	if err != nil {
		return err
	}
	o.State = state
	log := o.Log.With(zap.String("state", state), zap.String("group", o.Group))
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	facts, err := readFacts(o.Root.FailoverFacts())
	if err != nil {
		// Without the facts we cannot know whether to act; acting on
		// the wrong group could flush caches, so record and fail.
		log.Error("reading the failover facts", zap.Error(err))
		return err
	}
	seq, err := nextTicket(ctx, o.Root, o.Group)
	if err != nil {
		log.Error("taking a ticket", zap.Error(err))
		return fmt.Errorf("vrrp-transition %s %s: %w", state, o.Group, err)
	}
	log = log.With(zap.Uint64("seq", seq))

	if facts != nil && !facts.Acts(o.Root, o.Group) {
		// Another VRRP group: only its state is worth keeping.
		log.Info("not the conntrack-sync sync-group; nothing to do", zap.String("sync_group", facts.SyncGroup))
		return recordGroup(ctx, o.Root, o.Group, GroupState{State: state, Since: start, Seq: seq})
	}

	var armed *GuardRecord
	if facts != nil && state == Master {
		// Before waiting for an earlier transition: from here on the
		// guard is bounded by this hook's deadline, whatever happens.
		armed = armMaster(ctx, &o, *facts, seq, start, log)
	}

	lk, err := lockFile(ctx, o.Root.TransitionLock())
	if err != nil {
		log.Error("waiting for an earlier transition", zap.Error(err))
		return fmt.Errorf("vrrp-transition %s %s: %w", state, o.Group, err)
	}
	defer unlock(lk)
	if latest, err := latestTicket(ctx, o.Root, o.Group); err == nil && latest > seq {
		// A later transition was called while this one waited: it is
		// the one that describes the router now, so this one must not
		// undo it (a late "backup" after "master" would reset timers of
		// the flows master just committed).
		log.Info("superseded by a later transition; nothing to do", zap.Uint64("latest", latest))
		return nil
	}

	rec := &Record{Seq: seq, State: state, Group: o.Group, Started: start, Guard: armed}
	if facts == nil {
		rec.Skipped = "conntrack-sync is not configured"
		rec.OK = true
		log.Info(rec.Skipped + "; nothing to do")
	} else {
		r := &runner{o: &o, ctx: ctx, rec: rec, log: log, start: start, facts: *facts}
		err = r.run()
	}
	rec.Duration = time.Since(start)
	rec.OK = err == nil
	if err != nil {
		rec.Error = err.Error()
		log.Error("transition failed", zap.Duration("duration", rec.Duration), zap.Error(err))
	} else {
		log.Info("transition done", zap.Duration("duration", rec.Duration), zap.Int("committed", rec.Committed))
	}
	var werr error
	if e := writeRecord(o.Root, rec); e != nil {
		werr = errors.Join(werr, e)
	}
	if e := recordGroup(ctx, o.Root, o.Group, GroupState{State: state, Since: start, Seq: seq}); e != nil {
		werr = errors.Join(werr, e)
	}
	if werr != nil {
		log.Error("recording the transition", zap.Error(werr))
	}
	if err != nil {
		return fmt.Errorf("vrrp-transition %s %s: %w", state, o.Group, err)
	}
	return werr
}

func normState(s string) (string, error) {
	switch s {
	case Master, "MASTER", "Master":
		return Master, nil
	case Backup, "BACKUP", "Backup":
		return Backup, nil
	case Fault, "FAULT", "Fault":
		return Fault, nil
	}
	return "", fmt.Errorf("vrrp-transition %q: %w", s, ErrBadState)
}

func recordGroup(ctx context.Context, root paths.Root, group string, gs GroupState) error {
	f, err := lockFile(ctx, seqFile(root))
	if err != nil {
		return err
	}
	defer unlock(f)
	return setGroupState(root, group, gs)
}

// runner carries one transition's steps.
type runner struct {
	o     *Options
	ctx   context.Context
	rec   *Record
	log   *zap.Logger
	start time.Time
	c     *conntrackd.Client
	facts Facts
}

// stepTimeout bounds ordinary requests; the commit gets what is left.
const stepTimeout = 5 * time.Second

// commitReserve is kept back from the commit's budget so that the record
// can still be written when the commit uses all of its time.
const commitReserve = time.Second

func (r *runner) run() error {
	r.c = &conntrackd.Client{Path: r.o.Root.ConntrackdSocket()}
	dc := r.facts
	r.rec.Mode = "external-cache"
	if dc.DisableExternalCache {
		r.rec.Mode = "no-external-cache"
	}
	switch r.o.State {
	case Master:
		return r.master(dc)
	case Backup:
		return errors.Join(r.raiseGuard(), r.backup())
	default:
		return errors.Join(r.raiseGuard(), r.request("reset-timers", conntrackd.ResetTimers))
	}
}

func (r *runner) master(dc Facts) error {
	if dc.DisableExternalCache {
		// The peer's states are already in the kernel table; resync the
		// internal cache with it and tell the peer what we hold.
		return errors.Join(
			r.request("resync", pick(dc.ExpectSync, conntrackd.ResyncAll, conntrackd.Resync)),
			r.request("send-bulk", conntrackd.SendBulk),
		)
	}
	err := r.commit(dc)
	// Verified or failed, the guard goes now: it must not outlive the
	// commit it covers.
	if gerr := r.liftAfterCommit(); gerr != nil {
		err = errors.Join(err, gerr)
	}
	if err != nil {
		// Keep the external cache: flushing it now would throw away the
		// states a retry could still commit.
		return err
	}
	// From here on this node is a committed master: say so now, not
	// after the housekeeping below (settling, flush, resync, bulk),
	// which takes a second with a big table. Readers of the state (the
	// status, the pair view, a commit deciding on the guard) must not
	// see the old state meanwhile.
	if err := recordGroup(r.ctx, r.o.Root, r.o.Group, GroupState{State: Master, Since: r.start, Seq: r.rec.Seq}); err != nil {
		r.log.Warn("recording the master state", zap.Error(err))
	}
	var errs []error
	if err := r.settleDestroys(); err != nil {
		errs = append(errs, err)
	}
	if dc.ExpectSync {
		errs = append(errs, r.request("flush-caches", conntrackd.FlushCachesAll))
	} else {
		errs = append(errs,
			r.request("flush-internal", conntrackd.FlushInternal),
			r.request("flush-external", conntrackd.FlushExternal))
	}
	errs = append(errs,
		r.request("resync", pick(dc.ExpectSync, conntrackd.ResyncAll, conntrackd.Resync)),
		r.request("send-bulk", conntrackd.SendBulk))
	return errors.Join(errs...)
}

// externalDestroyedSince is how many entries left the external cache
// since before was read, 0 when the statistics cannot be read.
func (r *runner) externalDestroyedSince(before cacheCounts) int {
	ctx, cancel := context.WithTimeout(r.ctx, stepTimeout)
	defer cancel()
	b, err := r.do(ctx, conntrackd.Stats)
	if err != nil {
		return 0
	}
	now, err := parseStats(b)
	if err != nil || now.ExternalDestroyed < before.ExternalDestroyed {
		return 0
	}
	return now.ExternalDestroyed - before.ExternalDestroyed
}

// settleLimit bounds how long the master path waits for the destroy
// events of a commit (settleDestroys); settlePoll is how often it looks.
var (
	settleLimit = 10 * time.Second
	settlePoll  = 50 * time.Millisecond
)

// ErrDestroysPending: the commit's destroy events were still being
// delivered when the master path gave up waiting for them.
var ErrDestroysPending = errors.New("destroy events of the commit still pending")

// settleDestroys waits until conntrackd has taken in the destroy events
// of the commit. conntrackd commits an entry the kernel already holds (a
// failback to a node that kept its table) by deleting it and creating it
// again, and it handles the destroy event whenever it reads it: an event
// read after the resync below removes the new entry from the internal
// cache. Worse, with reliable event delivery, an event that did not fit
// conntrackd's socket waits on the kernel's dying list and comes again
// later without the commit's netlink port: conntrackd then takes it for a
// flow that ended and also tells the peer to drop the entry. Flushing and
// resyncing the internal cache before the events are all in loses those
// entries on both nodes for good (in the lab, a failback with 100,000
// entries left the new master's internal cache with 3,000 to 53,000).
// Events read before the flush are harmless: the resync that follows
// sends the peer every entry again, after the deletions.
func (r *runner) settleDestroys() error {
	st := Step{Name: "settle-destroy-events"}
	t0 := time.Now()
	limit := settleLimit
	if d := time.Until(deadline(r.ctx)) - commitReserve; d < limit {
		limit = d
	}
	var err error
	// Nothing pending twice in a row: conntrackd may be between reading
	// one batch of events and the next delivery of the kernel.
	for quiet := 0; quiet < 2; {
		var pending string
		if pending, err = r.o.EventsPending(); err != nil {
			// A kernel that cannot tell: proceed as before.
			st.Detail, err = "cannot tell: "+err.Error(), nil
			break
		}
		if pending == "" {
			quiet++
			if quiet == 2 {
				break
			}
		} else {
			quiet = 0
			if time.Since(t0) >= limit {
				err = fmt.Errorf("%w after %v (%s): the peer may lack some entries until the next resync", ErrDestroysPending, limit.Round(time.Millisecond), pending)
				break
			}
		}
		t := time.NewTimer(settlePoll)
		select {
		case <-r.ctx.Done():
			err = r.ctx.Err()
		case <-t.C:
		}
		t.Stop()
		if err != nil {
			break
		}
	}
	if err == nil && st.Detail == "" {
		st.Detail = fmt.Sprintf("conntrackd has read every event after %d ms", time.Since(t0).Milliseconds())
	}
	r.finish(&st, t0, err)
	return err
}

// commit commits the external cache and checks the effect. conntrackd
// returns no status and skips a commit silently when one is already in
// progress, so the check is on the kernel table: after the commit it must
// hold at least as many entries as the external cache did before it (each
// external entry is either created by the commit or was already there).
// Both counts are single small requests, so the check adds milliseconds
// to a commit that takes about a second per 100,000 entries.
func (r *runner) commit(dc Facts) error {
	st := Step{Name: "external-cache-count", Code: conntrackd.Stats}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(r.ctx, stepTimeout)
	b, err := r.do(ctx, conntrackd.Stats)
	cancel()
	var cc cacheCounts
	if err == nil {
		cc, err = parseStats(b)
	}
	if err == nil {
		st.Detail = fmt.Sprintf("%d entries", cc.External)
	}
	r.finish(&st, t0, err)
	if err != nil {
		return fmt.Errorf("reading the external cache size: %w", err)
	}
	r.rec.ExternalEntries = cc.External

	before, kerr := r.o.CountKernel()
	logPath := r.o.Root.ConntrackdLog()
	logOff := logOffset(logPath)

	code := pick(dc.ExpectSync, conntrackd.CommitAll, conntrackd.Commit)
	st = Step{Name: "commit", Code: code}
	t0 = time.Now()
	budget := time.Until(deadline(r.ctx)) - commitReserve
	if budget < stepTimeout {
		budget = time.Until(deadline(r.ctx))
	}
	ctx, cancel = context.WithTimeout(r.ctx, budget)
	_, err = r.do(ctx, code)
	cancel()
	r.finish(&st, t0, err)
	if err != nil {
		return fmt.Errorf("committing the external cache: %w", err)
	}

	st = Step{Name: "verify-commit"}
	t0 = time.Now()
	after, err := r.o.CountKernel()
	if err == nil {
		r.rec.KernelEntries = after
		if kerr == nil && after > before {
			r.rec.Committed = after - before
		}
		st.Detail = fmt.Sprintf("external cache %d, kernel table %d (was %d)", cc.External, after, before)
		if after < cc.External {
			err = fmt.Errorf("%w: external cache held %d entries, kernel table holds %d", ErrCommitIncomplete, cc.External, after)
		}
	}
	if err == nil && logOff >= 0 {
		// The table's size cannot tell a skipped commit on a busy table
		// (it already holds more entries than the external cache did);
		// the daemon's own account of the flows it committed can.
		if cl, ok := readCommitLog(logPath, logOff); ok && (cl.Started || cl.Committed >= 0) {
			r.rec.DaemonCommitted = cl.Committed
			st.Detail += fmt.Sprintf(", conntrackd committed %d", cl.Committed)
			if cl.Exists > 0 {
				st.Detail += fmt.Sprintf(", %d already made by traffic", cl.Exists)
			}
			gone := 0
			if cl.Committed >= 0 && cl.Committed+cl.Exists < cc.External {
				// Entries the peer ended while the commit ran left
				// the cache before conntrackd reached them.
				gone = r.externalDestroyedSince(cc)
				st.Detail += fmt.Sprintf(", %d ended by the peer meanwhile", gone)
			}
			switch {
			case cl.Committed < 0:
				err = fmt.Errorf("%w: conntrackd logged no commit of its %d external entries (skipped: another commit in progress?)", ErrCommitIncomplete, cc.External)
			case cl.Failed > cl.Exists || cl.Committed+cl.Exists+gone < cc.External:
				err = fmt.Errorf("%w: external cache held %d entries, conntrackd committed %d (%d failed)", ErrCommitIncomplete, cc.External, cl.Committed, cl.Failed-cl.Exists)
			}
		}
	}
	r.finish(&st, t0, err)
	if err != nil {
		return fmt.Errorf("checking the commit: %w", err)
	}
	r.rec.KernelReady = time.Since(r.start)
	return nil
}

func (r *runner) backup() error {
	st := Step{Name: "ensure-running"}
	t0 := time.Now()
	did, err := ensureRunning(r.ctx, r.o, r.c)
	st.Detail = did
	r.finish(&st, t0, err)
	if err != nil {
		return err
	}
	return errors.Join(
		r.request("reset-timers", conntrackd.ResetTimers),
		r.requestResync(),
	)
}

// requestResync asks the peer for its table. When the conntrackd that
// runs has a Started record (whoever started it went through
// supervise.Spawn), the request is the start of a refill, recorded for
// readiness: the hook does not wait for the answer, which readiness and
// ctsyncd's refill follow, so a master transition behind this one does
// not wait for the peer either.
func (r *runner) requestResync() error {
	f, err := newRefiller(r.ctx, RefillOptions{Root: r.o.Root, By: "vrrp-transition backup", Log: r.log, Role: RoleBackup})
	if err != nil {
		return r.request("request-resync", conntrackd.RequestResync)
	}
	st := Step{Name: "request-resync", Code: conntrackd.RequestResync}
	t0 := time.Now()
	rec, err := f.begin()
	if rec != nil {
		st.Detail = fmt.Sprintf("refill of conntrackd pid %d: %s", rec.Pid, rec.State)
	}
	r.finish(&st, t0, err)
	if err != nil {
		return fmt.Errorf("request-resync: %w", err)
	}
	return nil
}

// request sends one code whose reply carries nothing to check (conntrackd
// answers these with an empty reply): success means the daemon read the
// request and closed the socket after doing it.
func (r *runner) request(name string, code int32) error {
	st := Step{Name: name, Code: code}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(r.ctx, stepTimeout)
	_, err := r.do(ctx, code)
	cancel()
	r.finish(&st, t0, err)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// do sends code. The socket deadline and the context expire together, and
// the client may see the socket's timeout first: report both as the
// context's deadline so callers can test for one error.
func (r *runner) do(ctx context.Context, code int32) ([]byte, error) {
	b, err := r.c.Do(ctx, code)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return b, err
}

// finish completes st, appends it to the record and logs it.
func (r *runner) finish(st *Step, t0 time.Time, err error) {
	st.Duration = time.Since(t0)
	st.OK = err == nil
	if err != nil {
		st.Error = err.Error()
	}
	r.rec.Steps = append(r.rec.Steps, *st)
	fields := []zap.Field{zap.String("step", st.Name), zap.Duration("duration", st.Duration)}
	if st.Code != 0 {
		fields = append(fields, zap.Int32("code", st.Code))
	}
	if st.Detail != "" {
		fields = append(fields, zap.String("detail", st.Detail))
	}
	if err != nil {
		r.log.Error("step failed", append(fields, zap.Error(err))...)
		return
	}
	r.log.Info("step done", fields...)
}

func deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(DefaultTimeout)
}

func pick(cond bool, yes, no int32) int32 {
	if cond {
		return yes
	}
	return no
}
