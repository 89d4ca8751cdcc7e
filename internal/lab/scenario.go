package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ctsync/ctsync/internal/transition"
)

// VRRP timing the lab configures: the default advertisement interval and
// the two priorities (r1 preempts on return).
const (
	AdvertInterval = time.Second
	R1Priority     = 200
	R2Priority     = 100
)

// DetectionTime is how long a VRRP backup of priority prio waits before
// it declares the master down at the default AdvertInterval.
func DetectionTime(prio int) time.Duration { return DetectionTimeFor(AdvertInterval, prio) }

// DetectionTimeFor is how long a VRRP backup of priority prio waits
// before it declares the master down at advertisement interval advert:
// 3 intervals plus a skew of (256-prio)/256 of one (RFC 3768 for VRRPv2;
// RFC 5798 for v3 with the master's advert interval).
func DetectionTimeFor(advert time.Duration, prio int) time.Duration {
	skew := advert * time.Duration(256-prio) / 256
	return 3*advert + skew
}

// GapBound is the longest gap a flow may see when failover works: the
// backup's detection time plus one second for the hook and TCP.
func GapBound() time.Duration { return DetectionTime(R2Priority) + time.Second }

// Options configure a Run.
type Options struct {
	Flows     int           // default 200
	Interval  time.Duration // per flow, default 200 ms
	DeadAfter time.Duration // default 15 s
	BinDir    string        // holds ctsync and ctsyncd; default "bin"
	WorkDir   string        // the routers' roots go here; default a temp dir
	Out       io.Writer     // progress and report; default stdout
	// KeepWorkDir keeps the roots (logs, generated configs) after a
	// successful run; a failed run always keeps them.
	KeepWorkDir bool
	// ConfigFiles, when set, configures each router ("r1", "r2") by
	// loading its config.boot (Vyatta 6.x, VyOS or ctsync's own; see
	// VyattaPair) and committing it, instead of ConfigLines. The files
	// must give r1 priority R1Priority, r2 R2Priority and the lab's
	// interface names and virtual addresses.
	ConfigFiles map[string]string
	// SyncOnly runs only the phases with conntrack-sync, without the
	// no-sync contrast: enough to show a configuration fails over well.
	SyncOnly bool
}

func (o *Options) defaults() {
	if o.Flows == 0 {
		o.Flows = 200
	}
	if o.Interval == 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.DeadAfter == 0 {
		o.DeadAfter = 15 * time.Second
	}
	if o.BinDir == "" {
		o.BinDir = "bin"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// Phase is one measured step of the scenario.
type Phase struct {
	Name   string
	Sync   bool   // conntrack-sync configured
	Master string // who holds the virtual addresses at the end
	Sample Sample
	// Took is from the event (links down or up) until every flow had
	// either recovered or died.
	Took time.Duration
	// KernelFlows counts the lab's flows in each router's kernel table.
	KernelFlows map[string]int
	// External is r2's external cache size before the failover, -1 when
	// unknown.
	External int
	// Transitions holds each router's transition record (written by the
	// vrrp-transition hook) when the hook ran during this phase.
	Transitions map[string]*transition.Record
	// Status is each router's `show conntrack-sync status`.
	Status map[string]string
	// Samples holds one Sample per Flows measured, in the order given;
	// Sample merges them (sums, and the longest gap of all).
	Samples []Sample
}

// Result is a whole run.
type Result struct {
	Flows   int
	Phases  []Phase
	Elapsed time.Duration
	WorkDir string
	// RTOCapped says the end hosts retransmitted at least once a second;
	// without it a gap includes TCP's exponential backoff.
	RTOCapped bool
}

// Phase returns the phase named name, or nil.
func (r *Result) Phase(name string) *Phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// Phase names, for callers that check a Result.
const (
	PhaseSyncBaseline   = "sync: baseline"
	PhaseSyncFailover   = "sync: failover r1->r2"
	PhaseSyncFailback   = "sync: failback r2->r1"
	PhaseNoSyncBaseline = "no sync: baseline"
	PhaseNoSyncFailover = "no sync: failover r1->r2"
)

// Run builds the lab, runs the scenario and tears everything down, on
// error and cancellation too. The Result holds every phase measured, even
// when a later step failed. It is one use of Pair: phases with
// conntrack-sync, then (unless SyncOnly) the same without it.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	o.defaults()
	start := time.Now()
	res = &Result{Flows: o.Flows}
	p, err := StartPair(ctx, PairOptions{BinDir: o.BinDir, WorkDir: o.WorkDir, Out: o.Out, KeepWorkDir: o.KeepWorkDir,
		ConfigFiles: o.ConfigFiles, Interval: o.Interval, DeadAfter: o.DeadAfter})
	if err != nil {
		return res, err
	}
	p.start = start
	res.WorkDir = p.WorkDir()
	res.RTOCapped = p.RTOCapped()
	defer func() {
		if err != nil {
			p.Keep()
		}
		if cerr := p.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
		res.Elapsed = time.Since(start)
	}()

	// With conntrack-sync.
	if err := runPhases(ctx, p, o, res, true); err != nil {
		return res, err
	}
	if o.SyncOnly {
		p.Logf("done (sync phases only)")
		fmt.Fprintln(o.Out)
		fmt.Fprint(o.Out, FormatSummary(res))
		return res, nil
	}

	p.Logf("deleting service conntrack-sync on r1 and r2 (commit)")
	for _, name := range []string{"r1", "r2"} {
		if err := p.Router(name).Configure(ctx, NoSyncLines()); err != nil {
			return res, err
		}
	}
	p.sync = false
	if err := p.WaitMaster(ctx, "r1", 20*time.Second); err != nil {
		return res, err
	}
	if err := runPhases(ctx, p, o, res, false); err != nil {
		return res, err
	}
	p.Logf("done")
	fmt.Fprintln(o.Out)
	fmt.Fprint(o.Out, FormatSummary(res))
	return res, nil
}

// runPhases runs baseline and failover (and, with sync, failback) on
// fresh flows where the client sends.
func runPhases(ctx context.Context, p *Pair, o Options, res *Result, sync bool) error {
	label := map[bool]string{true: "sync", false: "no sync"}[sync]
	p.Logf("[%s] phases %s conntrack-sync", label, map[bool]string{true: "with", false: "without"}[sync])
	flows, err := p.StartFlows(ctx, o.Flows, ClientSends)
	if err != nil {
		return err
	}
	defer flows.Stop()
	flows.Mark()
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	base := p.Observe(ctx, label+": baseline", "r1", time.Now(), flows)
	if sync {
		// So the failover tests the hook and not a replication race.
		base.External, _ = p.WaitExternal(ctx, "r2", o.Flows, 10*time.Second)
	}
	p.Report(&base)
	res.Phases = append(res.Phases, base)

	p.Logf("[%s] failover", label)
	fo, err := p.failover(ctx, label+": failover r1->r2", []*Flows{flows})
	res.Phases = append(res.Phases, fo)
	if err != nil {
		return err
	}
	if !sync {
		// The flows are dead; what matters is that r1 is master again
		// for whatever runs next.
		p.Logf("[%s] bringing r1 back: lan0 and wan0 up", label)
		if err := p.SetLinks(ctx, "r1", true); err != nil {
			return err
		}
		return p.WaitMaster(ctx, "r1", 20*time.Second)
	}
	p.Logf("[%s] failback", label)
	fb, err := p.failback(ctx, label+": failback r2->r1", []*Flows{flows})
	res.Phases = append(res.Phases, fb)
	return err
}

func deaths(s Sample) string {
	if s.Dead == 0 {
		return ""
	}
	return " (" + s.DeathSummary() + ")"
}

// errPollLimit is poll's limit passing before cond held.
var errPollLimit = errors.New("limit passed")

// poll calls cond every interval until it holds, returns an error, ctx
// ends or limit passes (errPollLimit; the caller says what it waited
// for).
func poll(ctx context.Context, limit, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return errPollLimit
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
