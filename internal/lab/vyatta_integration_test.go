//go:build integration

package lab

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/paths"
)

// TestFailoverVyattaPair is issue 6's lab claim: a Vyatta 6.x router
// pair's config.boot files, loaded and committed through `ctsync
// configure`, fail over and back with every flow surviving, within the
// same gap bound as TestFailover. Only the phases with conntrack-sync run;
// TestFailover already shows that without it the flows die.
func TestFailoverVyattaPair(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "nft", "conntrack")
	ctsync, _ := nstest.Binaries(t)
	const flows = 30
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	work := t.TempDir()
	res, err := Run(ctx, Options{
		Flows: flows, BinDir: filepath.Dir(ctsync), WorkDir: work, KeepWorkDir: true,
		Out:         io.MultiWriter(&testWriter{t: t}, &out),
		ConfigFiles: VyattaPair(golden.Dir("lab")), SyncOnly: true,
	})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Logf("lab took %v", res.Elapsed.Round(100*time.Millisecond))

	// The load said what it migrated and skipped, and what ran is the
	// migrated Vyatta config: its group names, multicast over sync0.
	for _, want := range []string{
		"high-availability vrrp group lan0-10 (interface lan0, vrid 10)",
		"high-availability vrrp group wan0-20 (interface wan0, vrid 20)",
		"skipped (not managed by ctsync): firewall",
		"skipped (not managed by ctsync): nat source",
		"skipped (not managed by ctsync): service ssh",
		"skipped (not managed by ctsync): system",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the lab's output lacks %q", want)
		}
	}
	for _, r := range []string{"r1", "r2"} {
		root := paths.Root{Dir: filepath.Join(work, r)}
		conf, err := os.ReadFile(root.ConntrackdConf())
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Multicast", "225.0.0.50", "Interface sync0"} {
			if !bytes.Contains(conf, []byte(want)) {
				t.Errorf("%s conntrackd.conf lacks %q:\n%s", r, want, conf)
			}
		}
		ka, err := os.ReadFile(root.KeepalivedConf())
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"lan0-10", "wan0-20", "MAIN"} {
			if !bytes.Contains(ka, []byte(want)) {
				t.Errorf("%s keepalived.conf lacks %q:\n%s", r, want, ka)
			}
		}
	}

	bound := GapBound()
	for _, name := range []string{PhaseSyncBaseline, PhaseSyncFailover, PhaseSyncFailback} {
		p := res.Phase(name)
		if p == nil {
			t.Fatalf("phase %q missing", name)
		}
		s := p.Sample
		if s.Alive != flows || s.Dead != 0 {
			t.Errorf("%s: %d/%d alive, %d dead (%s); want all alive", name, s.Alive, flows, s.Dead, s.DeathSummary())
		}
		if s.LongestGap > bound {
			t.Errorf("%s: longest gap %v, want at most %v (detection %v + 1s; TCP backoff capped: %v)",
				name, s.LongestGap, bound, DetectionTime(R2Priority), res.RTOCapped)
		}
		t.Logf("%s: %d/%d alive, longest gap %v", name, s.Alive, flows, s.LongestGap)
	}
	if p := res.Phase(PhaseSyncFailover); p != nil && p.KernelFlows["r2"] < flows {
		t.Errorf("after failover r2's kernel table holds %d of the %d flows, want all", p.KernelFlows["r2"], flows)
	}
	if res.Phase(PhaseNoSyncBaseline) != nil {
		t.Error("SyncOnly ran the no-sync phases")
	}
}
