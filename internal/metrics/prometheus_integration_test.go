//go:build integration

package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/proc"
)

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// dialIn opens a TCP connection from inside the named namespace: a
// socket keeps its namespace, so the test's HTTP client reaches a
// Prometheus that listens on the loopback of a router's namespace.
func dialIn(ns, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			// Half-switched: the locked thread dies with the goroutine.
			ch <- res{nil, err}
			return
		}
		c, derr := net.DialTimeout("tcp", addr, 5*time.Second)
		if err := netns.Set(orig); err != nil {
			if c != nil {
				c.Close()
			}
			ch <- res{nil, errors.Join(derr, err)}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{c, derr}
	}()
	r := <-ch
	return r.c, r.err
}

// series is one element of a Prometheus instant vector.
type series struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s series) String() string {
	var keys []string
	for k := range s.Metric {
		if k != "__name__" && k != "job" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var l []string
	for _, k := range keys {
		l = append(l, fmt.Sprintf("%s=%q", k, s.Metric[k]))
	}
	return fmt.Sprintf("%s{%s} %v", s.Metric["__name__"], strings.Join(l, ","), s.Value[1])
}

type promClient struct {
	t    *testing.T
	http *http.Client
	base string
}

// query runs an instant query through Prometheus' HTTP API.
func (p *promClient) query(ctx context.Context, expr string) ([]series, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", p.base+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []series `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, body.Error)
	}
	sort.Slice(body.Data.Result, func(i, j int) bool { return body.Data.Result[i].String() < body.Data.Result[j].String() })
	return body.Data.Result, nil
}

// logQuery runs expr and logs every series it returns.
func (p *promClient) logQuery(ctx context.Context, when, expr string) []series {
	p.t.Helper()
	res, err := p.query(ctx, expr)
	if err != nil {
		p.t.Fatalf("%s: %v", when, err)
	}
	p.t.Logf("prometheus %s: %s", when, expr)
	for _, s := range res {
		p.t.Logf("    %s", s)
	}
	return res
}

// value is the value of the one series of res whose labels include
// want, or "" when there is none.
func value(res []series, want map[string]string) string {
	for _, s := range res {
		ok := true
		for k, v := range want {
			if s.Metric[k] != v {
				ok = false
			}
		}
		if ok {
			return fmt.Sprint(s.Value[1])
		}
	}
	return ""
}

// states is "r1=STATE r2=STATE" from the series of a query for the
// current VRRP state (value 1), one per router; anything else (a router
// twice or missing) shows as it is.
func states(res []series) string {
	var out []string
	for _, s := range res {
		out = append(out, s.Metric["router"]+"="+s.Metric["state"])
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// statusReady is what `show conntrack-sync status --json` says of r's
// readiness.
func statusReady(ctx context.Context, t *testing.T, r *lab.Router) (bool, string) {
	t.Helper()
	js, err := r.Show(ctx, "conntrack-sync", "status", "--json")
	if err != nil {
		t.Fatalf("%s: status: %v", r.Name, err)
	}
	var st struct {
		Ready  bool   `json:"ready"`
		Reason string `json:"ready_reason"`
	}
	if err := json.Unmarshal([]byte(js), &st); err != nil {
		t.Fatalf("%s: status --json: %v\n%s", r.Name, err, js)
	}
	return st.Ready, st.Reason
}

// What readyAgrees requires of status besides the series' agreeing.
const (
	wantAny = iota
	wantReady
	wantNotReady
)

// readyAgrees waits until r's ctsync_ready series, as Prometheus has it,
// is what status says at the same time: one series, 1 with no reason
// when status says ready, 0 with a reason when it does not. The status
// is read before and after the query and must not have changed between
// the two; want may require status to say ready, or not ready. It logs
// both.
func (p *promClient) readyAgrees(ctx context.Context, r *lab.Router, limit time.Duration, want int) {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	var last string
	for {
		before, why := statusReady(ctx, p.t, r)
		res, err := p.query(ctx, `ctsync_ready{router="`+r.Name+`"}`)
		after, _ := statusReady(ctx, p.t, r)
		value := map[bool]string{true: "1", false: "0"}[before]
		switch {
		case err != nil:
			last = err.Error()
		case before != after:
			last = "status changed during the query"
		case want == wantReady && !before:
			last = fmt.Sprintf("status says not ready (%s)", why)
		case want == wantNotReady && before:
			last = "status says ready"
		case len(res) != 1:
			last = fmt.Sprintf("%d ctsync_ready series: %v", len(res), res)
		case fmt.Sprint(res[0].Value[1]) != value || (res[0].Metric["reason"] == "") != before:
			last = fmt.Sprintf("series %s while status says ready=%v (%q)", res[0], before, why)
		default:
			p.t.Logf("%s: status says ready=%v %q; prometheus: %s", r.Name, before, why, res[0])
			return
		}
		if time.Now().After(deadline) {
			p.t.Errorf("%s: ctsync_ready and status within %v: %s", r.Name, limit, last)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitFor polls expr until check accepts its result.
func (p *promClient) waitFor(ctx context.Context, what, expr string, limit time.Duration, check func([]series) bool) []series {
	p.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		res, err := p.query(ctx, expr)
		if err == nil && check(res) {
			return res
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("prometheus: %s not seen within %v (last: %v, %v)", what, limit, res, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestPrometheusScrapesAcrossFailover runs Debian's Prometheus server in
// r1's namespace (on its loopback only), scraping ctsyncd's metrics on
// both routers over the sync link, and reads through its HTTP API the
// VRRP state, readiness and failover series before and after a failover.
func TestPrometheusScrapesAcrossFailover(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "nft", "conntrack", "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctsync, _ := nstest.Binaries(t)
	work := t.TempDir()
	p, err := lab.StartPair(ctx, lab.PairOptions{BinDir: filepath.Dir(ctsync), WorkDir: filepath.Join(work, "lab"), Out: logWriter{t}})
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
	r1, r2 := p.Router("r1"), p.Router("r2")
	// Each router serves on its own sync address: r1's peer is r2's.
	addr := map[string]string{"r1": r2.Peer.String(), "r2": r1.Peer.String()}
	for _, r := range []*lab.Router{r1, r2} {
		if err := r.Configure(ctx, []string{"set service ctsync metrics listen-address " + addr[r.Name], "commit"}); err != nil {
			t.Fatalf("%s: configuring metrics: %v", r.Name, err)
		}
	}

	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: ctsync
    static_configs:
      - targets: ['%s:9797']
        labels: {router: r1}
      - targets: ['%s:9797']
        labels: {router: r2}
`, addr["r1"], addr["r2"])
	dir := filepath.Join(work, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const listen = "127.0.0.1:19090"
	var plog bytes.Buffer
	cmd := exec.Command("ip", "netns", "exec", r1.NS, "prometheus",
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &plog, &plog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// ip netns exec execs in place: the pid is Prometheus'.
		_ = proc.Stop(cmd.Process.Pid, 10*time.Second)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", plog.String())
		}
	})
	pc := &promClient{t: t, base: "http://" + listen, http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) { return dialIn(r1.NS, a) },
	}}}

	up := func(res []series) bool {
		return value(res, map[string]string{"router": "r1"}) == "1" && value(res, map[string]string{"router": "r2"}) == "1"
	}
	pc.waitFor(ctx, "both targets up", "up", 30*time.Second, up)
	// The hook records the state of the sync-group it is run for.
	master := `ctsync_vrrp_group_state{state="master",group="MAIN"}`
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range []*lab.Router{r1, r2} {
				b, err := os.ReadFile(r.Root.VRRPState())
				t.Logf("%s: %s: %s %v", r.Name, r.Root.VRRPState(), b, err)
			}
		}
	})
	pc.waitFor(ctx, "r1 master of MAIN", master, 30*time.Second, func(res []series) bool {
		return value(res, map[string]string{"router": "r1"}) == "1" && value(res, map[string]string{"router": "r2"}) == "0"
	})
	// One state per router is 1: master on r1, backup on r2.
	current := `ctsync_vrrp_group_state{group="MAIN"} == 1`
	pc.waitFor(ctx, "r1 master, r2 backup", current, 30*time.Second, func(res []series) bool {
		return states(res) == "r1=master r2=backup"
	})
	pc.logQuery(ctx, "before the failover", "up")
	pc.logQuery(ctx, "before the failover", master)
	// Readiness is computed at each scrape (internal/readiness); one
	// series per router, its reason as a label.
	bothReady := func(res []series) bool {
		return value(res, map[string]string{"router": "r1"}) != "" && value(res, map[string]string{"router": "r2"}) != ""
	}
	pc.waitFor(ctx, "ctsync_ready of both routers", "ctsync_ready", 30*time.Second, bothReady)
	// Before the failover both routers are ready, and the series says so.
	for _, r := range []*lab.Router{r1, r2} {
		pc.readyAgrees(ctx, r, 30*time.Second, wantReady)
	}
	// r2 not hearing r1 over the sync link is not ready, and the series
	// says 0 with status's reason; heard again, it is ready again.
	if err := p.DropSync(ctx, "r2", true); err != nil {
		t.Fatal(err)
	}
	pc.readyAgrees(ctx, r2, 30*time.Second, wantNotReady)
	if err := p.DropSync(ctx, "r2", false); err != nil {
		t.Fatal(err)
	}
	pc.readyAgrees(ctx, r2, 30*time.Second, wantReady)
	pc.logQuery(ctx, "before the failover", "ctsync_ready")
	pc.logQuery(ctx, "before the failover", "ctsync_conntrackd_cache_entries")

	ph, err := p.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover: %s master after %v", ph.Master, ph.Took)
	pc.waitFor(ctx, "r2 master of MAIN", master, 30*time.Second, func(res []series) bool {
		return value(res, map[string]string{"router": "r2"}) == "1" && value(res, map[string]string{"router": "r1"}) == "0"
	})
	// The states swapped: r2 master, r1 (its traffic links down) no
	// longer master, in the state its hook last recorded.
	pc.waitFor(ctx, "r2 master, r1 backup or fault", current, 30*time.Second, func(res []series) bool {
		st := states(res)
		return st == "r1=backup r2=master" || st == "r1=fault r2=master"
	})
	pc.logQuery(ctx, "after the failover", current)
	transitions := `ctsync_failover_transitions_total{state="master"}`
	pc.waitFor(ctx, "r2's master transition counted", transitions, 30*time.Second, func(res []series) bool {
		return value(res, map[string]string{"router": "r2", "outcome": "ok"}) == "1"
	})
	pc.logQuery(ctx, "after the failover", master)
	pc.waitFor(ctx, "ctsync_ready of both routers", "ctsync_ready", 30*time.Second, bothReady)
	// After it, each series says what status says of its router: r2, the
	// new master, is ready; r1, its traffic links down, as status has it.
	pc.readyAgrees(ctx, r2, 30*time.Second, wantReady)
	pc.readyAgrees(ctx, r1, 30*time.Second, wantAny)
	pc.logQuery(ctx, "after the failover", "ctsync_ready")
	pc.logQuery(ctx, "after the failover", transitions)
	pc.logQuery(ctx, "after the failover", `ctsync_failover_kernel_ready_seconds_count`)
	pc.logQuery(ctx, "after the failover", `sum by (router, step) (ctsync_failover_step_duration_seconds_sum)`)
	pc.logQuery(ctx, "after the failover", "ctsync_commits_total")
}
