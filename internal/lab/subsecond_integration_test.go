//go:build integration

package lab

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSubSecondFailover is issue 9's sub-second claim: with VRRP version
// 3 and advertise-interval 0.1, r2 detects r1's loss in about 0.36 s
// (3 adverts + skew), and 200 flows in each direction survive the
// failover with no gap longer than 1.0 s: detection, the hook's commit
// and TCP's next retransmission (capped at 1 s on the end hosts). The
// scenarios share one pair. Flows where the server sends are held to
// that only once the switchover guard lands (see checkSurvivors).
func TestSubSecondFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := startPair(t, ctx, PairOptions{VRRPVersion: 3, AdvertInterval: 100 * time.Millisecond})
	if !p.RTOCapped() {
		t.Fatal("this kernel cannot cap TCP's retransmission timeout (net.ipv4.tcp_rto_max_ms, Linux 6.15+): the 1 s bound measures backoff, not failover")
	}
	const bound = time.Second
	if d := p.DetectionTime(); d >= bound/2 {
		t.Fatalf("detection time %v at advert %v, want well under %v", d, p.AdvertInterval(), bound)
	}
	for _, r := range []string{"r1", "r2"} {
		conf, err := readFile(p.Router(r).Root.KeepalivedConf())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(conf, "vrrp_version 3") || strings.Count(conf, "advert_int 0.1\n") != 2 {
			t.Fatalf("%s's keepalived.conf does not run version 3 with 0.1 s adverts:\n%s", r, conf)
		}
	}

	const n = 200
	cs, err := p.StartFlows(ctx, n, ClientSends)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := p.StartFlows(ctx, n, ServerSends)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitExternal(ctx, "r2", 2*n, 15*time.Second); err != nil {
		t.Fatal(err)
	}

	deadBefore := 0 // server-sends flows dead before the phase
	t.Run("failover", func(t *testing.T) {
		rsts0, err := p.TCPOutRsts(ctx, "r2")
		if err != nil {
			t.Fatal(err)
		}
		fo, err := p.Failover(ctx, cs, ss)
		if err != nil {
			t.Fatal(err)
		}
		rsts, err := p.TCPOutRsts(ctx, "r2")
		if err != nil {
			t.Fatal(err)
		}
		deadBefore = fo.Samples[1].Dead
		checkSurvivors(t, fo, bound, rsts-rsts0, 0)
	})
	t.Run("failback", func(t *testing.T) {
		rsts0, err := p.TCPOutRsts(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		fb, err := p.Failback(ctx, cs, ss)
		if err != nil {
			t.Fatal(err)
		}
		rsts, err := p.TCPOutRsts(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		checkSurvivors(t, fb, bound, rsts-rsts0, deadBefore)
	})
}

// checkSurvivors holds a sub-second phase to its claims: every flow where
// the client sends survives; every flow alive has had no gap longer than
// bound; and a flow where the server sends dies only of a reset the new
// master's own TCP stack sent (its TcpOutRsts grew by at least as many):
// a synced flow whose packet reached the virtual address before the
// hook's commit (keepalived issue 2254). The switchover guard of issue 9
// removes those resets; until it is merged the server-sends deaths are
// reported, not failed on.
// deadBefore is how many server-sends flows were dead before the phase.
func checkSurvivors(t *testing.T, ph Phase, bound time.Duration, masterRsts uint64, deadBefore int) {
	t.Helper()
	cs, ss := ph.Samples[0], ph.Samples[1]
	if cs.Alive != cs.Flows || cs.Dead != 0 {
		t.Errorf("%s, client sends: %d/%d alive, %d dead (%s); want all alive", ph.Name, cs.Alive, cs.Flows, cs.Dead, cs.DeathSummary())
	}
	for i, s := range ph.Samples {
		if s.Alive > 0 && s.LongestGap > bound {
			t.Errorf("%s, %s: longest gap %v, want at most %v", ph.Name, []Direction{ClientSends, ServerSends}[i], s.LongestGap, bound)
		}
	}
	if died := ss.Dead - deadBefore; ss.Dead != ss.Deaths["reset"] || uint64(died) > masterRsts {
		t.Errorf("%s, server sends: %d died (%s in all), new master sent %d resets; want deaths by the new master's resets only",
			ph.Name, died, ss.DeathSummary(), masterRsts)
	}
	t.Logf("%s: client sends %d/%d alive, longest gap %v; server sends %d/%d alive (%s), longest gap %v; new master's TcpOutRsts +%d",
		ph.Name, cs.Alive, cs.Flows, cs.LongestGap, ss.Alive, ss.Flows, ss.DeathSummary(), ss.LongestGap, masterRsts)
}
