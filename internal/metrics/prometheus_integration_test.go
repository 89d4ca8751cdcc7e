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
	pc.logQuery(ctx, "before the failover", "up")
	pc.logQuery(ctx, "before the failover", master)
	// Readiness is computed at each scrape (internal/readiness); one
	// series per router, its reason as a label.
	bothReady := func(res []series) bool {
		return value(res, map[string]string{"router": "r1"}) != "" && value(res, map[string]string{"router": "r2"}) != ""
	}
	pc.waitFor(ctx, "ctsync_ready of both routers", "ctsync_ready", 30*time.Second, bothReady)
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
	transitions := `ctsync_failover_transitions_total{state="master"}`
	pc.waitFor(ctx, "r2's master transition counted", transitions, 30*time.Second, func(res []series) bool {
		return value(res, map[string]string{"router": "r2", "outcome": "ok"}) == "1"
	})
	pc.logQuery(ctx, "after the failover", master)
	pc.waitFor(ctx, "ctsync_ready of both routers", "ctsync_ready", 30*time.Second, bothReady)
	pc.logQuery(ctx, "after the failover", "ctsync_ready")
	pc.logQuery(ctx, "after the failover", transitions)
	pc.logQuery(ctx, "after the failover", `ctsync_failover_kernel_ready_seconds_count`)
	pc.logQuery(ctx, "after the failover", `sum by (router, step) (ctsync_failover_step_duration_seconds_sum)`)
	pc.logQuery(ctx, "after the failover", "ctsync_commits_total")
}
