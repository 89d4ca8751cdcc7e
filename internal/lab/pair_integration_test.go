//go:build integration

package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/nstest"
)

// startPair starts a Pair for a test and closes it at the end, keeping
// the routers' roots when the test failed.
func startPair(t *testing.T, ctx context.Context, o PairOptions) *Pair {
	t.Helper()
	nstest.Require(t, "conntrackd", "keepalived", "nft", "conntrack")
	ctsync, _ := nstest.Binaries(t)
	o.BinDir = filepath.Dir(ctsync)
	if o.Out == nil {
		o.Out = &testWriter{t: t}
	}
	if o.WorkDir == "" {
		// Not t.TempDir: that is removed after the test even when
		// Close keeps the roots and logs of a failed one.
		// A subtest's name has slashes; MkdirTemp wants a plain
		// pattern.
		dir, err := os.MkdirTemp("", strings.NewReplacer("/", "_", " ", "_", "'", "").Replace(t.Name())+"-")
		if err != nil {
			t.Fatal(err)
		}
		o.WorkDir = dir
	}
	p, err := StartPair(ctx, o)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.Keep()
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// checkSurvived fails the test unless every flow of the phase is alive
// with its longest gap within bound.
func checkSurvived(t *testing.T, ph Phase, bound time.Duration) {
	t.Helper()
	for i, s := range ph.Samples {
		if s.Alive != s.Flows || s.Dead != 0 {
			t.Errorf("%s, flows %d: %d/%d alive, %d dead (%s); want all alive", ph.Name, i+1, s.Alive, s.Flows, s.Dead, s.DeathSummary())
		}
		if s.LongestGap > bound {
			t.Errorf("%s, flows %d: longest gap %v, want at most %v", ph.Name, i+1, s.LongestGap, bound)
		}
	}
}

// TestPairAPI runs the lab API's operations on one Pair: flows in both
// directions survive a failover and failback, synthetic entries filled
// in r1 reach r2, dropping sync traffic stops replication, and dropping
// VRRP adverts on the backup makes it master too.
func TestPairAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := startPair(t, ctx, PairOptions{})
	const n = 20
	cs, err := p.StartFlows(ctx, n, ClientSends)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := p.StartFlows(ctx, n, ServerSends)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitExternal(ctx, "r2", 2*n, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.FillSynced(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if got, err := p.External(ctx, "r2"); err != nil || got < 2*n+1000 {
		t.Errorf("r2's external cache after FillSynced(1000): %d, %v; want at least %d", got, err, 2*n+1000)
	}
	rsts, err := p.TCPOutRsts(ctx, "r2")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("r2 TcpOutRsts before the failover: %d", rsts)

	fo, err := p.Failover(ctx, cs, ss)
	if err != nil {
		t.Fatal(err)
	}
	checkSurvived(t, fo, p.GapBound())
	if fo.KernelFlows["r2"] < 2*n {
		t.Errorf("after failover r2's kernel table holds %d of the %d flows, want all", fo.KernelFlows["r2"], 2*n)
	}
	fb, err := p.Failback(ctx, cs, ss)
	if err != nil {
		t.Fatal(err)
	}
	// Only the client-sends flows are held to survive failback here:
	// flows where the server sends can die of the new master's resets
	// (issue 9's zero-reset switchover), which this test does not claim.
	checkSurvived(t, Phase{Name: fb.Name, Samples: fb.Samples[:1]}, p.GapBound())
	t.Logf("failback, server sends: %d/%d alive (%s)", fb.Samples[1].Alive, n, fb.Samples[1].DeathSummary())

	// Sync traffic dropped on r1: r2 learns no new flow.
	before, err := p.External(ctx, "r2")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.DropSync(ctx, "r1", true); err != nil {
		t.Fatal(err)
	}
	more, err := p.StartFlows(ctx, 10, ClientSends)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if got, _ := p.External(ctx, "r2"); got > before {
		t.Errorf("with sync dropped r2's external cache grew from %d to %d", before, got)
	}
	if err := p.DropSync(ctx, "r1", false); err != nil {
		t.Fatal(err)
	}
	// The new flows keep sending, so conntrackd sends their updates.
	if _, err := p.WaitExternal(ctx, "r2", before+10, 10*time.Second); err != nil {
		t.Errorf("after the sync drop was lifted: %v", err)
	}
	more.Stop()

	// VRRP adverts dropped on r2: it no longer hears r1 and takes the
	// addresses too; lifted, it hears r1 again and goes back to backup.
	if err := p.DropVRRP(ctx, "r2", true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(p.DetectionTime() + 5*time.Second)
	for {
		if ok, err := p.Router("r2").HoldsVIPs(ctx, p.run); err != nil {
			t.Fatal(err)
		} else if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("with VRRP dropped r2 never took the virtual addresses")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := p.DropVRRP(ctx, "r2", false); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitMaster(ctx, "r1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
