package transition

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/supervise"
)

// A conntrackd that starts has empty caches, and nothing makes the peer
// resend what it already sent: idle flows are never sent again, and a
// failover then drops them. So every start of conntrackd, whoever caused
// it (a commit, `restart conntrack-sync`, the supervisor after a crash,
// the backup hook, boot), is followed by a refill:
//
//   - a backup asks the peer for a resync (request 23), and the refill is
//     done when the peer has been heard since the request and the external
//     cache has stopped growing;
//   - a master resyncs its internal cache with the kernel (1, or 44 with
//     expectations) and sends a bulk update to the peer (22);
//   - a node whose VRRP state is not known yet (boot) does both.
//
// The outcome is recorded in Root.ConntrackdRefill, tied to the
// conntrackd process by its pid and start ticks (from the Started record
// supervise.Spawn writes), so that a record never speaks for a later
// process. readiness reads it, and completes a pending one from what
// conntrackd reports when nobody else is watching (the hook runs with
// ctsyncd stopped and does not wait for the peer).

// Refill states.
const (
	RefillPending = "pending" // requested, the answer not complete yet
	RefillDone    = "done"
	RefillFailed  = "failed" // a request failed; Error says which
)

// Roles a refill runs for.
const (
	RoleMaster  = "master"
	RoleBackup  = "backup"
	RoleUnknown = "unknown"
)

// refillSettle is how long the external cache must stop growing, with the
// peer heard, before the refill is called done: the peer sends its table
// in bursts, and a cache seen between two bursts is not full yet.
const refillSettle = 500 * time.Millisecond

// refillRetry is how long a refill waits for the peer before asking
// again: the request is one UDP message, and the sync link may have been
// down when it was sent.
const refillRetry = 2 * time.Second

// RefillRecord is the refill after one start of conntrackd.
type RefillRecord struct {
	Pid        int       `json:"pid"`
	StartTicks uint64    `json:"start_ticks"`
	Started    time.Time `json:"conntrackd_started"`
	// By names who ran the refill: "ctsyncd" (its supervisor started or
	// adopted the process) or "vrrp-transition backup".
	By   string `json:"by"`
	Role string `json:"role"`
	// Mode is "external-cache" or "no-external-cache".
	Mode      string    `json:"mode"`
	State     string    `json:"state"`
	Requested time.Time `json:"requested"`
	Attempts  int       `json:"attempts"`
	// The counters when the first request was sent: entries received and
	// the peer heard are measured from them.
	BaseCreated uint64 `json:"base_created"`
	BaseRecv    uint64 `json:"base_recv"`
	// Received is how many entries the external cache took in since the
	// request; External and Internal are the caches' sizes when last
	// looked at.
	Received  uint64 `json:"received"`
	External  uint64 `json:"external_entries"`
	Internal  uint64 `json:"internal_entries"`
	PeerHeard bool   `json:"peer_heard"`
	// AskedHeard: a request was sent while the peer was known to be
	// heard. An alive message proves the link works, not that the
	// request got through; a peer that sends nothing after such a
	// request has nothing to send.
	AskedHeard bool      `json:"asked_while_heard,omitempty"`
	LastChange time.Time `json:"last_change"`
	Checked    time.Time `json:"checked"`
	Finished   time.Time `json:"finished,omitzero"`
	Error      string    `json:"error,omitempty"`
}

// For reports whether the record speaks for the process st describes.
func (r *RefillRecord) For(st *supervise.Started) bool {
	return r != nil && st != nil && r.Pid == st.Pid && r.StartTicks == st.StartTicks
}

// Observe moves a pending backup refill on from one statistics reply
// taken at now: entries received, the peer heard, and done once the peer
// has been heard and the cache has not grown for refillSettle. It reports
// whether the record changed.
func (r *RefillRecord) Observe(st *ctdstats.Stats, now time.Time) bool {
	if r == nil || r.State != RefillPending || r.Role == RoleMaster {
		return false
	}
	before := *r
	r.Checked = now
	if c := st.Cache["internal"]; c != nil {
		r.Internal = c.Current
	}
	var created uint64
	if c := st.Cache["external"]; c != nil {
		r.External, created = c.Current, c.Created
	}
	if created >= r.BaseCreated && created-r.BaseCreated != r.Received {
		r.Received = created - r.BaseCreated
		r.LastChange = now
	}
	if st.Link != nil && st.Link.PacketsRecv > r.BaseRecv && !r.PeerHeard {
		r.PeerHeard = true
		r.LastChange = now
	}
	if r.PeerHeard && (r.Received > 0 || r.AskedHeard) && now.Sub(r.LastChange) >= refillSettle {
		r.State, r.Finished = RefillDone, now
	}
	before.Checked = r.Checked
	return before != *r
}

// ReadRefill returns the refill record, nil when there is none.
func ReadRefill(root paths.Root) (*RefillRecord, error) {
	b, err := os.ReadFile(root.ConntrackdRefill())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading refill record: %w", err)
	}
	var r RefillRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading refill record %s: %w", root.ConntrackdRefill(), err)
	}
	return &r, nil
}

// WriteRefill stores r unless that would step back: a finished record of
// the same process replaced by an unfinished one (two refills of one
// start — ctsyncd's and the hook's, or readiness moving one on — may
// overlap; the first to finish wins). Writers check first that their
// process still runs, so a record of a process that is gone does not
// replace the one of its successor.
func WriteRefill(root paths.Root, r *RefillRecord) error {
	if old, err := ReadRefill(root); err == nil && old != nil && old.Pid == r.Pid && old.StartTicks == r.StartTicks &&
		old.State == RefillDone && r.State != RefillDone {
		return nil
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(root.ConntrackdRefill(), append(b, '\n'), 0o644)
}

// ConntrackdStarted returns the Started record of the conntrackd under
// root, nil when none was recorded.
func ConntrackdStarted(root paths.Root) (*supervise.Started, error) {
	return supervise.ReadStarted(handler.EngineSpec{StartedFile: root.ConntrackdStarted(), ConfigFile: root.ConntrackdConf()})
}

// RefillNeeded reports whether the running conntrackd lacks a finished
// refill of its own: no record, a record of another process, a failed
// one, or one still pending (the hook does not wait for the peer, and
// nobody asked again while ctsyncd was stopped). An adopted conntrackd
// whose starter did not finish its refill is refilled.
func RefillNeeded(root paths.Root) bool {
	st, err := ConntrackdStarted(root)
	if err != nil || st == nil || !st.Running() {
		return false
	}
	r, err := ReadRefill(root)
	return err != nil || !r.For(st) || r.State != RefillDone
}

// Role is this node's VRRP role as the hook last recorded it for the
// conntrack-sync sync-group of facts, or, right after a rename, for the
// name the running keepalived still uses.
func Role(root paths.Root, facts *Facts) string {
	m, err := ReadVRRPState(root)
	if err != nil || facts == nil {
		return RoleUnknown
	}
	gs, ok := m[facts.SyncGroup]
	if !ok && facts.Previous != "" {
		gs, ok = m[facts.Previous]
	}
	switch {
	case !ok:
		return RoleUnknown
	case gs.State == Master:
		return RoleMaster
	default:
		// backup and fault alike: the peer (if any) holds the flows.
		return RoleBackup
	}
}

// RefillOptions configures one refill.
type RefillOptions struct {
	Root paths.Root
	By   string
	Log  *zap.Logger
	// Wait bounds how long the refill waits for the peer's answer,
	// asking again every refillRetry. Zero sends the requests, records
	// the refill as pending and returns: readiness completes it.
	Wait time.Duration
	// Role overrides the recorded VRRP role (the backup hook knows it).
	Role string
}

// refiller is one refill under way.
type refiller struct {
	o     RefillOptions
	ctx   context.Context
	c     *conntrackd.Client
	st    *supervise.Started
	facts Facts
	rec   *RefillRecord
	log   *zap.Logger
}

func (f *refiller) stats() (*ctdstats.Stats, error) {
	ctx, cancel := context.WithTimeout(f.ctx, stepTimeout)
	defer cancel()
	b, err := f.c.Do(ctx, conntrackd.Stats)
	if err != nil {
		return nil, err
	}
	return ctdstats.Parse(bytes.NewReader(b))
}

func (f *refiller) send(code int32) error {
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	_, err := f.c.Do(ctx, code)
	return err
}

func (f *refiller) fail(err error) (*RefillRecord, error) {
	f.rec.State, f.rec.Error, f.rec.Finished = RefillFailed, err.Error(), time.Now()
	if f.st.Running() {
		_ = WriteRefill(f.o.Root, f.rec)
	}
	f.log.Error("refill failed", zap.Error(err))
	return f.rec, err
}

// begin sends the requests of the role and records the refill: done for
// a master, pending for the others.
func (f *refiller) begin() (*RefillRecord, error) {
	role := f.o.Role
	if role == "" {
		role = Role(f.o.Root, &f.facts)
	}
	f.rec = &RefillRecord{Pid: f.st.Pid, StartTicks: f.st.StartTicks, Started: f.st.At, By: f.o.By, Role: role,
		Mode: "external-cache", State: RefillPending}
	if f.facts.DisableExternalCache {
		f.rec.Mode = "no-external-cache"
	}
	f.log = f.o.Log.With(zap.Int("pid", f.st.Pid), zap.String("role", role), zap.String("by", f.o.By))
	if role != RoleBackup {
		// A master's internal cache must hold the kernel table, and the
		// peer's external cache what this node forwards.
		if err := f.send(pick(f.facts.ExpectSync, conntrackd.ResyncAll, conntrackd.Resync)); err != nil {
			return f.fail(fmt.Errorf("resync with the kernel: %w", err))
		}
		if err := f.send(conntrackd.SendBulk); err != nil {
			return f.fail(fmt.Errorf("bulk send: %w", err))
		}
	}
	base, err := f.stats()
	if err != nil {
		return f.fail(fmt.Errorf("statistics: %w", err))
	}
	rec := f.rec
	rec.Requested, rec.LastChange = time.Now(), time.Now()
	if e := base.Cache["external"]; e != nil {
		rec.BaseCreated, rec.External = e.Created, e.Current
	}
	if base.Link != nil {
		rec.BaseRecv = base.Link.PacketsRecv
	}
	if c := base.Cache["internal"]; c != nil {
		rec.Internal = c.Current
	}
	if role == RoleMaster {
		rec.State, rec.Finished = RefillDone, time.Now()
		f.log.Info("refill done: internal cache resynced with the kernel, bulk sent", zap.Uint64("internal", rec.Internal))
		return rec, WriteRefill(f.o.Root, rec)
	}
	if err := f.send(conntrackd.RequestResync); err != nil {
		return f.fail(fmt.Errorf("requesting a resync: %w", err))
	}
	rec.Attempts = 1
	f.log.Info("refill: resync requested from the peer")
	return rec, WriteRefill(f.o.Root, rec)
}

// newRefiller checks what a refill needs: conntrack-sync configured and
// a recorded conntrackd that still runs.
func newRefiller(ctx context.Context, o RefillOptions) (*refiller, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	facts, err := readFacts(o.Root.FailoverFacts())
	if err != nil {
		return nil, err
	}
	if facts == nil {
		return nil, errors.New("refill: conntrack-sync is not configured")
	}
	st, err := ConntrackdStarted(o.Root)
	if err != nil {
		return nil, err
	}
	if st == nil || !st.Running() {
		return nil, errors.New("refill: conntrackd is not running")
	}
	return &refiller{o: o, ctx: ctx, c: &conntrackd.Client{Path: o.Root.ConntrackdSocket()}, st: st, facts: *facts, log: o.Log}, nil
}

// Refill refills the caches of the conntrackd running under root and
// records the outcome. It returns the record; an error means a request
// failed or conntrackd does not run (nothing to refill), not that the
// peer has not answered yet (that is a pending record).
func Refill(ctx context.Context, o RefillOptions) (*RefillRecord, error) {
	f, err := newRefiller(ctx, o)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = waitAnswer(wctx, f.c, nil)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("refill: conntrackd pid %d does not answer: %w", f.st.Pid, err)
	}
	rec, err := f.begin()
	if err != nil || rec.State != RefillPending || o.Wait <= 0 {
		return rec, err
	}
	deadline := time.Now().Add(o.Wait)
	lastAsk := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for rec.State == RefillPending && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return rec, nil
		case <-tick.C:
		}
		if !f.st.Running() {
			// A newer conntrackd replaced it: its own start refills it.
			return rec, nil
		}
		cur, err := f.stats()
		if err != nil {
			continue
		}
		changed := rec.Observe(cur, time.Now())
		heardNothing := rec.PeerHeard && rec.Received == 0 && !rec.AskedHeard && time.Since(rec.LastChange) >= refillSettle
		if rec.State == RefillPending && (heardNothing || !rec.PeerHeard && time.Since(lastAsk) >= refillRetry) {
			if err := f.send(conntrackd.RequestResync); err == nil {
				rec.Attempts++
				rec.AskedHeard = rec.PeerHeard
				rec.LastChange = time.Now()
				changed = true
			}
			lastAsk = time.Now()
		}
		if changed {
			if err := WriteRefill(o.Root, rec); err != nil {
				f.log.Warn("recording the refill", zap.Error(err))
			}
		}
	}
	if rec.State == RefillDone {
		f.log.Info("refill done", zap.Uint64("received", rec.Received), zap.Uint64("external", rec.External), zap.Int("attempts", rec.Attempts))
	} else {
		f.log.Warn("refill: the peer has not answered", zap.Duration("waited", o.Wait), zap.Int("attempts", rec.Attempts))
	}
	return rec, nil
}
