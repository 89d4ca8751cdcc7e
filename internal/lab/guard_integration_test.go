//go:build integration

package lab

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/transition"
)

// setLoose sets net.netfilter.nf_conntrack_tcp_loose on both routers, so
// that one pair serves both settings.
func setLoose(ctx context.Context, p *Pair, v int) error {
	for _, r := range []string{"r1", "r2"} {
		if _, err := p.run.Run(ctx, nil, "ip", "netns", "exec", p.NS(r), "sysctl", "-q", "-w",
			fmt.Sprintf("net.netfilter.nf_conntrack_tcp_loose=%d", v)); err != nil {
			return fmt.Errorf("%s: tcp_loose=%d: %w", r, v, err)
		}
	}
	return nil
}

// TestGuardNoResets is issue 9's zero-reset switchover: with 100,000
// synced entries in r1's table (r2's master commit takes most of a
// second) and 200 live flows in each direction, every live flow survives
// the failover and r2, the new master, sends no reset: its TcpOutRsts
// does not grow. Run with nf_conntrack_tcp_loose 0, then 1 (the kernel's
// default, where unknown mid-stream packets would be picked up with NAT
// mappings of their own), on one pair.
func TestGuardNoResets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	p := startPair(t, ctx, PairOptions{})
	const filler, n = 100000, 200
	if err := p.FillSynced(ctx, filler); err != nil {
		t.Fatal(err)
	}
	for _, loose := range []int{0, 1} {
		if err := setLoose(ctx, p, loose); err != nil {
			t.Fatal(err)
		}
		p.Logf("== tcp_loose=%d: %d synced entries plus %d flows each way", loose, filler, n)
		// r2 must hold the filler before the flows open: after a
		// failback it is refilled by its resync request.
		if _, err := p.WaitExternal(ctx, "r2", filler, 2*time.Minute); err != nil {
			t.Fatalf("%v: %s", err, p.FillerGap(ctx, "r2"))
		}
		cs, err := p.StartFlows(ctx, n, ClientSends)
		if err != nil {
			t.Fatal(err)
		}
		ss, err := p.StartFlows(ctx, n, ServerSends)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.WaitExternal(ctx, "r2", filler+2*n, time.Minute); err != nil {
			t.Fatal(err)
		}
		// Let the live flows' updates settle on r2.
		time.Sleep(2 * time.Second)
		rsts, err := p.TCPOutRsts(ctx, "r2")
		if err != nil {
			t.Fatal(err)
		}
		fo, err := p.Failover(ctx, cs, ss)
		if err != nil {
			t.Fatal(err)
		}
		after, err := p.TCPOutRsts(ctx, "r2")
		if err != nil {
			t.Fatal(err)
		}
		if after != rsts {
			t.Errorf("tcp_loose=%d: r2's TcpOutRsts grew by %d during the failover, want 0", loose, after-rsts)
		}
		rec := fo.Transitions["r2"]
		// The guard holds old flows' packets back until the commit is
		// verified, which with 100,000 entries takes about half a second
		// more than detection: a flow's gap is detection, plus that, plus
		// TCP's next retransmission (the lab caps its RTO at 1 s).
		bound := p.GapBound()
		if rec != nil && rec.Guard != nil {
			bound += rec.Guard.LiftedAfter
		}
		checkSurvived(t, fo, bound)
		switch {
		case rec == nil || rec.State != transition.Master || !rec.OK:
			t.Errorf("tcp_loose=%d: r2's master record %+v, want an ok master transition", loose, rec)
		case rec.Guard == nil || rec.Guard.Up || rec.Guard.LiftedAfter <= 0:
			t.Errorf("tcp_loose=%d: r2's guard record %+v, want lifted", loose, rec.Guard)
		case rec.Guard.LiftedAfter < rec.KernelReady:
			t.Errorf("tcp_loose=%d: guard lifted %v after the hook's start, before the commit was verified (%v)", loose, rec.Guard.LiftedAfter, rec.KernelReady)
		default:
			t.Logf("tcp_loose=%d: r2 committed %d entries, kernel ready %v, guard lifted %v after the hook started",
				loose, rec.Committed, rec.KernelReady, rec.Guard.LiftedAfter)
			logSettle(t, "r2 at the failover", rec)
		}
		cs.Stop()
		ss.Stop()
		back := time.Now()
		if _, err := p.Failback(ctx); err != nil {
			t.Fatal(err)
		}
		// r1 committed into a table that still held the entries. Once
		// its hook is done and the kernel has delivered every destroy
		// event of that commit, r1's internal cache must still hold its
		// whole table: a late event must not have removed new entries.
		if rec, err := p.WaitTransition(ctx, "r1", transition.Master, back, time.Minute); err != nil {
			t.Fatal(err)
		} else if !rec.OK {
			t.Errorf("tcp_loose=%d: r1's master transition at the failback failed: %s", loose, rec.Error)
		} else {
			logSettle(t, "r1 at the failback", rec)
		}
		if err := p.WaitNoDying(ctx, "r1", time.Minute); err != nil {
			t.Fatal(err)
		}
		if in, err := p.Cache(ctx, "r1", "internal"); err != nil || in < filler {
			t.Errorf("tcp_loose=%d: after the failback r1's internal cache holds %d entries (%v), want at least %d", loose, in, err, filler)
		}
		// And r2, the backup again, holds them all for the next failover.
		if _, err := p.WaitExternal(ctx, "r2", filler, time.Minute); err != nil {
			t.Errorf("tcp_loose=%d: after the failback: %v: %s", loose, err, p.FillerGap(ctx, "r2"))
		}
	}
}

// logSettle logs how long a master hook waited for its commit's destroy
// events (the figure the README gives).
func logSettle(t *testing.T, who string, rec *transition.Record) {
	for _, st := range rec.Steps {
		if st.Name == "settle-destroy-events" {
			t.Logf("%s: %s took %v: %s", who, st.Name, st.Duration.Round(time.Millisecond), st.Detail)
		}
	}
}
