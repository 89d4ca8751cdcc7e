// Package lab builds the failover lab: two routers that NAT a LAN to a
// WAN virtual address, each running ctsyncd in its own network namespace,
// with long-lived TCP flows through them. It fails the master, brings it
// back, and measures what the flows saw, once with conntrack-sync and once
// without. `ctsync-lab demo` and the integration test run the same Run.
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
