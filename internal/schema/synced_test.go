package schema

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
)

func syncedTree(t testing.TB, lines ...string) *configtree.Node {
	t.Helper()
	tree := configtree.New()
	for _, l := range lines {
		if err := Default().Set(tree, strings.Fields(l)); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	return tree
}

// TestSyncedPart: the two routers of a pair differ only in node-local
// values, and the synced part (and its hash) does not see them.
func TestSyncedPart(t *testing.T) {
	common := []string{
		"high-availability vrrp group lan interface eth0",
		"high-availability vrrp group lan vrid 1",
		"high-availability vrrp group lan address 198.18.0.1/24",
		"high-availability vrrp sync-group MAIN member lan",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN",
	}
	r1 := syncedTree(t, append(common,
		"high-availability vrrp group lan priority 200",
		"high-availability vrrp group lan hello-source-address 198.18.0.2",
		"high-availability vrrp group lan peer-address 198.18.0.3",
		"service conntrack-sync interface sync0 peer 198.18.10.3",
		"service conntrack-sync listen-address 198.18.10.2",
		"high-availability pair peer-address 198.18.10.3",
		"high-availability pair peer-identity sha256:"+strings.Repeat("a", 64),
	)...)
	r2 := syncedTree(t, append(common,
		"high-availability vrrp group lan priority 100",
		"service conntrack-sync interface sync0 peer 198.18.10.2",
	)...)
	s := Default()
	if a, b := s.SyncedPart(r1).String(), s.SyncedPart(r2).String(); a != b {
		t.Fatalf("synced parts differ:\n%s\n---\n%s", a, b)
	}
	got := s.SyncedPart(r1).String()
	for _, local := range []string{"priority", "hello-source", "peer-address", "198.18.10.3", "listen-address", "pair"} {
		if strings.Contains(got, local) {
			t.Errorf("node-local %q in the synced part:\n%s", local, got)
		}
	}
	for _, shared := range []string{"sync0", "vrid 1", "MAIN"} {
		if !strings.Contains(got, shared) {
			t.Errorf("shared %q missing from the synced part:\n%s", shared, got)
		}
	}
	r3 := syncedTree(t, append(common, "high-availability vrrp group lan vrid 2")...)
	if s.SyncedHash(r1) == s.SyncedHash(r3) {
		t.Error("a shared change (vrid) leaves the hash unchanged")
	}
	if n := s.Lookup([]string{"high-availability", "pair", "port"}); n == nil || !n.NodeLocal {
		t.Error("high-availability pair port: not node-local (inherited from pair)")
	}
}
