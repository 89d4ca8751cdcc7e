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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
)

// PairOptions configure StartPair.
type PairOptions struct {
	BinDir  string    // holds ctsync and ctsyncd; default "bin"
	WorkDir string    // the routers' roots go here; default a temp dir
	Out     io.Writer // progress; default stdout
	// KeepWorkDir keeps the roots (logs, generated configs) after Close;
	// without it they are kept only when a step failed or Keep was called.
	KeepWorkDir bool
	// AdvertInterval is both VRRP groups' advertise-interval; default
	// 1 s (the VyOS default, no line is set). A fraction of a second
	// needs VRRPVersion 3.
	AdvertInterval time.Duration
	// VRRPVersion, when not 0, sets high-availability vrrp
	// global-parameters version (0: keepalived's default, 2).
	VRRPVersion int
	// KeepRTO leaves the end hosts' TCP retransmission timeout uncapped
	// even where the kernel could cap it (see Topology.KeepRTO).
	KeepRTO bool
	// TCPLoose is net.netfilter.nf_conntrack_tcp_loose on both routers;
	// default 0, as the demo (1 is the kernel's default).
	TCPLoose int
	// ExtraLines are more `set`/`delete` lines per router ("r1", "r2"),
	// committed with the lab's own configuration (or, with ConfigFiles,
	// in a second commit after the load).
	ExtraLines map[string][]string
	// ConfigFiles, when set, configures each router ("r1", "r2") by
	// loading its config.boot and committing it instead of the lab's set
	// lines (see Options.ConfigFiles).
	ConfigFiles map[string]string
	// Interval is the time between two round trips of one flow; default
	// 200 ms. DeadAfter declares a flow dead after that long without a
	// round trip; default 15 s.
	Interval  time.Duration
	DeadAfter time.Duration
}

func (o *PairOptions) defaults() {
	if o.BinDir == "" {
		o.BinDir = "bin"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.AdvertInterval == 0 {
		o.AdvertInterval = AdvertInterval
	}
	if o.Interval == 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.DeadAfter == 0 {
		o.DeadAfter = 15 * time.Second
	}
}

// Direction says which end of a flow sends and measures.
type Direction int

const (
	// ClientSends: the client writes a message every interval and the
	// server echoes it (to ServerPort).
	ClientSends Direction = iota
	// ServerSends: the server writes and the client echoes (to
	// PushPort): the packets that matter at failover come from the WAN
	// to the virtual address, where the new master's own stack answers
	// a flow it has no entry for.
	ServerSends
)

func (d Direction) String() string {
	if d == ServerSends {
		return "server sends"
	}
	return "client sends"
}

// Pair is a running two-router lab: the topology, both routers' ctsyncd
// configured through `ctsync configure`, and the echo and push servers.
// Several scenarios share one Pair: start flows, act on a router, fail
// over and back, measure, in any order. Close removes everything.
type Pair struct {
	o       PairOptions
	top     *Topology
	run     Runner
	routers map[string]*Router
	echo    *EchoServer
	push    *PushServer
	start   time.Time
	// sync says conntrack-sync is configured (Phase.Sync); Run clears
	// it when it deletes the service for its no-sync contrast.
	sync bool

	pushMu sync.Mutex // one push dial and accept at a time pairs them

	mu     sync.Mutex
	flows  []*Flows
	drops  map[string]map[string][]DropRule // router -> name -> rules
	filled int                              // synthetic entries made by FillSynced
	keep   bool
	closed bool
}

// StartPair builds the lab: namespaces, links, the routers' firewall and
// sysctls, ctsyncd on r1 and r2 configured through `ctsync configure`
// (VRRP groups lan and wan in sync-group MAIN, conntrack-sync over sync0),
// the echo server on ServerPort and the push server on PushPort, and
// waits until r1 is VRRP master. On error everything made is removed.
func StartPair(ctx context.Context, o PairOptions) (p *Pair, err error) {
	o.defaults()
	if o.ConfigFiles != nil {
		if err := checkConfigFiles(o.ConfigFiles); err != nil {
			return nil, err
		}
	}
	if o.AdvertInterval < 10*time.Millisecond {
		return nil, fmt.Errorf("lab: advert interval %v below VRRPv3's 10 ms", o.AdvertInterval)
	}
	p = &Pair{o: o, run: ExecRunner{}, start: time.Now(), routers: map[string]*Router{},
		drops: map[string]map[string][]DropRule{}, sync: true}
	p.top = NewTopology(p.run)
	p.top.TCPLoose = o.TCPLoose
	p.top.KeepRTO = o.KeepRTO
	bins := map[string]string{}
	for _, b := range []string{"ctsync", "ctsyncd"} {
		path, aerr := filepath.Abs(filepath.Join(o.BinDir, b))
		if aerr != nil {
			return nil, aerr
		}
		if _, serr := os.Stat(path); serr != nil {
			return nil, fmt.Errorf("%s not built (make build): %w", b, serr)
		}
		bins[b] = path
	}
	if p.o.WorkDir == "" {
		if p.o.WorkDir, err = os.MkdirTemp("", p.top.Prefix); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			p.keep = true
			err = errors.Join(err, p.Close())
			p = nil
		}
	}()

	if gone, err := RemoveStale(); err != nil {
		return p, fmt.Errorf("removing namespaces of earlier, killed labs: %w", err)
	} else if len(gone) > 0 {
		p.Logf("removed %d namespaces left by earlier, killed labs", len(gone))
	}
	p.Logf("building namespaces and nftables %s{%s}: client - LAN switch - r1,r2 - WAN switch - server, sync link r1<->r2",
		p.top.Prefix, strings.Join(Roles, ","))
	if err := p.top.Up(ctx); err != nil {
		return p, err
	}
	if !p.top.RTOCapped {
		p.Logf("note: this kernel has no net.ipv4.tcp_rto_max_ms (Linux 6.15+); gaps include TCP's exponential backoff")
	}
	p.Logf("nftables on r1 and r2: SNAT %s to %s, WAN->LAN established only, invalid dropped; tcp_loose=%d",
		LANPrefix, WANVIP, o.TCPLoose)
	for _, name := range []string{"r1", "r2"} {
		r := &Router{
			Name: name, NS: p.top.NS(name), Root: paths.Root{Dir: filepath.Join(p.o.WorkDir, name)},
			Ctsync: bins["ctsync"], Ctsyncd: bins["ctsyncd"],
			Priority: priority(name), Peer: routerAddrs[Other(name)].Sync.Addr(),
		}
		p.routers[name] = r
		p.Logf("starting ctsyncd on %s (root %s)", name, r.Root.Dir)
		if err := r.Start(ctx); err != nil {
			return p, err
		}
	}
	for _, name := range []string{"r1", "r2"} {
		if err := p.configure(ctx, name); err != nil {
			return p, err
		}
	}
	if err := p.WaitMaster(ctx, "r1", 20*time.Second); err != nil {
		return p, err
	}
	p.Logf("echo server on %s:%d, push server on %s:%d", ServerIP, ServerPort, ServerIP, PushPort)
	if err := p.startServers(); err != nil {
		return p, err
	}
	return p, nil
}

func priority(name string) int {
	if name == "r1" {
		return R1Priority
	}
	return R2Priority
}

// Other is the other router's name: "r2" for "r1" and "r1" for "r2".
func Other(name string) string {
	if name == "r1" {
		return "r2"
	}
	return "r1"
}

// vrrpLines are the set lines PairOptions add to both routers' VRRP.
func (o *PairOptions) vrrpLines() []string {
	var l []string
	if o.VRRPVersion != 0 {
		l = append(l, fmt.Sprintf("set high-availability vrrp global-parameters version %d", o.VRRPVersion))
	}
	if o.AdvertInterval != AdvertInterval {
		s := strconv.FormatFloat(o.AdvertInterval.Seconds(), 'f', -1, 64)
		for _, g := range []string{"lan", "wan"} {
			l = append(l, fmt.Sprintf("set high-availability vrrp group %s advertise-interval %s", g, s))
		}
	}
	return l
}

func (p *Pair) configure(ctx context.Context, name string) error {
	r := p.routers[name]
	extra := append(p.o.vrrpLines(), p.o.ExtraLines[name]...)
	if f := p.o.ConfigFiles[name]; f != "" {
		p.Logf("configuring %s through ctsync configure from %s: %s", name, f, strings.Join(LoadLines(filepath.Base(f)), ", "))
		out, err := r.LoadConfig(ctx, f)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(out, "\n") {
			fmt.Fprintf(p.o.Out, "          %s\n", strings.TrimSpace(line))
		}
		if len(extra) == 0 {
			return nil
		}
		p.Logf("configuring %s: %s", name, strings.Join(extra, "; "))
		return r.Configure(ctx, append(extra, "commit"))
	}
	p.Logf("configuring %s through ctsync configure: VRRP lan+wan in sync-group MAIN (priority %d, advert %v), conntrack-sync over sync0 to %s",
		name, r.Priority, p.o.AdvertInterval, r.Peer)
	lines := r.ConfigLines()
	lines = append(lines[:len(lines)-1:len(lines)-1], append(extra, "commit")...)
	return r.Configure(ctx, lines)
}

func (p *Pair) startServers() error {
	var eln, pln net.Listener
	err := inNetns(p.top.NS("server"), func() error {
		var err error
		if eln, err = net.Listen("tcp", netip.AddrPortFrom(ServerIP, ServerPort).String()); err != nil {
			return err
		}
		pln, err = net.Listen("tcp", netip.AddrPortFrom(ServerIP, PushPort).String())
		return err
	})
	if err != nil {
		if eln != nil {
			eln.Close()
		}
		return fmt.Errorf("servers: %w", err)
	}
	p.echo = NewEchoServer(eln)
	p.push = NewPushServer(pln)
	return nil
}

// Logf prints one progress line, stamped with the time since the start.
func (p *Pair) Logf(format string, a ...any) {
	fmt.Fprintf(p.o.Out, "[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, a...))
}

// Router returns "r1" or "r2" (nil for any other name): configure it,
// show, stop and start its ctsyncd, find its namespace and root.
func (p *Pair) Router(name string) *Router { return p.routers[name] }

// NS is the namespace of a lab role (see Roles).
func (p *Pair) NS(role string) string { return p.top.NS(role) }

// WorkDir holds the routers' roots.
func (p *Pair) WorkDir() string { return p.o.WorkDir }

// RTOCapped says the end hosts retransmit at least once a second.
func (p *Pair) RTOCapped() bool { return p.top.RTOCapped }

// AdvertInterval is the VRRP advertisement interval the pair runs.
func (p *Pair) AdvertInterval() time.Duration { return p.o.AdvertInterval }

// DetectionTime is how long r2 (the backup) waits before it declares r1
// down, at this pair's advertisement interval.
func (p *Pair) DetectionTime() time.Duration {
	return DetectionTimeFor(p.o.AdvertInterval, R2Priority)
}

// GapBound is the longest gap a flow may see when failover works: the
// pair's DetectionTime, one second for the hook and TCP, and one flow
// interval, since the flow's last round trip before the failure may have
// ended that long before it.
func (p *Pair) GapBound() time.Duration {
	return p.DetectionTime() + time.Second + p.o.Interval
}

// TCPRTOMin is Linux's lowest retransmission timeout (TCP_RTO_MIN): on a
// lab link, whose round trip is microseconds, the first one.
const TCPRTOMin = 200 * time.Millisecond

// BackoffBound is the longest gap a flow sees when its path is back
// within outage of its first lost packet and its end hosts retransmit
// with TCP's exponential backoff, uncapped: the first retransmission at
// or after outage, retransmissions coming TCPRTOMin, then twice, four
// times... as long apart (0.2, 0.6, 1.4, 3.0 s after the loss).
func BackoffBound(outage time.Duration) time.Duration {
	at, rto := time.Duration(0), TCPRTOMin
	for at < outage {
		at += rto
		rto *= 2
	}
	return at
}

// Keep keeps the work dir at Close (call it when a test failed).
func (p *Pair) Keep() {
	p.mu.Lock()
	p.keep = true
	p.mu.Unlock()
}

// SetLinks sets router's lan0 and wan0 up or down (sync0 stays up).
func (p *Pair) SetLinks(ctx context.Context, router string, up bool) error {
	return p.top.SetRouterLinks(ctx, router, up)
}

// StartFlows opens n long-lived TCP flows from the client through the
// routers (SNATed to the WAN virtual address) to the server and starts
// their round trips; both directions measure round trips, gaps and
// deaths at the end that sends. Close stops them if the caller does not.
func (p *Pair) StartFlows(ctx context.Context, n int, dir Direction) (*Flows, error) {
	ns := p.top.NS("client")
	dport := uint16(ServerPort)
	if dir == ServerSends {
		dport = PushPort
	}
	dst := netip.AddrPortFrom(ServerIP, dport).String()
	dial := func(ctx context.Context) (net.Conn, error) {
		var c net.Conn
		err := inNetns(ns, func() error {
			d := net.Dialer{Timeout: 5 * time.Second}
			var err error
			c, err = d.DialContext(ctx, "tcp", dst)
			return err
		})
		return c, err
	}
	cfg := FlowConfig{Flows: n, Interval: p.o.Interval, DeadAfter: p.o.DeadAfter}
	if dir == ClientSends {
		cfg.Dial = dial
	} else {
		cfg.Open = func(ctx context.Context) (Endpoint, error) {
			// One at a time: the connection accepted next is the one
			// just dialled.
			p.pushMu.Lock()
			defer p.pushMu.Unlock()
			c, err := dial(ctx)
			if err != nil {
				return Endpoint{}, err
			}
			s, err := p.push.Next(ctx, 5*time.Second)
			if err != nil {
				c.Close()
				return Endpoint{}, err
			}
			go echoConn(c)
			return Endpoint{Conn: s, ClientPort: uint16(c.LocalAddr().(*net.TCPAddr).Port), Echo: c}, nil
		}
	}
	p.Logf("opening %d TCP flows client -> %s via %s (%s), one round trip every %v each", n, dst, LANVIP, dir, p.o.Interval)
	f, err := StartFlows(ctx, cfg)
	if err != nil {
		return nil, err
	}
	f.DstPort, f.Dir = dport, dir
	p.mu.Lock()
	p.flows = append(p.flows, f)
	p.mu.Unlock()
	return f, nil
}

// Failover fails r1 (lan0 and wan0 down, sync0 up), waits until r2 holds
// both virtual addresses, and measures until every flow given has either
// completed a round trip through r2 or died. r1 must be master.
func (p *Pair) Failover(ctx context.Context, flows ...*Flows) (Phase, error) {
	return p.failover(ctx, "failover r1->r2", flows)
}

// Failback brings r1's links back up; r1 (higher priority) preempts r2.
// It measures like Failover.
func (p *Pair) Failback(ctx context.Context, flows ...*Flows) (Phase, error) {
	return p.failback(ctx, "failback r2->r1", flows)
}

func (p *Pair) failover(ctx context.Context, name string, flows []*Flows) (Phase, error) {
	p.Logf("failing r1: lan0 and wan0 down (power loss of its traffic links; sync0 stays up)")
	return p.event(ctx, name, "r2", flows, func() error { return p.top.SetRouterLinks(ctx, "r1", false) })
}

func (p *Pair) failback(ctx context.Context, name string, flows []*Flows) (Phase, error) {
	p.Logf("bringing r1 back: lan0 and wan0 up; r1 (priority %d) preempts r2 (%d)", R1Priority, R2Priority)
	return p.event(ctx, name, "r1", flows, func() error { return p.top.SetRouterLinks(ctx, "r1", true) })
}

// event runs do, waits until master holds the addresses and every flow
// has recovered or died, and measures the phase.
func (p *Pair) event(ctx context.Context, name, master string, flows []*Flows, do func() error) (Phase, error) {
	for _, f := range flows {
		f.Mark()
	}
	t0 := time.Now()
	if err := do(); err != nil {
		return Phase{Name: name}, err
	}
	if err := p.WaitMaster(ctx, master, 20*time.Second); err != nil {
		return Phase{Name: name}, err
	}
	tVIP := time.Now()
	if len(flows) > 0 {
		p.Logf("waiting for every flow to complete a round trip through %s, or to die (no round trip for %v)", master, p.o.DeadAfter)
	}
	deadline := tVIP.Add(p.o.DeadAfter + 5*time.Second)
	for !settled(flows, tVIP) && time.Now().Before(deadline) {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return Phase{Name: name}, err
		}
	}
	took := time.Since(t0)
	// A little longer, so a flow that recovered and stalls again shows.
	if len(flows) > 0 {
		if err := sleep(ctx, 1500*time.Millisecond); err != nil {
			return Phase{Name: name}, err
		}
	}
	ph := p.Observe(ctx, name, master, t0, flows...)
	ph.Took = took
	p.Report(&ph)
	return ph, nil
}

func settled(flows []*Flows, t time.Time) bool {
	for _, f := range flows {
		if !f.Settled(t) {
			return false
		}
	}
	return true
}

// Observe measures a phase without causing one: the flows' samples (each
// and merged), the lab flows in each kernel table, hook records written
// after since and each router's `show conntrack-sync status`.
func (p *Pair) Observe(ctx context.Context, name, master string, since time.Time, flows ...*Flows) Phase {
	ph := Phase{Name: name, Sync: p.sync, Master: master, External: -1,
		KernelFlows: map[string]int{}, Transitions: map[string]*transition.Record{}, Status: map[string]string{}}
	for _, rn := range []string{"r1", "r2"} {
		r := p.routers[rn]
		total := 0
		for _, f := range flows {
			n, err := KernelFlowsTo(ctx, r.NS, f.DstPort, f.LocalPorts())
			if err != nil || total < 0 {
				total = -1
				continue
			}
			total += n
		}
		ph.KernelFlows[rn] = total
		ph.Status[rn], _ = r.Show(ctx, "conntrack-sync", "status")
		// Only a transition of this phase says anything about it.
		if rec, err := transition.ReadRecord(r.Root); err == nil && rec != nil && rec.Started.After(since) {
			ph.Transitions[rn] = rec
		}
	}
	for _, f := range flows {
		s := f.Snapshot()
		ph.Samples = append(ph.Samples, s)
		ph.Sample = mergeSamples(ph.Sample, s)
	}
	return ph
}

func mergeSamples(a, b Sample) Sample {
	m := Sample{Flows: a.Flows + b.Flows, Alive: a.Alive + b.Alive, Dead: a.Dead + b.Dead,
		Stalled: a.Stalled + b.Stalled, LongestGap: max(a.LongestGap, b.LongestGap),
		RoundTrips: a.RoundTrips + b.RoundTrips, Deaths: map[string]int{}}
	for _, d := range []map[string]int{a.Deaths, b.Deaths} {
		for k, v := range d {
			m.Deaths[k] += v
		}
	}
	return m
}

// Report prints a phase: flows, gaps, kernel tables, hook records and
// each router's status.
func (p *Pair) Report(ph *Phase) {
	s := ph.Sample
	p.Logf("%s: %d/%d flows alive, %d dead%s, longest gap %s, master %s, lab flows in kernel r1 %d r2 %d",
		ph.Name, s.Alive, s.Flows, s.Dead, deaths(s), fmtGap(s.LongestGap), ph.Master, ph.KernelFlows["r1"], ph.KernelFlows["r2"])
	if len(ph.Samples) > 1 {
		for i, ss := range ph.Samples {
			p.Logf("  flows %d: %d/%d alive, %d dead%s, longest gap %s", i+1, ss.Alive, ss.Flows, ss.Dead, deaths(ss), fmtGap(ss.LongestGap))
		}
	}
	if ph.External >= 0 {
		p.Logf("  r2 external cache (replicated from r1): %d entries", ph.External)
	}
	for _, rn := range []string{"r1", "r2"} {
		if rec := ph.Transitions[rn]; rec != nil {
			p.Logf("  %s vrrp-transition hook: %s", rn, describeRecord(rec))
		}
		p.Logf("  %s# ctsync show conntrack-sync status", rn)
		for _, line := range strings.Split(strings.TrimRight(ph.Status[rn], "\n"), "\n") {
			fmt.Fprintf(p.o.Out, "          %s\n", line)
		}
	}
}

// WaitMaster waits until name holds both virtual addresses and the other
// router holds neither.
func (p *Pair) WaitMaster(ctx context.Context, name string, limit time.Duration) error {
	other := Other(name)
	start := time.Now()
	for {
		a, err := p.routers[name].HoldsVIPs(ctx, p.run)
		if err != nil {
			return err
		}
		b, err := p.routers[other].HoldsVIPs(ctx, p.run)
		if err != nil {
			return err
		}
		if a && !b {
			p.Logf("%s is VRRP master (holds %s and %s) after %.2fs", name, LANVIP, WANVIP, time.Since(start).Seconds())
			return nil
		}
		if time.Since(start) > limit {
			return fmt.Errorf("%s did not become VRRP master within %v (r1 log:\n%s\nr2 log:\n%s)",
				name, limit, p.routers["r1"].LogTail(15), p.routers["r2"].LogTail(15))
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// External reads router's external cache size from `show conntrack-sync
// statistics --json`.
func (p *Pair) External(ctx context.Context, router string) (int, error) {
	return p.Cache(ctx, router, "external")
}

// Cache reads the size of router's cache ("internal" or "external") from
// `show conntrack-sync statistics --json`.
func (p *Pair) Cache(ctx context.Context, router, cache string) (int, error) {
	js, err := p.routers[router].Show(ctx, "conntrack-sync", "statistics", "--json")
	if err != nil {
		return -1, err
	}
	n := jsonInt([]byte(js), "cache", cache, "current")
	if n < 0 {
		return -1, fmt.Errorf("%s: no cache.%s.current in statistics: %s", router, cache, js)
	}
	return n, nil
}

// WaitNoDying waits until router's kernel has delivered the events of
// every entry it deleted (its dying list is empty): after that, no late
// destroy event can change conntrackd's caches. It looks with one netlink
// datagram per poll: listing a long dying list (conntrack -L dying) would
// take the CPU the engines need.
func (p *Pair) WaitNoDying(ctx context.Context, router string, limit time.Duration) error {
	err := poll(ctx, limit, 200*time.Millisecond, func() (done bool, err error) {
		err = inNetns(p.top.NS(router), func() (err error) {
			done, err = ctflow.AnyDying()
			done = !done
			return err
		})
		return done, err
	})
	if errors.Is(err, errPollLimit) {
		return fmt.Errorf("%s: deleted entries still waiting for their destroy events after %v", router, limit)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", router, err)
	}
	return nil
}

// WaitTransition waits until router's vrrp-transition hook has recorded a
// run for state that started after since, and returns its record.
func (p *Pair) WaitTransition(ctx context.Context, router, state string, since time.Time, limit time.Duration) (*transition.Record, error) {
	var rec *transition.Record
	err := poll(ctx, limit, 100*time.Millisecond, func() (bool, error) {
		var err error
		rec, err = transition.ReadRecord(p.routers[router].Root)
		return rec != nil && rec.State == state && rec.Started.After(since), err
	})
	if errors.Is(err, errPollLimit) {
		return rec, fmt.Errorf("%s: no %s transition recorded after %v", router, state, limit)
	}
	return rec, err
}

// WaitExternal waits until router's external cache holds at least n
// entries and returns the last count seen; it fails when limit passes
// first or the statistics cannot be read (the count is then -1).
func (p *Pair) WaitExternal(ctx context.Context, router string, n int, limit time.Duration) (int, error) {
	last := -1
	err := poll(ctx, limit, 200*time.Millisecond, func() (bool, error) {
		var err error
		last, err = p.External(ctx, router)
		return last >= n, err
	})
	if errors.Is(err, errPollLimit) {
		return last, fmt.Errorf("%s: external cache holds %d entries after %v, want %d", router, last, limit, n)
	}
	return last, err
}

// TCPOutRsts is Tcp: OutRsts of /proc/net/snmp in router's namespace:
// how many resets its own TCP stack has sent.
func (p *Pair) TCPOutRsts(ctx context.Context, router string) (uint64, error) {
	out, err := p.run.Run(ctx, nil, "ip", "netns", "exec", p.top.NS(router), "cat", "/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	return snmpValue(out, "Tcp", "OutRsts")
}

// snmpValue reads one counter of /proc/net/snmp: a header line
// "Proto: Name1 Name2..." followed by "Proto: v1 v2...".
func snmpValue(b []byte, proto, name string) (uint64, error) {
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		h, v := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(h) == 0 || h[0] != proto+":" || len(v) != len(h) || v[0] != h[0] {
			continue
		}
		for j := 1; j < len(h); j++ {
			if h[j] == name {
				n, err := strconv.ParseUint(v[j], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("/proc/net/snmp %s %s: %w", proto, name, err)
				}
				return n, nil
			}
		}
		// A header without the name: keep looking (it is not there).
		break
	}
	return 0, fmt.Errorf("/proc/net/snmp: no %s %s", proto, name)
}

// FillSynced creates n established TCP entries in r1's kernel table over
// netlink (10.a.b.c:port -> 192.0.2.1:80; each call makes new ones) and
// waits until r2's external cache holds them: conntrackd on r1 learns
// them from its event socket and replicates them. If events are lost (a
// netlink overrun), it asks r1's conntrackd to resync with the kernel and
// send a bulk update.
func (p *Pair) FillSynced(ctx context.Context, n int) error {
	if n <= 0 {
		return nil
	}
	before, err := p.External(ctx, "r2")
	if err != nil {
		return err
	}
	p.mu.Lock()
	first := p.filled
	p.filled += n
	p.mu.Unlock()
	p.Logf("creating %d conntrack entries in r1's kernel table over netlink", n)
	t0 := time.Now()
	if err := fillTable(p.top.NS("r1"), first, n); err != nil {
		return err
	}
	p.Logf("created %d entries in %.1fs; waiting for r2's external cache to hold them", n, time.Since(t0).Seconds())
	limit := 15*time.Second + time.Duration(n)*200*time.Microsecond
	if _, err := p.WaitExternal(ctx, "r2", before+n, limit/2); err == nil {
		return nil
	} else if ctx.Err() != nil {
		return err
	}
	p.Logf("r2's external cache is short")
	if err := p.Resend(ctx); err != nil {
		return err
	}
	got, err := p.WaitExternal(ctx, "r2", before+n, limit/2)
	if err != nil {
		return fmt.Errorf("filling %d synced entries (r2 held %d before, %d now): %w", n, before, got, err)
	}
	return nil
}

// Resend has r1's conntrackd resync its internal cache with the kernel
// (-R) and send it all to r2 (-B): what makes up for the events r1's
// conntrackd lost when a fill made 100,000 entries in a second, more
// than its event socket holds.
func (p *Pair) Resend(ctx context.Context) error {
	r1 := p.routers["r1"]
	p.Logf("r1's conntrackd -R (resync with the kernel) and -B (bulk send)")
	for _, flag := range []string{"-R", "-B"} {
		if _, err := p.run.Run(ctx, nil, "ip", "netns", "exec", r1.NS, "conntrackd", "-C", r1.Root.ConntrackdConf(), flag); err != nil {
			return fmt.Errorf("r1: conntrackd %s: %w", flag, err)
		}
	}
	return nil
}

// fillerSource is the source address of synced entry i: one address per
// entry, in 10.0.0.0/8.
func fillerSource(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// fillTable creates entries first..first+n-1 in the namespace's kernel
// conntrack table, over four netlink sockets opened in it, a batch of
// requests per send.
func fillTable(ns string, first, n int) error {
	const workers = 4
	conns := make([]*ctflow.Conn, 0, workers)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// A netlink socket belongs to the namespace it was opened in.
	if err := inNetns(ns, func() error {
		for range workers {
			c, err := ctflow.Dial()
			if err != nil {
				return fmt.Errorf("conntrack netlink: %w", err)
			}
			conns = append(conns, c)
		}
		return nil
	}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := netip.AddrFrom4([4]byte{192, 0, 2, 1})
			batch := make([]ctflow.Flow, 0, ctflow.DeleteBatch)
			flush := func(upTo int) bool {
				if err := ctflow.Create(c, batch); err != nil {
					errs[w] = fmt.Errorf("creating conntrack entries up to %d: %w", upTo, err)
					return false
				}
				batch = batch[:0]
				return true
			}
			for k := w; k < n; k += workers {
				i := first + k
				src := fillerSource(i)
				f := ctflow.EstablishedTCP(src, dst, uint16(1024+i%60000), 80, 3600)
				// CONFIRMED must be in the status: the kernel sets it on
				// creation and refuses (EBUSY) a request that clears it.
				f.Status = ctflow.StatusSeenReply | ctflow.StatusAssured | ctflow.StatusConfirmed
				batch = append(batch, f)
				if len(batch) == cap(batch) && !flush(i) {
					return
				}
			}
			flush(first + n - 1)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// DropRule is one nftables match whose packets a drop discards, at the
// input or output hook of a router ("iifname \"sync0\" meta l4proto udp").
type DropRule struct {
	Output bool   // the output hook; else input
	Match  string // nftables expressions before "counter drop"
}

// SetDrop turns a named set of drop rules on or off in router's
// namespace, in a table of the lab's own (inet ctlab_drop, hooked before
// conntrack), never in ctsync's or the lab firewall's tables. Drops of
// different names add up; the table goes when the last is off.
func (p *Pair) SetDrop(ctx context.Context, router, name string, on bool, rules ...DropRule) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drops[router] == nil {
		p.drops[router] = map[string][]DropRule{}
	}
	prev, had := p.drops[router][name]
	if on {
		p.drops[router][name] = rules
	} else {
		delete(p.drops[router], name)
	}
	if _, err := p.run.Run(ctx, dropRuleset(p.drops[router]), "ip", "netns", "exec", p.top.NS(router), "nft", "-f", "-"); err != nil {
		if had {
			p.drops[router][name] = prev
		} else {
			delete(p.drops[router], name)
		}
		return fmt.Errorf("%s: drop %s: %w", router, name, err)
	}
	return nil
}

// dropRuleset renders the whole ctlab_drop table (replacing any earlier
// one), or only its removal when no drop is on.
func dropRuleset(drops map[string][]DropRule) []byte {
	var b strings.Builder
	b.WriteString("table inet ctlab_drop\ndelete table inet ctlab_drop\n")
	if len(drops) == 0 {
		return []byte(b.String())
	}
	var in, out []string
	for name, rs := range drops {
		for _, r := range rs {
			line := fmt.Sprintf("\t\t%s counter drop comment %q\n", r.Match, name)
			if r.Output {
				out = append(out, line)
			} else {
				in = append(in, line)
			}
		}
	}
	b.WriteString("table inet ctlab_drop {\n")
	b.WriteString("\tchain input {\n\t\ttype filter hook input priority -400; policy accept;\n" + strings.Join(in, "") + "\t}\n")
	b.WriteString("\tchain output {\n\t\ttype filter hook output priority -400; policy accept;\n" + strings.Join(out, "") + "\t}\n")
	b.WriteString("}\n")
	return []byte(b.String())
}

// DropSync drops (on) or passes again (off) all conntrack-sync traffic
// (UDP) on router's sync0, both ways: replication, resync requests and
// their answers. VRRP runs on lan0 and wan0 and is not touched.
func (p *Pair) DropSync(ctx context.Context, router string, on bool) error {
	return p.SetDrop(ctx, router, "sync", on,
		DropRule{Match: `iifname "sync0" meta l4proto udp`},
		DropRule{Output: true, Match: `oifname "sync0" meta l4proto udp`})
}

// DropVRRP drops (on) or passes again (off) VRRP adverts (IP protocol
// 112) that router receives on lan0 and wan0. With it on r2 (the
// backup) stops hearing r1 and becomes master too, while r1 still hears
// r2's adverts (lower priority) and stays master: split brain.
func (p *Pair) DropVRRP(ctx context.Context, router string, on bool) error {
	return p.SetDrop(ctx, router, "vrrp", on,
		DropRule{Match: `iifname { "lan0", "wan0" } ip protocol vrrp`})
}

// Close stops every flow, the servers, each router's ctsyncd and
// engines (by pid, waiting for their exit), then removes the namespaces,
// whatever happened before. The work dir goes too unless KeepWorkDir,
// Keep or a failed StartPair asked to keep it. Safe to call twice.
func (p *Pair) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	flows := p.flows
	keep := p.keep || p.o.KeepWorkDir
	p.mu.Unlock()
	p.Logf("cleaning up: stopping flows, ctsyncd and its engines, then removing namespaces")
	var errs []error
	for _, f := range flows {
		f.Stop()
	}
	if p.echo != nil {
		if err := p.echo.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if p.push != nil {
		if err := p.push.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	for _, name := range []string{"r1", "r2"} {
		if r := p.routers[name]; r != nil {
			if err := r.Stop(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := p.top.Down(); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err == nil && !keep {
		os.RemoveAll(p.o.WorkDir)
	} else {
		p.Logf("router roots and logs kept in %s", p.o.WorkDir)
	}
	return err
}

// FillerGap explains a shortfall of router's external cache against the
// synced entries FillSynced created: how many of them the cache lacks,
// and for a few of them whether the peer's kernel table and its internal
// cache still hold them. It tells a loss on the sync link (the peer
// still has them) from entries the peer itself no longer has.
func (p *Pair) FillerGap(ctx context.Context, router string) string {
	peer := "r1"
	if router == "r1" {
		peer = "r2"
	}
	p.mu.Lock()
	n := p.filled
	p.mu.Unlock()
	cache := func(r, flag string) (map[string]bool, error) {
		out, err := p.run.Run(ctx, nil, "ip", "netns", "exec", p.top.NS(r), "conntrackd", "-C", p.routers[r].Root.ConntrackdConf(), flag)
		if err != nil {
			return nil, err
		}
		return fillerSources(string(out)), nil
	}
	ext, err := cache(router, "-e")
	if err != nil {
		return fmt.Sprintf("%s: external cache: %v", router, err)
	}
	in, err := cache(peer, "-i")
	if err != nil {
		return fmt.Sprintf("%s: internal cache: %v", peer, err)
	}
	out, err := p.run.Run(ctx, nil, "ip", "netns", "exec", p.top.NS(peer), "conntrack", "-L", "-p", "tcp", "--dport", "80")
	if err != nil {
		return fmt.Sprintf("%s: kernel table: %v", peer, err)
	}
	kern := fillerSources(string(out))
	var missing []string
	for i := range n {
		src := fillerSource(i).String()
		if !ext[src] {
			missing = append(missing, src)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s's external cache lacks %d of the %d synced entries (%s's kernel holds %d, its internal cache %d)",
		router, len(missing), n, peer, len(kern), len(in))
	for i, src := range missing {
		if i == 8 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; %s: in %s's kernel %v, internal cache %v", src, peer, kern[src], in[src])
	}
	return b.String()
}

// fillerSources are the source addresses of the synced entries
// (10.0.0.0/8 to port 80) in a conntrack or conntrackd listing.
func fillerSources(out string) map[string]bool {
	m := map[string]bool{}
	for line := range strings.Lines(out) {
		if !strings.Contains(line, "dport=80 ") {
			continue
		}
		for f := range strings.FieldsSeq(line) {
			if src, ok := strings.CutPrefix(f, "src=10."); ok {
				m["10."+src] = true
				break
			}
		}
	}
	return m
}
