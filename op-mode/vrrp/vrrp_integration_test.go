//go:build integration

package vrrp

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	confvrrp "github.com/ctsync/ctsync/conf-mode/vrrp"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/proc"
)

var capture = flag.Bool("capture", false, "write the dumps of a real keepalived pair into testdata/keepalived-dumps")

// pairConfig is the VRRP part of a router of the test pair.
func pairConfig(prio string) []string {
	return []string{
		"set high-availability vrrp group wan interface eth0",
		"set high-availability vrrp group wan vrid 10",
		"set high-availability vrrp group wan priority " + prio,
		"set high-availability vrrp group wan address 198.18.0.101/24",
		"set high-availability vrrp group lan interface eth1",
		"set high-availability vrrp group lan vrid 20",
		"set high-availability vrrp group lan priority " + prio,
		"set high-availability vrrp group lan address 198.19.0.1/24",
		"set high-availability vrrp sync-group MAIN member wan",
		"set high-availability vrrp sync-group MAIN member lan",
		"commit",
	}
}

// newPair starts two routers whose eth0 and eth1 each meet on a bridge
// of a switch namespace (so that one router's link going down leaves the
// other's carrier up), r1 with the higher priority.
func newPair(t *testing.T) (r1, r2 *nstest.Router) {
	nstest.Require(t, "keepalived")
	n1, n2, sw := nstest.New(t, "vr1"), nstest.New(t, "vr2"), nstest.New(t, "vsw")
	for _, br := range []string{"br0", "br1"} {
		sw.Run("ip", "link", "add", br, "type", "bridge")
		sw.Run("ip", "link", "set", br, "up")
	}
	for i, n := range []*nstest.NS{n1, n2} {
		for j, br := range []string{"br0", "br1"} {
			port := fmt.Sprintf("p%d%d", i, j)
			nstest.Link(t, n, fmt.Sprintf("eth%d", j), sw, port)
			sw.Run("ip", "link", "set", port, "master", br)
		}
	}
	n1.Addr("eth0", "198.18.0.2/24")
	n2.Addr("eth0", "198.18.0.3/24")
	n1.Addr("eth1", "198.19.0.2/24")
	n2.Addr("eth1", "198.19.0.3/24")
	r1, r2 = nstest.NewRouter(t, n1), nstest.NewRouter(t, n2)
	r1.MustConfigure(pairConfig("200")...)
	r2.MustConfigure(pairConfig("100")...)
	return r1, r2
}

// waitStates polls Read until every group of r has the state want.
func waitStates(t *testing.T, r *nstest.Router, want string) []Instance {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		inst, err := Read(context.Background(), r.Root)
		ok := err == nil && len(inst) > 0
		for _, i := range inst {
			ok = ok && i.State == want
		}
		if ok {
			return inst
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: groups not %s: %+v %v", r.NS.Name, want, inst, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIntegrationCaptureDumps records what a real keepalived pair dumps,
// master and backup, for the golden tests: go test -tags integration
// -run CaptureDumps ./op-mode/vrrp/ -capture.
func TestIntegrationCaptureDumps(t *testing.T) {
	if !*capture {
		t.Skip("only with -capture")
	}
	r1, r2 := newPair(t)
	waitStates(t, r1, "MASTER")
	waitStates(t, r2, "BACKUP")
	for name, r := range map[string]*nstest.Router{"master": r1, "backup": r2} {
		for _, k := range []Kind{JSONDump, DataDump, StatsDump} {
			b, err := Fetch(context.Background(), r.Root, k)
			if err != nil {
				t.Fatal(err)
			}
			dir := golden.Dir("keepalived-dumps")
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(golden.Dir("keepalived-dumps", name+"-"+k.File), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// showStates runs `ctsync show vrrp --json` on r and returns each
// group's state.
func showStates(t *testing.T, r *nstest.Router) map[string]string {
	t.Helper()
	out, errOut, err := r.Run("", "show", "vrrp", "--json")
	if err != nil {
		t.Fatalf("%s: show vrrp: %v\n%s", r.NS.Name, err, errOut)
	}
	var v struct{ Groups []Instance }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("show vrrp --json: %v\n%s", err, out)
	}
	m := map[string]string{}
	for _, g := range v.Groups {
		m[g.Name] = g.State
	}
	return m
}

// waitShow polls `ctsync show vrrp` on r until every group is want.
func waitShow(t *testing.T, r *nstest.Router, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := showStates(t, r)
		ok := len(got) == 2
		for _, s := range got {
			ok = ok && s == want
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: show vrrp says %v, want every group %s", r.NS.Name, got, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestIntegrationShowVRRPFailover: `show vrrp` on both routers of a pair
// shows r1 master and r2 backup, then, once r1's links go down, the
// states swapped (r1 FAULT, r2 MASTER), and back after r1 returns. The
// two keepalived dump into their own roots: neither reads the other's.
func TestIntegrationShowVRRPFailover(t *testing.T) {
	r1, r2 := newPair(t)
	waitShow(t, r1, "MASTER")
	waitShow(t, r2, "BACKUP")
	for _, r := range []*nstest.Router{r1, r2} {
		for _, args := range [][]string{{"show", "vrrp"}, {"show", "vrrp", "detail"}, {"show", "vrrp", "statistics"}, {"show", "vrrp", "sync-group"}} {
			for _, j := range []bool{false, true} {
				a := args
				if j {
					a = append(append([]string{}, args...), "--json")
				}
				out, errOut, err := r.Run("", a...)
				if err != nil || out == "" {
					t.Fatalf("%s %v: %v\n%s", r.NS.Name, a, err, errOut)
				}
				if j && !json.Valid([]byte(out)) {
					t.Errorf("%v: not JSON:\n%s", a, out)
				}
			}
		}
	}
	out, _, _ := r2.Run("", "show", "vrrp", "sync-group")
	if !strings.Contains(out, "MAIN") || !strings.Contains(out, "wan (BACKUP)") {
		t.Errorf("show vrrp sync-group on the backup:\n%s", out)
	}
	if _, err := os.Stat("/tmp/keepalived.json"); err == nil {
		t.Logf("note: /tmp/keepalived.json exists (not ours: every dump of the test goes under its roots)")
	}

	r1.NS.Run("ip", "link", "set", "eth0", "down")
	r1.NS.Run("ip", "link", "set", "eth1", "down")
	waitShow(t, r2, "MASTER")
	waitShow(t, r1, "FAULT")

	r1.NS.Run("ip", "link", "set", "eth0", "up")
	r1.NS.Run("ip", "link", "set", "eth1", "up")
	waitShow(t, r1, "MASTER")
	waitShow(t, r2, "BACKUP")
}

// TestIntegrationVRRPErrors: not configured, not running, and restart vrrp
// through ctsyncd, refused with ctsyncd stopped.
func TestIntegrationVRRPErrors(t *testing.T) {
	nstest.Require(t, "keepalived")
	ns := nstest.New(t, "ve")
	peer := nstest.New(t, "vep")
	nstest.Link(t, ns, "eth0", peer, "eth0")
	ns.Addr("eth0", "198.18.0.2/24")
	r := nstest.NewRouter(t, ns)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(confvrrp.Spec(r.Root).LogFile)
			t.Logf("keepalived's log:\n%s", b)
		}
	})
	for _, args := range [][]string{{"show", "vrrp"}, {"show", "vrrp", "detail"}, {"show", "vrrp", "statistics"}, {"show", "vrrp", "sync-group"}, {"restart", "vrrp"}} {
		_, errOut, err := r.Run("", args...)
		if err == nil || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "VRRP is not configured") {
			t.Errorf("%v without VRRP: err %v, stderr %q; want one line saying it is not configured", args, err, errOut)
		}
	}
	r.MustConfigure(
		"set high-availability vrrp group wan interface eth0",
		"set high-availability vrrp group wan vrid 1",
		"set high-availability vrrp group wan address 198.18.0.101/24",
		"commit",
	)
	waitStates(t, r, "MASTER")
	supPid := func() int {
		b, _ := os.ReadFile(r.Root.KeepalivedPid())
		n := 0
		for _, c := range strings.TrimSpace(string(b)) {
			n = n*10 + int(c-'0')
		}
		return n
	}
	old := supPid()
	out, errOut, err := r.Run("", "restart", "vrrp")
	if err != nil || !strings.Contains(out, "keepalived restarted") {
		t.Fatalf("restart vrrp: %v\n%s%s", err, out, errOut)
	}
	if now := supPid(); now == old || now == 0 {
		t.Errorf("keepalived pid %d after restart (was %d)", now, old)
	}
	waitStates(t, r, "MASTER")
	// --json: the same answer, one object.
	before := supPid()
	out, errOut, err = r.Run("", "restart", "vrrp", "--json")
	var res struct {
		Engine      string `json:"engine"`
		Pid         int    `json:"pid"`
		PreviousPid int    `json:"previous_pid"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Engine != "keepalived" || res.PreviousPid != before || res.Pid != supPid() || res.Pid == before {
		t.Errorf("restart vrrp --json (pid %d before, %d after): %v %+v\n%s%s", before, supPid(), err, res, out, errOut)
	}
	waitStates(t, r, "MASTER")
	if strings.Contains(r.Log(), "engine exited; restarting") {
		t.Errorf("the supervisor took the requested restart for a crash:\n%s", r.Log())
	}

	r.StopService()
	_, errOut, err = r.Run("", "restart", "vrrp")
	if err == nil || !strings.Contains(errOut, "ctsyncd is not running") {
		t.Errorf("restart vrrp without ctsyncd: err %v, stderr %q", err, errOut)
	}
	// show works without ctsyncd: it asks keepalived itself.
	if got := showStates(t, r); got["wan"] != "MASTER" {
		t.Errorf("show vrrp with ctsyncd stopped: %v", got)
	}
	pid, _, err := Keepalived(r.Root)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for proc.Alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_, errOut, err = r.Run("", "show", "vrrp")
	if err == nil || !strings.Contains(errOut, "keepalived is not running") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("show vrrp with keepalived stopped: err %v, stderr %q", err, errOut)
	}
}
