//go:build integration

package transition_test

import (
	"encoding/json"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/nstest/flows"
	"github.com/ctsync/ctsync/internal/transition"
)

// pairConfig is one router's whole configuration, typed as an operator
// would.
func pairConfig(priority, peer string) []string {
	return []string{
		"set high-availability vrrp group lan interface lan0",
		"set high-availability vrrp group lan vrid 10",
		"set high-availability vrrp group lan address 198.18.1.254/24",
		"set high-availability vrrp group lan priority " + priority,
		"set high-availability vrrp sync-group MAIN member lan",
		"set service conntrack-sync interface sync0 peer " + peer,
		"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
		"set service conntrack-sync accept-protocol tcp",
		"commit",
	}
}

// externalCache reads r's external cache size through op-mode's JSON.
func externalCache(t *testing.T, r *nstest.Router) int {
	t.Helper()
	out, errOut, err := r.Run("", "show", "conntrack-sync", "statistics", "--json")
	if err != nil {
		t.Fatalf("show conntrack-sync statistics: %v\n%s", err, errOut)
	}
	var st struct {
		Cache struct {
			External struct {
				Current int `json:"current"`
			} `json:"external"`
		} `json:"cache"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("statistics JSON: %v\n%s", err, out)
	}
	return st.Cache.External.Current
}

func hook(t *testing.T, r *nstest.Router, state string) error {
	t.Helper()
	_, errOut, err := r.Run("", "vrrp-transition", state, "MAIN")
	if err != nil {
		t.Logf("vrrp-transition %s: %s", state, errOut)
	}
	return err
}

// TestIntegrationHookThroughTheCLI is issue 3's claim end to end: two
// routers configured only through `ctsync configure`, 10,000 flows made on
// r1 reach r2's external cache, and with r2's ctsyncd stopped the hook
// keepalived would run puts all of them in r2's kernel table, brings a
// killed conntrackd back, and orders overlapping calls.
func TestIntegrationHookThroughTheCLI(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "conntrack")
	const n = 10000
	a, b := nstest.New(t, "h1"), nstest.New(t, "h2")
	nstest.Link(t, a, "sync0", b, "sync0")
	nstest.Link(t, a, "lan0", b, "lan0")
	a.Addr("sync0", "198.18.10.1/24")
	b.Addr("sync0", "198.18.10.2/24")
	a.Addr("lan0", "198.18.1.1/24")
	b.Addr("lan0", "198.18.1.2/24")
	r1, r2 := nstest.NewRouter(t, a), nstest.NewRouter(t, b)
	r1.MustConfigure(pairConfig("200", "198.18.10.2")...)
	r2.MustConfigure(pairConfig("100", "198.18.10.1")...)

	if err := flows.Create(a, n); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for got := 0; got < n; got = externalCache(t, r2) {
		if time.Now().After(deadline) {
			t.Fatalf("r2's external cache holds %d of %d flows", got, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if missing, err := flows.Missing(b, n); err != nil || missing != n {
		t.Fatalf("r2's kernel already holds %d of the flows before failover (err %v)", n-missing, err)
	}

	// Failover never waits on the config service.
	r2.StopService()
	if err := hook(t, r2, "master"); err != nil {
		t.Fatalf("master transition: %v", err)
	}
	if missing, err := flows.Missing(b, n); err != nil || missing != 0 {
		t.Fatalf("after master, r2's kernel lacks %d of %d flows (err %v)", missing, n, err)
	}
	rec, err := transition.ReadRecord(r2.Root)
	if err != nil || rec == nil || !rec.OK || rec.State != transition.Master || rec.Committed < n {
		t.Fatalf("transition record = %+v, %v; want an ok master that committed %d", rec, err, n)
	}

	// Backup with conntrackd killed (its lock file left behind) starts it
	// again.
	pid := r2.ConntrackdPid()
	if pid == 0 {
		t.Fatal("no conntrackd on r2")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if err := hook(t, r2, "backup"); err != nil {
		t.Fatalf("backup transition: %v", err)
	}
	if p := r2.ConntrackdPid(); p == 0 || p == pid {
		t.Fatalf("backup did not bring conntrackd back (pid %d, was %d)", p, pid)
	}
	if out, err := r2.Conntrackd("-s"); err != nil || !strings.Contains(out, "cache internal") {
		t.Fatalf("restarted conntrackd does not answer: %v\n%s", err, out)
	}

	// keepalived runs notify scripts without waiting: a backup and a
	// master started together end as the later one, master.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, st := range []string{"backup", "master"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = hook(t, r2, st)
		}()
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("overlapping transition %d: %v", i, err)
		}
	}
	states, err := transition.ReadVRRPState(r2.Root)
	if err != nil || states["MAIN"].State != transition.Master {
		t.Fatalf("after overlapping backup then master, MAIN is %+v (err %v); want master", states["MAIN"], err)
	}
	status, _, err := r2.Run("", "show", "conntrack-sync", "status")
	if err != nil || !strings.Contains(strings.ToLower(status), "master") {
		t.Errorf("status after failover does not say master (%v):\n%s", err, status)
	}
}
