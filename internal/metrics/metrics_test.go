package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
)

type restarts map[string]int

func (r restarts) Restarts(name string) int { return r[name] }

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// testMetrics builds Metrics over a temporary root, conntrackd's
// recorded statistics reply and a fake /proc.
func testMetrics(t testing.TB, stats string, statsErr error) (*Metrics, paths.Root) {
	t.Helper()
	root := paths.Root{Dir: t.TempDir()}
	var reply []byte
	if stats != "" {
		b, err := os.ReadFile(golden.Dir("conntrackd-replies", stats))
		if err != nil {
			t.Fatal(err)
		}
		reply = b
	}
	since := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	writeJSON(t, root.VRRPState(), map[string]transition.GroupState{
		"wan": {State: "master", Since: since, Seq: 3},
		"lan": {State: "backup", Since: since, Seq: 2},
	})
	m := New(Sources{
		Root:        root,
		Engines:     restarts{"conntrackd": 2},
		EngineNames: []string{"conntrackd", "keepalived"},
		Proc: fstest.MapFS{
			CountPath: {Data: []byte("41\n")},
			"proc/sys/net/netfilter/nf_conntrack_max": {Data: []byte("262144\n")},
		},
		Stats: func(context.Context) ([]byte, error) { return reply, statsErr },
	})
	return m, root
}

// exposition is the ctsync_ part of a scrape in Prometheus' text format.
func exposition(t *testing.T, m *Metrics) []byte {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), Namespace+"_") {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func TestScrape(t *testing.T) {
	for _, tc := range []struct {
		name, stats string
		err         error
	}{
		{"conntrackd", "stats-internal.txt", nil},
		{"conntrackd-down", "", errors.New("connection refused")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, root := testMetrics(t, tc.stats, tc.err)
			// A transition after start is counted once, however many
			// scrapes see it.
			writeJSON(t, root.TransitionState(), transition.Record{
				Seq: 7, State: "master", Group: "G", Mode: "external-cache", OK: true,
				Started:  time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
				Duration: 750 * time.Millisecond, KernelReady: 600 * time.Millisecond,
				Steps: []transition.Step{{Name: "commit", Duration: 500 * time.Millisecond, OK: true}, {Name: "flush", Duration: 5 * time.Millisecond, OK: true}},
			})
			m.PollTransitions()
			m.ObserveCommit(300*time.Millisecond, nil)
			m.ObserveCommit(20*time.Millisecond, errors.New("refused"))
			exposition(t, m)
			golden.Check(t, golden.Dir("metrics", tc.name+".prom"), exposition(t, m))
		})
	}
}

// TestTransitionAtStartNotCounted: the record present when ctsyncd
// starts was the previous ctsyncd's to count.
func TestTransitionAtStartNotCounted(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	writeJSON(t, root.TransitionState(), transition.Record{Seq: 4, State: "backup", OK: true})
	m := New(Sources{Root: root, Proc: fstest.MapFS{}, Stats: func(context.Context) ([]byte, error) { return nil, errors.New("down") }})
	m.PollTransitions()
	if n := testutil.CollectAndCount(m.transitions); n != 0 {
		t.Fatalf("transitions counted at start: %d series, want 0", n)
	}
	writeJSON(t, root.TransitionState(), transition.Record{Seq: 5, State: "master", OK: false})
	m.PollTransitions()
	m.PollTransitions()
	if got := testutil.ToFloat64(m.transitions.WithLabelValues("master", "failed")); got != 1 {
		t.Fatalf("failed master transitions = %v, want 1", got)
	}
}

// TestReadinessSeries: the readiness gauge carries the reason.
func TestReadinessSeries(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	m := New(Sources{Root: root, Proc: fstest.MapFS{}, Stats: func(context.Context) ([]byte, error) { return nil, errors.New("down") },
		Readiness: func(context.Context) (bool, string) { return false, "conntrackd is not running" }})
	want := `# HELP ctsync_ready Whether this node could take over without losing flows (1) or not (0); reason says why not.
# TYPE ctsync_ready gauge
ctsync_ready{reason="conntrackd is not running"} 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "ctsync_ready"); err != nil {
		t.Fatal(err)
	}
}

// TestPromtool checks the whole exposition, Go and process metrics
// included, with Prometheus' own linter for names and help.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (Debian package prometheus; scripts/deps.sh installs it)")
		}
		t.Skip("promtool is not installed (Debian package prometheus)")
	}
	m, _ := testMetrics(t, "stats-internal.txt", nil)
	m.ObserveCommit(time.Second, nil)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&b, f); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &b
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// BenchmarkScrape: one scrape of the ctsync_ series (conntrackd's reply
// parsed, the hook's files read), as Prometheus makes every interval.
func BenchmarkScrape(b *testing.B) {
	m, _ := testMetrics(b, "stats-internal.txt", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Registry.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
