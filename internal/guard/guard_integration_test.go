//go:build integration

package guard

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"

	"github.com/ctsync/ctsync/internal/nstest"
)

// operatorRules is a stand-in for the operator's own ruleset: tables of
// several families, one of them with a forward chain that accepts what
// the guard drops. The guard must leave every byte of it as it was.
const operatorRules = `table ip filter {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		ct state invalid accept
	}
}
table inet fw {
	chain input {
		type filter hook input priority filter; policy accept;
		tcp dport 22 accept
	}
}
`

// kernelIn returns a Kernel bound to ns's namespace.
func kernelIn(t *testing.T, ns *nstest.NS) Kernel {
	t.Helper()
	h, err := netns.GetFromName(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return Kernel{NetNS: int(h)}
}

// TestKernelRaiseLift raises, re-raises and lifts the guard in a fresh
// namespace with real nf_tables, checking with the nft binary that the
// table is what Text says, that the operator's tables are untouched, and
// that lifting leaves nothing.
func TestKernelRaiseLift(t *testing.T) {
	nstest.Require(t, "nft")
	ns := nstest.New(t, "guard")
	k := kernelIn(t, ns)

	cmd := ns.Cmd("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(operatorRules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loading operator rules: %v\n%s", err, out)
	}
	operator := ns.Run("nft", "-s", "list", "ruleset")

	// Lifting a guard that is not there is fine.
	if err := k.Lift(); err != nil {
		t.Fatalf("Lift on a fresh namespace: %v", err)
	}
	if p, err := k.Inspect(); err != nil || p.Table {
		t.Fatalf("Inspect before Raise = %+v, %v; want no table", p, err)
	}

	rulesets := []Ruleset{
		{VIPs: []netip.Addr{netip.MustParseAddr("198.19.0.101"), netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("2001:db8::1")}},
		// Raised again with other addresses: replaced, not added to.
		{VIPs: []netip.Addr{netip.MustParseAddr("198.18.1.1")}},
		{},
	}
	for i, rs := range rulesets {
		if err := k.Raise(rs); err != nil {
			t.Fatalf("Raise #%d: %v", i, err)
		}
		want, err := rs.Text()
		if err != nil {
			t.Fatal(err)
		}
		got := ns.Run("nft", "-s", "list", "table", "inet", Table)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("Raise #%d: nft lists (-Text +nft):\n%s", i, d)
		}
		p, err := k.Inspect()
		if err != nil || !p.Up() || p.Expires != 0 {
			t.Errorf("Inspect after Raise #%d = %+v, %v; want up without expiry", i, p, err)
		}
	}
	if got := withoutGuard(ns.Run("nft", "-s", "list", "ruleset")); got != operator {
		t.Errorf("operator's ruleset changed while raised (-before +after):\n%s", cmp.Diff(operator, got))
	}

	if err := k.Lift(); err != nil {
		t.Fatal(err)
	}
	if p, err := k.Inspect(); err != nil || p.Table {
		t.Fatalf("Inspect after Lift = %+v, %v; want no table", p, err)
	}
	if got := ns.Run("nft", "-s", "list", "ruleset"); got != operator {
		t.Errorf("ruleset after Lift is not the operator's (-before +after):\n%s", cmp.Diff(operator, got))
	}
}

// TestKernelBound: a guard raised with a bound stops matching by itself,
// the kernel's doing, with no process involved: what protects a master
// whose hook was killed.
func TestKernelBound(t *testing.T) {
	nstest.Require(t, "nft")
	ns := nstest.New(t, "guardb")
	k := kernelIn(t, ns)
	if err := k.Raise(Ruleset{VIPs: []netip.Addr{netip.MustParseAddr("198.18.1.1")}, Bound: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	p, err := k.Inspect()
	if err != nil || !p.Up() || p.Expires <= 0 || p.Expires > 1500*time.Millisecond {
		t.Fatalf("Inspect after a bounded Raise = %+v, %v; want up, expiring within 1.5 s", p, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err = k.Inspect()
		if err != nil {
			t.Fatal(err)
		}
		if !p.Up() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("guard still up 10 s after a 1.5 s bound: %+v", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !p.Table {
		t.Fatalf("the table went away by itself: %+v", p)
	}
}

// withoutGuard removes the guard's table from an `nft list ruleset`.
func withoutGuard(rs string) string {
	start := strings.Index(rs, "table inet "+Table+" {")
	if start < 0 {
		return rs
	}
	end := strings.Index(rs[start:], "\n}\n")
	return rs[:start] + rs[start+end+3:]
}
