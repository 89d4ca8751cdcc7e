package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/paths"
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
// it declares the master down (RFC 3768: 3 intervals plus skew).
func DetectionTime(prio int) time.Duration {
	skew := AdvertInterval * time.Duration(256-prio) / 256
	return 3*AdvertInterval + skew
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

type lab struct {
	o       Options
	top     *Topology
	run     Runner
	routers map[string]*Router
	server  *EchoServer
	flows   *Flows
	start   time.Time
}

func (l *lab) step(format string, a ...any) {
	fmt.Fprintf(l.o.Out, "[%5.1fs] %s\n", time.Since(l.start).Seconds(), fmt.Sprintf(format, a...))
}

// Run builds the lab, runs the scenario and tears everything down, on
// error and cancellation too. The Result holds every phase measured, even
// when a later step failed.
func Run(ctx context.Context, o Options) (res *Result, err error) {
	o.defaults()
	if o.ConfigFiles != nil {
		if err := checkConfigFiles(o.ConfigFiles); err != nil {
			return &Result{Flows: o.Flows}, err
		}
	}
	l := &lab{o: o, run: ExecRunner{}, start: time.Now(), routers: map[string]*Router{}}
	l.top = NewTopology(l.run)
	res = &Result{Flows: o.Flows}
	bins := map[string]string{}
	for _, b := range []string{"ctsync", "ctsyncd"} {
		p, aerr := filepath.Abs(filepath.Join(o.BinDir, b))
		if aerr != nil {
			return res, aerr
		}
		if _, serr := os.Stat(p); serr != nil {
			return res, fmt.Errorf("%s not built (make build): %w", b, serr)
		}
		bins[b] = p
	}
	if o.WorkDir == "" {
		if o.WorkDir, err = os.MkdirTemp("", l.top.Prefix); err != nil {
			return res, err
		}
	}
	res.WorkDir = o.WorkDir
	defer func() {
		l.step("cleaning up: stopping flows, ctsyncd and its engines, then removing namespaces")
		if cerr := l.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up: %w", cerr))
		}
		res.Elapsed = time.Since(l.start)
		if err == nil && !o.KeepWorkDir {
			os.RemoveAll(o.WorkDir)
		} else {
			l.step("router roots and logs kept in %s", o.WorkDir)
		}
	}()

	if gone, err := RemoveStale(); err != nil {
		return res, fmt.Errorf("removing namespaces of earlier, killed labs: %w", err)
	} else if len(gone) > 0 {
		l.step("removed %d namespaces left by earlier, killed labs", len(gone))
	}
	l.step("building namespaces and nftables %s{%s}: client - LAN switch - r1,r2 - WAN switch - server, sync link r1<->r2",
		l.top.Prefix, strings.Join(Roles, ","))
	if err := l.top.Up(ctx); err != nil {
		return res, err
	}
	res.RTOCapped = l.top.RTOCapped
	if !l.top.RTOCapped {
		l.step("note: this kernel has no net.ipv4.tcp_rto_max_ms (Linux 6.15+); gaps include TCP's exponential backoff")
	}
	l.step("nftables on r1 and r2: SNAT %s to %s, WAN->LAN established only, invalid dropped; tcp_loose=0", LANPrefix, WANVIP)
	for _, name := range []string{"r1", "r2"} {
		other := map[string]string{"r1": "r2", "r2": "r1"}[name]
		prio := map[string]int{"r1": R1Priority, "r2": R2Priority}[name]
		r := &Router{
			Name: name, NS: l.top.NS(name), Root: paths.Root{Dir: filepath.Join(o.WorkDir, name)},
			Ctsync: bins["ctsync"], Ctsyncd: bins["ctsyncd"],
			Priority: prio, Peer: routerAddrs[other].Sync.Addr(),
		}
		l.routers[name] = r
		l.step("starting ctsyncd on %s (root %s)", name, r.Root.Dir)
		if err := r.Start(ctx); err != nil {
			return res, err
		}
	}
	for _, name := range []string{"r1", "r2"} {
		r := l.routers[name]
		if f := o.ConfigFiles[name]; f != "" {
			l.step("configuring %s through ctsync configure from %s: %s", name, f, strings.Join(LoadLines(filepath.Base(f)), ", "))
			out, err := r.LoadConfig(ctx, f)
			if err != nil {
				return res, err
			}
			for _, line := range strings.Split(out, "\n") {
				fmt.Fprintf(l.o.Out, "          %s\n", strings.TrimSpace(line))
			}
			continue
		}
		l.step("configuring %s through ctsync configure: VRRP lan+wan in sync-group MAIN (priority %d), conntrack-sync over sync0 to %s",
			name, r.Priority, r.Peer)
		if err := r.Configure(ctx, r.ConfigLines()); err != nil {
			return res, err
		}
	}
	if err := l.waitMaster(ctx, "r1", 20*time.Second); err != nil {
		return res, err
	}
	l.step("echo server on %s:%d", ServerIP, ServerPort)
	if err := l.startServer(); err != nil {
		return res, err
	}

	// With conntrack-sync.
	if err := l.phases(ctx, res, true); err != nil {
		return res, err
	}
	if o.SyncOnly {
		l.step("done (sync phases only)")
		fmt.Fprintln(l.o.Out)
		fmt.Fprint(l.o.Out, FormatSummary(res))
		return res, nil
	}

	l.step("deleting service conntrack-sync on r1 and r2 (commit)")
	for _, name := range []string{"r1", "r2"} {
		if err := l.routers[name].Configure(ctx, NoSyncLines()); err != nil {
			return res, err
		}
	}
	if err := l.waitMaster(ctx, "r1", 20*time.Second); err != nil {
		return res, err
	}
	if err := l.phases(ctx, res, false); err != nil {
		return res, err
	}
	l.step("done")
	fmt.Fprintln(l.o.Out)
	fmt.Fprint(l.o.Out, FormatSummary(res))
	return res, nil
}

// phases runs baseline and failover (and, with sync, failback) on fresh
// flows.
func (l *lab) phases(ctx context.Context, res *Result, sync bool) error {
	label := map[bool]string{true: "sync", false: "no sync"}[sync]
	l.step("[%s] opening %d TCP flows client -> %s:%d via %s, one round trip every %v each",
		label, l.o.Flows, ServerIP, ServerPort, LANVIP, l.o.Interval)
	if err := l.startFlows(ctx); err != nil {
		return err
	}
	defer func() {
		l.flows.Stop()
		l.flows = nil
	}()
	l.flows.Mark()
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	base := l.observe(ctx, label+": baseline", sync, "r1", time.Now())
	base.Sample = l.flows.Snapshot()
	if sync {
		base.External = l.waitExternal(ctx, l.o.Flows, 10*time.Second)
	}
	l.report(&base)
	res.Phases = append(res.Phases, base)

	l.step("[%s] failing r1: lan0 and wan0 down (power loss of its traffic links; sync0 stays up)", label)
	fo, err := l.event(ctx, label+": failover r1->r2", sync, "r2", func() error {
		return l.top.SetRouterLinks(ctx, "r1", false)
	})
	res.Phases = append(res.Phases, fo)
	if err != nil {
		return err
	}
	l.step("[%s] bringing r1 back: lan0 and wan0 up; r1 (priority %d) preempts r2 (%d)", label, R1Priority, R2Priority)
	if !sync {
		// The flows are dead; what matters is that r1 is master again
		// for whatever runs next.
		if err := l.top.SetRouterLinks(ctx, "r1", true); err != nil {
			return err
		}
		return l.waitMaster(ctx, "r1", 20*time.Second)
	}
	fb, err := l.event(ctx, label+": failback r2->r1", sync, "r1", func() error {
		return l.top.SetRouterLinks(ctx, "r1", true)
	})
	res.Phases = append(res.Phases, fb)
	return err
}

// event runs do, waits until master holds the addresses and every flow
// has recovered or died, and measures the phase.
func (l *lab) event(ctx context.Context, name string, sync bool, master string, do func() error) (Phase, error) {
	l.flows.Mark()
	t0 := time.Now()
	if err := do(); err != nil {
		return Phase{Name: name}, err
	}
	if err := l.waitMaster(ctx, master, 20*time.Second); err != nil {
		return Phase{Name: name}, err
	}
	tVIP := time.Now()
	l.step("waiting for every flow to complete a round trip through %s, or to die (no round trip for %v)", master, l.o.DeadAfter)
	deadline := tVIP.Add(l.o.DeadAfter + 5*time.Second)
	for !l.flows.Settled(tVIP) && time.Now().Before(deadline) {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return Phase{Name: name}, err
		}
	}
	took := time.Since(t0)
	// A little longer, so a flow that recovered and stalls again shows.
	if err := sleep(ctx, 1500*time.Millisecond); err != nil {
		return Phase{Name: name}, err
	}
	p := l.observe(ctx, name, sync, master, t0)
	p.Sample = l.flows.Snapshot()
	p.Took = took
	l.report(&p)
	return p, nil
}

func (l *lab) observe(ctx context.Context, name string, sync bool, master string, since time.Time) Phase {
	p := Phase{Name: name, Sync: sync, Master: master, External: -1,
		KernelFlows: map[string]int{}, Transitions: map[string]*transition.Record{}, Status: map[string]string{}}
	for _, rn := range []string{"r1", "r2"} {
		r := l.routers[rn]
		n, err := KernelFlows(ctx, r.NS, l.flows.LocalPorts())
		if err != nil {
			n = -1
		}
		p.KernelFlows[rn] = n
		p.Status[rn], _ = r.Show(ctx, "conntrack-sync", "status")
		// Only a transition of this phase says anything about it.
		if rec, err := transition.ReadRecord(r.Root); err == nil && rec != nil && rec.Started.After(since) {
			p.Transitions[rn] = rec
		}
	}
	return p
}

func (l *lab) report(p *Phase) {
	s := p.Sample
	l.step("%s: %d/%d flows alive, %d dead%s, longest gap %s, master %s, lab flows in kernel r1 %d r2 %d",
		p.Name, s.Alive, s.Flows, s.Dead, deaths(s), fmtGap(s.LongestGap), p.Master, p.KernelFlows["r1"], p.KernelFlows["r2"])
	if p.External >= 0 {
		l.step("  r2 external cache (replicated from r1): %d entries", p.External)
	}
	for _, rn := range []string{"r1", "r2"} {
		if rec := p.Transitions[rn]; rec != nil {
			l.step("  %s vrrp-transition hook: %s", rn, describeRecord(rec))
		}
		l.step("  %s# ctsync show conntrack-sync status", rn)
		for _, line := range strings.Split(strings.TrimRight(p.Status[rn], "\n"), "\n") {
			fmt.Fprintf(l.o.Out, "          %s\n", line)
		}
	}
}

func deaths(s Sample) string {
	if s.Dead == 0 {
		return ""
	}
	return " (" + s.DeathSummary() + ")"
}

// waitMaster waits until name holds both virtual addresses and the other
// router holds neither.
func (l *lab) waitMaster(ctx context.Context, name string, limit time.Duration) error {
	other := map[string]string{"r1": "r2", "r2": "r1"}[name]
	start := time.Now()
	for {
		a, err := l.routers[name].HoldsVIPs(ctx, l.run)
		if err != nil {
			return err
		}
		b, err := l.routers[other].HoldsVIPs(ctx, l.run)
		if err != nil {
			return err
		}
		if a && !b {
			l.step("%s is VRRP master (holds %s and %s) after %.1fs", name, LANVIP, WANVIP, time.Since(start).Seconds())
			return nil
		}
		if time.Since(start) > limit {
			return fmt.Errorf("%s did not become VRRP master within %v (r1 log:\n%s\nr2 log:\n%s)",
				name, limit, l.routers["r1"].LogTail(15), l.routers["r2"].LogTail(15))
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitExternal waits until r2's external cache holds at least n entries,
// so the failover tests the hook and not a replication race. It returns
// the last count seen, -1 if the statistics could not be read.
func (l *lab) waitExternal(ctx context.Context, n int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	last := -1
	for time.Now().Before(deadline) {
		js, err := l.routers["r2"].Show(ctx, "conntrack-sync", "statistics", "--json")
		if err == nil {
			last = jsonInt([]byte(js), "cache", "external", "current")
		}
		if last >= n || last < 0 {
			return last
		}
		if sleep(ctx, 200*time.Millisecond) != nil {
			return last
		}
	}
	return last
}

func (l *lab) startServer() error {
	var ln net.Listener
	err := inNetns(l.top.NS("server"), func() error {
		var err error
		ln, err = net.Listen("tcp", netip.AddrPortFrom(ServerIP, ServerPort).String())
		return err
	})
	if err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	l.server = NewEchoServer(ln)
	return nil
}

func (l *lab) startFlows(ctx context.Context) error {
	ns := l.top.NS("client")
	dst := netip.AddrPortFrom(ServerIP, ServerPort).String()
	f, err := StartFlows(ctx, FlowConfig{
		Flows: l.o.Flows, Interval: l.o.Interval, DeadAfter: l.o.DeadAfter,
		Dial: func(ctx context.Context) (net.Conn, error) {
			var c net.Conn
			err := inNetns(ns, func() error {
				d := net.Dialer{Timeout: 5 * time.Second}
				var err error
				c, err = d.DialContext(ctx, "tcp", dst)
				return err
			})
			return c, err
		},
	})
	if err != nil {
		return err
	}
	l.flows = f
	return nil
}

// close stops everything in order: flows and server (in-process), then
// each router's ctsyncd and engines (waiting for their exit), then the
// namespaces, killing whatever is still listed in them.
func (l *lab) close() error {
	var errs []error
	if l.flows != nil {
		l.flows.Stop()
	}
	if l.server != nil {
		if err := l.server.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, name := range []string{"r1", "r2"} {
		if r := l.routers[name]; r != nil {
			if err := r.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := l.top.Down(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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
