// Package lab builds the failover lab: two routers that NAT a LAN to a
// WAN virtual address, each running ctsyncd in its own network namespace,
// with long-lived TCP flows through them. It fails the master, brings it
// back, and measures what the flows saw. `ctsync-lab demo` and
// TestFailover run Run: phases once with conntrack-sync, once without.
//
// Run is one use of the lab's API, which lets one test share one lab set-up
// between many scenarios (setting the lab up costs seconds; each failover
// a few more):
//
//	p, err := lab.StartPair(ctx, lab.PairOptions{BinDir: "bin", VRRPVersion: 3,
//		AdvertInterval: 100 * time.Millisecond})  // defaults: 1 s, keepalived's version
//	defer p.Close()                                   // flows, ctsyncd, engines, namespaces: always
//	up, _ := p.StartFlows(ctx, 200, lab.ClientSends)   // client writes, server echoes (ServerPort)
//	down, _ := p.StartFlows(ctx, 200, lab.ServerSends) // server writes, client echoes (PushPort)
//	_ = p.FillSynced(ctx, 100000)                      // entries in r1's kernel, waited for in r2's external cache
//	rst, _ := p.TCPOutRsts(ctx, "r2")                  // Tcp: OutRsts of r2's namespace
//	_ = p.Router("r2").Configure(ctx, []string{"set service conntrack-sync sync-queue-size 2", "commit"})
//	ph, _ := p.Failover(ctx, up, down)                 // r1's lan0+wan0 down; ph.Samples[i] per Flows, ph.Sample merged
//	_, _ = p.Failback(ctx, up, down)
//	_ = p.DropSync(ctx, "r2", true)                    // drop conntrack-sync traffic on r2's sync0, both ways
//	_ = p.DropVRRP(ctx, "r2", true)                    // r2 stops hearing VRRP adverts (becomes master too)
//
// PairOptions also set nf_conntrack_tcp_loose (TCPLoose), extra `set`
// lines per router committed with the lab's own (ExtraLines), config.boot
// files to load instead (ConfigFiles) and the flows' timing. A Router
// (p.Router) configures through `ctsync configure`, shows, stops and
// starts its ctsyncd (engines keep running, as on a router), and names its
// namespace, root and engines' pids. SetDrop adds drops of any nftables
// match in a table of the lab's own; WaitExternal, External, WaitMaster
// and Observe measure without acting. Measuring is done by the end that
// sends: a flow's gap is the longest time between two completed round
// trips, and it dies after PairOptions.DeadAfter (15 s) without one, or
// on a reset.
//
//	client ── lansw(br0) ──┬── r1 ──┬── wansw(br0) ── server
//	198.18.1.10            │  sync0 │                198.19.0.200
//	     VIP 198.18.1.1    └── r2 ──┘    VIP 198.19.0.101 (SNAT)
//
// Choices worth knowing when reading the figures:
//
//   - The lab configures VRRP and conntrack-sync only through `ctsync
//     configure`; nftables, addresses and sysctls are the lab's own.
//   - Failing r1 sets its lan0 and wan0 down and leaves sync0 up: the
//     traffic-facing links die, replication does not. r1's external cache
//     therefore follows r2 while r1 is out, and failback commits fresh
//     state. (A full power loss also cuts sync0; then failback relies on
//     the backup hook's resync request.)
//   - Client and server cap TCP's retransmission timeout at 1 s
//     (net.ipv4.tcp_rto_max_ms, Linux 6.15+), so a flow's longest gap
//     measures the failover rather than where exponential backoff lands.
//     The routers are untouched by this.
//   - A flow is dead after 15 s without a round trip; TCP alone would
//     retry for minutes. Without state sync r2 drops the flows' packets as
//     invalid (tcp_loose=0, no entry), so they time out.
package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
)

// Runner runs one command. The lab sends every system change through it so
// a unit test can compare the exact commands a topology produces.
type Runner interface {
	// Run runs argv with stdin (nil for none) and returns its combined
	// output; a non-zero exit is an error that carries that output.
	Run(ctx context.Context, stdin []byte, argv ...string) ([]byte, error)
}

// ExecRunner runs commands on the host.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, stdin []byte, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// RecordRunner records the commands it is given and runs none of them.
type RecordRunner struct {
	mu   sync.Mutex
	Cmds []string
}

// Run implements Runner.
func (r *RecordRunner) Run(_ context.Context, stdin []byte, argv ...string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := strings.Join(argv, " ")
	if stdin != nil {
		line += " <<EOF\n" + string(stdin) + "EOF"
	}
	r.Cmds = append(r.Cmds, line)
	return nil, nil
}

// inNetns runs f on an OS thread switched into the named namespace.
// Sockets keep the namespace they were created in, so a listener or a
// connection made inside f works from any goroutine afterwards: the lab's
// client and server run in-process, not as helper processes to clean up.
//
// The thread is switched back before it is released. Letting the locked
// goroutine exit instead is not enough: when that thread is the main
// one, Go parks it rather than ending it, and the whole process then
// shows in `ip netns pids` of the lab namespace, which clean-up kills.
func inNetns(name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns %s: %w", name, err)
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			// The thread may be half-switched: leave it locked so the
			// runtime discards it with the goroutine.
			errc <- fmt.Errorf("entering netns %s: %w", name, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leaving netns %s: %w", name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
