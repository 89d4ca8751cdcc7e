package lab

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/transition"
)

func TestTopologyCommands(t *testing.T) {
	rec := &RecordRunner{}
	top := &Topology{Prefix: "ctlab-1-", Run: rec}
	if err := top.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := top.SetRouterLinks(context.Background(), "r1", false); err != nil {
		t.Fatal(err)
	}
	if err := top.LoadFirewall(context.Background(), "r1", LabFirewall()); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, golden.Dir("lab", "topology.golden"), []byte(strings.Join(rec.Cmds, "\n")+"\n"))
}

func TestTopologyStaysInBenchmarkRange(t *testing.T) {
	bench := netip.MustParsePrefix("198.18.0.0/15")
	addrs := []netip.Addr{LANVIP, WANVIP, ClientIP, ServerIP}
	for _, a := range routerAddrs {
		addrs = append(addrs, a.LAN.Addr(), a.WAN.Addr(), a.Sync.Addr())
	}
	for _, a := range addrs {
		if !bench.Contains(a) {
			t.Errorf("%s is outside %s", a, bench)
		}
	}
	rec := &RecordRunner{}
	top := &Topology{Prefix: "ctlab-1-", Run: rec}
	_ = top.Up(context.Background())
	for _, c := range rec.Cmds {
		f := strings.Fields(c)
		if len(f) > 1 && f[0] == "ip" && f[1] != "-n" && f[1] != "netns" && !strings.Contains(c, " netns ctlab-") {
			t.Errorf("command touches the host: %s", c)
		}
	}
}

func TestFirewallRuleset(t *testing.T) {
	rs, err := LabFirewall().Ruleset()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, golden.Dir("lab", "ruleset.nft"), rs)
	if _, err := (Firewall{}).Ruleset(); err == nil {
		t.Error("empty firewall rendered")
	}
}

func TestDetectionTime(t *testing.T) {
	tests := []struct {
		prio int
		want time.Duration
	}{
		{100, 3*time.Second + 609375*time.Microsecond},
		{200, 3*time.Second + 218750*time.Microsecond},
		{255, 3*time.Second + 3906250*time.Nanosecond},
	}
	for _, tc := range tests {
		if got := DetectionTime(tc.prio); got != tc.want {
			t.Errorf("DetectionTime(%d) = %v, want %v", tc.prio, got, tc.want)
		}
	}
}

// TestBackoffBound: TCP's retransmissions after a loss, 200 ms then
// doubling, land at 0.2, 0.6, 1.4, 3.0 s: the gap of a flow whose path is
// back within an outage is the first of them at or after it.
func TestBackoffBound(t *testing.T) {
	for _, c := range []struct{ outage, want time.Duration }{
		{0, 0},
		{100 * time.Millisecond, 200 * time.Millisecond},
		{200 * time.Millisecond, 200 * time.Millisecond},
		{450 * time.Millisecond, 600 * time.Millisecond},
		{time.Second, 1400 * time.Millisecond},
		{1500 * time.Millisecond, 3 * time.Second},
	} {
		if got := BackoffBound(c.outage); got != c.want {
			t.Errorf("BackoffBound(%v) = %v, want %v", c.outage, got, c.want)
		}
	}
}

func TestParseAddrs(t *testing.T) {
	out := `1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
2: lan0    inet 198.18.1.2/24 scope global lan0\       valid_lft forever preferred_lft forever
2: lan0    inet 198.18.1.1/24 scope global secondary lan0\       valid_lft forever preferred_lft forever
3: wan0    inet 198.19.0.101/24 scope global secondary wan0\       valid_lft forever preferred_lft forever
`
	got := parseAddrs([]byte(out))
	for _, a := range []string{"127.0.0.1", "198.18.1.2", "198.18.1.1", "198.19.0.101"} {
		if !got[netip.MustParseAddr(a)] {
			t.Errorf("%s not found in %v", a, got)
		}
	}
	if len(got) != 4 {
		t.Errorf("got %d addresses, want 4: %v", len(got), got)
	}
}

func TestOrigSport(t *testing.T) {
	tests := []struct {
		line string
		want uint16
		ok   bool
	}{
		{"tcp      6 431999 ESTABLISHED src=198.18.1.10 dst=198.19.0.200 sport=40000 dport=7000 src=198.19.0.200 dst=198.19.0.101 sport=7000 dport=40000 [ASSURED] mark=0 use=1", 40000, true},
		{"tcp 6 10 CLOSE src=1.1.1.1 dst=2.2.2.2 sport=65535 dport=7000", 65535, true},
		{"sport=65536", 0, false},
		{"sport=x", 0, false},
		{"conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, ok := origSport(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("origSport(%q) = %d, %v; want %d, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzOrigSport(f *testing.F) {
	for _, s := range []string{"tcp 6 1 ESTABLISHED src=1.1.1.1 sport=1 dport=2", "sport=", "sport=99999", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if p, ok := origSport(line); !ok && p != 0 {
			t.Fatalf("origSport(%q) = %d without ok", line, p)
		}
	})
}

func TestJSONReaders(t *testing.T) {
	stats := `{"cache":{"internal":{"current":12},"external":{"current":200}}}`
	if n := jsonInt([]byte(stats), "cache", "external", "current"); n != 200 {
		t.Errorf("external = %d, want 200", n)
	}
	if n := jsonInt([]byte(stats), "cache", "nope"); n != -1 {
		t.Errorf("missing = %d, want -1", n)
	}
}

func FuzzJSONInt(f *testing.F) {
	for _, s := range []string{`{"cache":{"external":{"current":200}}}`, `{}`, `[]`, `{"cache":{"external":{"current":-1e400}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := jsonInt(b, "cache", "external", "current"); n < -1 {
			t.Fatalf("jsonInt = %d", n)
		}
	})
}

func TestFormatSummary(t *testing.T) {
	r := &Result{Flows: 200, Phases: []Phase{
		{Name: PhaseSyncBaseline, Master: "r1", Sample: Sample{Flows: 200, Alive: 200, LongestGap: 210 * time.Millisecond},
			KernelFlows: map[string]int{"r1": 200, "r2": 0}},
		{Name: PhaseSyncFailover, Master: "r2", Took: 4100 * time.Millisecond,
			Transitions: map[string]*transition.Record{"r2": {State: "MASTER", Committed: 200, KernelReady: 12 * time.Millisecond, OK: true}},
			Sample:      Sample{Flows: 200, Alive: 200, LongestGap: 4020 * time.Millisecond},
			KernelFlows: map[string]int{"r1": 200, "r2": 200}},
		{Name: PhaseNoSyncFailover, Master: "r2", Took: 19 * time.Second,
			Sample:      Sample{Flows: 200, Dead: 200, Deaths: map[string]int{"timeout": 200}},
			KernelFlows: map[string]int{"r1": -1, "r2": 0}},
	}}
	golden.Check(t, golden.Dir("lab", "summary.golden"), []byte(FormatSummary(r)))
}

func TestDescribeRecord(t *testing.T) {
	tests := []struct {
		rec  transition.Record
		want string
	}{
		{transition.Record{State: "MASTER", Group: "MAIN", Mode: "external-cache", ExternalEntries: 200, Committed: 200,
			KernelEntries: 200, KernelReady: 11400 * time.Microsecond, Duration: 40 * time.Millisecond, OK: true},
			"MASTER MAIN (external-cache), external cache 200, committed 200, kernel 200, kernel ready after 11ms, took 40ms, ok"},
		{transition.Record{State: "BACKUP", Group: "MAIN", Duration: 5 * time.Millisecond, OK: true},
			"BACKUP MAIN, took 5ms, ok"},
		{transition.Record{State: "FAULT", Group: "MAIN", Skipped: "conntrack-sync not configured"},
			"FAULT MAIN, took 0s, skipped: conntrack-sync not configured"},
		{transition.Record{State: "MASTER", Group: "MAIN", Error: "commit incomplete"},
			"MASTER MAIN, external cache 0, committed 0, kernel 0, took 0s, FAILED: commit incomplete"},
	}
	for _, tc := range tests {
		if got := describeRecord(&tc.rec); got != tc.want {
			t.Errorf("describeRecord = %q\nwant             %q", got, tc.want)
		}
	}
}
