//go:build integration

package transition_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/transition"
)

// operatorTable stands for the operator's own rules, which the guard must
// never touch.
const operatorTable = `table inet operator {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state invalid counter accept
	}
}
`

// TestIntegrationGuardLifecycle follows the switchover guard through a
// real router: ctsyncd, keepalived, conntrackd and the hook, configured
// only with `ctsync configure`, and real nf_tables. The commit that adds
// conntrack-sync raises it; keepalived's master hook lifts it once its
// commit is verified; with ctsyncd stopped the hook still raises and
// lifts it; a ctsyncd start keeps what the hook decided; deleting
// conntrack-sync removes it; the operator's table is the same throughout.
func TestIntegrationGuardLifecycle(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "nft")
	ns := nstest.New(t, "gl")
	// veth pairs with both ends here: the kernel may have no dummy
	// module, and no peer is needed.
	for _, l := range []string{"sync0", "lan0"} {
		ns.Run("ip", "link", "add", l, "type", "veth", "peer", "name", l+"p")
		ns.Run("ip", "link", "set", l, "up")
		ns.Run("ip", "link", "set", l+"p", "up")
	}
	ns.Addr("sync0", "198.18.10.1/24")
	ns.Addr("lan0", "198.18.1.2/24")
	cmd := ns.Cmd("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(operatorTable)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("operator table: %v\n%s", err, out)
	}
	operator := ns.Run("nft", "-s", "list", "table", "inet", "operator")
	checkOperator := func(when string) {
		t.Helper()
		if got := ns.Run("nft", "-s", "list", "table", "inet", "operator"); got != operator {
			t.Errorf("%s: operator's table changed (-before +after):\n%s", when, cmp.Diff(operator, got))
		}
	}
	present := func() bool {
		_, err := ns.Try("nft", "list", "table", "inet", guard.Table)
		return err == nil
	}
	var router *nstest.Router
	status := func() string {
		out, errOut, err := router.Run("", "show", "conntrack-sync", "status")
		if err != nil {
			t.Fatalf("status: %v\n%s", err, errOut)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "switchover guard") {
				return l
			}
		}
		t.Fatalf("status has no switchover guard line:\n%s", out)
		return ""
	}
	router = nstest.NewRouter(t, ns)

	// keepalived starts BACKUP and, alone on its link, becomes MASTER
	// after three adverts: raised first, then lifted by the master hook.
	// The priority is low so that this takes the full detection time.
	router.MustConfigure(
		"set high-availability vrrp group lan interface lan0",
		"set high-availability vrrp group lan vrid 10",
		"set high-availability vrrp group lan address 198.18.1.254/24",
		"set high-availability vrrp group lan priority 50",
		"set high-availability vrrp sync-group MAIN member lan",
		"set service conntrack-sync interface sync0 peer 198.18.10.2",
		"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
		"commit",
	)
	if !present() {
		t.Fatal("no guard table after the commit that added conntrack-sync on a node that is not master")
	}
	if l := status(); !strings.Contains(l, "UP") {
		t.Errorf("status while backup: %q, want UP", l)
	}
	checkOperator("after the commit")

	var rec *transition.Record
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, _ = transition.ReadRecord(router.Root)
		if rec != nil && rec.State == transition.Master {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keepalived's master hook did not run within 20 s; last record %+v\n%s", rec, router.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !rec.OK || rec.Guard == nil || rec.Guard.Up || rec.Guard.Lifted.IsZero() || rec.Guard.LiftedAfter <= 0 {
		t.Fatalf("master record = %+v, guard %+v: want ok, guard lifted", rec, rec.Guard)
	}
	t.Logf("master hook lifted the guard %v after it started", rec.Guard.LiftedAfter)
	if present() {
		t.Fatal("guard table still there after the master hook")
	}
	if l := status(); !strings.Contains(l, "down (lifted by the master hook") {
		t.Errorf("status after master: %q", l)
	}

	// The hook works with ctsyncd stopped, and a ctsyncd start keeps
	// its decision either way.
	router.StopService()
	for _, step := range []struct {
		state string
		up    bool
	}{{"backup", true}, {"master", false}, {"fault", true}} {
		if _, errOut, err := router.Run("", "vrrp-transition", step.state, "MAIN"); err != nil {
			t.Fatalf("vrrp-transition %s: %v\n%s", step.state, err, errOut)
		}
		if present() != step.up {
			t.Fatalf("after vrrp-transition %s with ctsyncd stopped: guard present %v, want %v", step.state, present(), step.up)
		}
		router.Start()
		if present() != step.up {
			t.Fatalf("after ctsyncd started again (%s): guard present %v, want %v", step.state, present(), step.up)
		}
		router.StopService()
	}
	router.Start()
	checkOperator("after the transitions")

	router.MustConfigure("delete service conntrack-sync", "commit")
	if present() {
		t.Fatal("guard table still there after conntrack-sync was deleted")
	}
	checkOperator("after deleting conntrack-sync")
}
