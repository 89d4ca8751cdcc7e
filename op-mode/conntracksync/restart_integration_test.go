//go:build integration

package conntracksync_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/nstest"
)

// TestIntegrationRestartConntrackSync: `ctsync restart conntrack-sync`
// asks ctsyncd, whose supervisor replaces conntrackd, and says clearly
// when there is no ctsyncd to ask.
func TestIntegrationRestartConntrackSync(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived")
	ns, peer := nstest.New(t, "rs"), nstest.New(t, "rsp")
	nstest.Link(t, ns, "eth0", peer, "eth0")
	nstest.Link(t, ns, "eth1", peer, "eth1")
	ns.Addr("eth0", "198.18.0.2/24")
	ns.Addr("eth1", "198.18.10.2/24")
	r := nstest.NewRouter(t, ns)
	r.MustConfigure(
		"set high-availability vrrp group wan interface eth0",
		"set high-availability vrrp group wan vrid 1",
		"set high-availability vrrp group wan address 198.18.0.101/24",
		"set high-availability vrrp sync-group MAIN member wan",
		"set service conntrack-sync interface eth1 peer 198.18.10.3",
		"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
		"commit",
	)
	old := r.ConntrackdPid()
	if old == 0 {
		t.Fatal("no conntrackd after commit")
	}
	out, errOut, err := r.Run("", "restart", "conntrack-sync")
	if err != nil {
		t.Fatalf("restart: %v\n%s", err, errOut)
	}
	now := r.ConntrackdPid()
	if now == 0 || now == old {
		t.Fatalf("restart left pid %d (was %d): %s", now, old, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := r.Conntrackd("-s")
		if err == nil && strings.Contains(s, "cache internal") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted conntrackd does not answer: %v\n%s", err, s)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// --json: the same answer, one object.
	out, errOut, err = r.Run("", "restart", "conntrack-sync", "--json")
	var res struct {
		Engine      string `json:"engine"`
		Pid         int    `json:"pid"`
		PreviousPid int    `json:"previous_pid"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Engine != "conntrackd" || res.PreviousPid != now || res.Pid != r.ConntrackdPid() || res.Pid == now {
		t.Errorf("restart conntrack-sync --json (pid %d before, %d after): %v %+v\n%s%s", now, r.ConntrackdPid(), err, res, out, errOut)
	}
	now = r.ConntrackdPid()
	if strings.Contains(r.Log(), "engine exited; restarting") {
		t.Errorf("the supervisor took the requested restart for a crash:\n%s", r.Log())
	}

	r.StopService()
	_, errOut, err = r.Run("", "restart", "conntrack-sync")
	if err == nil || !strings.Contains(errOut, "ctsyncd is not running") {
		t.Fatalf("restart without ctsyncd: err %v, stderr %q; want a clear refusal", err, errOut)
	}
	if p := r.ConntrackdPid(); p != now {
		t.Errorf("a refused restart touched conntrackd (pid %d -> %d)", now, p)
	}
}
