package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/configtree"
)

// The lab's pair, as each router has it: shared VRRP and conntrack-sync,
// node-local priorities, peers and pair settings.
var (
	mergeShared = []string{
		"high-availability vrrp group lan interface lan0",
		"high-availability vrrp group lan vrid 10",
		"high-availability vrrp group lan address 198.18.0.1/24",
		"high-availability vrrp group wan interface wan0",
		"high-availability vrrp group wan vrid 20",
		"high-availability vrrp group wan address 198.19.0.1/24",
		"high-availability vrrp sync-group MAIN member lan",
		"high-availability vrrp sync-group MAIN member wan",
		"service conntrack-sync interface sync0",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN",
	}
	mergeR2Local = []string{
		"high-availability vrrp group lan priority 100",
		"high-availability vrrp group wan priority 100",
		"high-availability vrrp group wan hello-source-address 198.19.0.3",
		"service conntrack-sync interface sync0 peer 198.18.255.1",
		"service conntrack-sync listen-address 198.18.255.2",
		"high-availability pair peer-address 198.18.255.1",
		"high-availability pair peer-identity sha256:" + strings.Repeat("b", 64),
		"high-availability pair config-sync",
		"service ctsync metrics listen-address 127.0.0.1",
	}
)

func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

func without(base []string, drop ...string) []string {
	var out []string
	for _, l := range base {
		keep := true
		for _, d := range drop {
			if strings.HasPrefix(l, d) {
				keep = false
			}
		}
		if keep {
			out = append(out, l)
		}
	}
	return out
}

// TestMergeSynced: the peer's candidate of a commit of the pair is its
// running config with the synced part replaced and its own node-local
// values kept, where their place still exists.
func TestMergeSynced(t *testing.T) {
	r2 := with(mergeShared, mergeR2Local...)
	tests := []struct {
		name   string
		local  []string // the peer's running config
		synced []string // the committing router's config (its synced part is sent)
		want   []string // the peer's candidate
	}{
		{
			name:   "a shared value changes; priorities, peers and pair stay",
			local:  r2,
			synced: with(mergeShared, "high-availability vrrp group wan description uplink", "high-availability vrrp group lan priority 200", "service conntrack-sync interface sync0 peer 198.18.255.2"),
			want:   with(r2, "high-availability vrrp group wan description uplink"),
		},
		{
			name:   "a conntrack-sync value changes",
			local:  r2,
			synced: with(mergeShared, "service conntrack-sync sync-queue-size 2"),
			want:   with(r2, "service conntrack-sync sync-queue-size 2"),
		},
		{
			name:   "a group deleted takes the peer's priority and hello source for it along",
			local:  r2,
			synced: without(mergeShared, "high-availability vrrp group wan", "high-availability vrrp sync-group MAIN member wan"),
			want:   without(r2, "high-availability vrrp group wan", "high-availability vrrp sync-group MAIN member wan"),
		},
		{
			name:   "a new group arrives without a priority of the peer's",
			local:  r2,
			synced: with(mergeShared, "high-availability vrrp group dmz interface dmz0", "high-availability vrrp group dmz vrid 30", "high-availability vrrp group dmz address 198.18.1.1/24", "high-availability vrrp group dmz priority 250"),
			want:   with(r2, "high-availability vrrp group dmz interface dmz0", "high-availability vrrp group dmz vrid 30", "high-availability vrrp group dmz address 198.18.1.1/24"),
		},
		{
			name:   "conntrack-sync deleted: its node-local values go, the pair and metrics stay",
			local:  r2,
			synced: without(mergeShared, "service conntrack-sync"),
			want:   without(r2, "service conntrack-sync"),
		},
		{
			name:   "the sync interface renamed: the peer address of the old one goes",
			local:  r2,
			synced: with(without(mergeShared, "service conntrack-sync interface sync0"), "service conntrack-sync interface sync1"),
			want:   with(without(r2, "service conntrack-sync interface sync0"), "service conntrack-sync interface sync1"),
		},
		{
			name:   "a peer with only the pair takes everything shared",
			local:  without(r2, "high-availability vrrp", "service conntrack-sync"),
			synced: with(mergeShared, "high-availability vrrp group lan priority 200"),
			want:   with(mergeShared, without(r2, "high-availability vrrp", "service conntrack-sync")...),
		},
		{
			name:   "everything shared deleted: only the node-local pair and what lies outside stay",
			local:  r2,
			synced: nil,
			want:   []string{"high-availability pair peer-address 198.18.255.1", "high-availability pair peer-identity sha256:" + strings.Repeat("b", 64), "high-availability pair config-sync", "service ctsync metrics listen-address 127.0.0.1"},
		},
	}
	s := Default()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local, from := syncedTree(t, tc.local...), syncedTree(t, tc.synced...)
			part := s.SyncedPart(from)
			got := s.MergeSynced(local, part)
			want := syncedTree(t, tc.want...)
			if diff := cmp.Diff(want.Commands(), got.Commands()); diff != "" {
				t.Errorf("merged (-want +got):\n%s", diff)
			}
			// The peer then holds exactly the synced part it was sent.
			if a, b := part.String(), s.SyncedPart(got).String(); a != b {
				t.Errorf("synced part of the merge differs from the one sent:\n%s\n---\n%s", a, b)
			}
			if err := s.Validate(got); err != nil && s.Validate(want) == nil {
				t.Errorf("the merge does not validate: %v", err)
			}
			// The input is not changed.
			if !configtree.Equal(local, syncedTree(t, tc.local...)) {
				t.Error("MergeSynced changed its local argument")
			}
		})
	}
}

// A node's own synced part merged into it changes nothing: a commit of
// the pair that the peer already has is no commit there.
func TestMergeSyncedIdentity(t *testing.T) {
	s := Default()
	for _, lines := range [][]string{
		with(mergeShared, mergeR2Local...),
		mergeR2Local,
		mergeShared,
		nil,
	} {
		tree := syncedTree(t, lines...)
		if ha := tree.Get("high-availability"); ha != nil {
			ha.Comment = "kept"
		}
		if got := s.MergeSynced(tree, s.SyncedPart(tree)); !configtree.Equal(got, tree) {
			t.Errorf("merging a tree's own synced part changed it:\n%s\n---\n%s", tree, got)
		}
	}
}

func TestParseSynced(t *testing.T) {
	s := Default()
	good := s.SyncedPart(syncedTree(t, with(mergeShared, mergeR2Local...)...)).String()
	if _, err := s.ParseSynced(good); err != nil {
		t.Fatalf("a synced part refused: %v\n%s", err, good)
	}
	for name, text := range map[string]string{
		"node-local":   "high-availability {\n vrrp {\n group lan {\n priority 100\n }\n }\n}\n",
		"pair":         "high-availability {\n pair {\n peer-address 198.18.255.1\n }\n}\n",
		"outside":      "service {\n ctsync {\n metrics {\n listen-address 127.0.0.1\n }\n }\n}\n",
		"unknown":      "high-availability {\n nonsense 1\n}\n",
		"leaf as list": "high-availability {\n vrrp {\n group {\n lan {\n }\n }\n }\n}\n",
		"syntax":       "high-availability {\n",
	} {
		if _, err := s.ParseSynced(text); !errors.Is(err, ErrNotSynced) {
			t.Errorf("%s: got %v, want ErrNotSynced", name, err)
		}
	}
}

func FuzzParseSynced(f *testing.F) {
	s := Default()
	f.Add(s.SyncedPart(syncedTree(f, with(mergeShared, mergeR2Local...)...)).String())
	f.Add("high-availability {\n pair {\n }\n}\n")
	f.Add("service {\n conntrack-sync {\n interface sync0 {\n peer 1.2.3.4\n }\n }\n}\n")
	local := syncedTree(f, with(mergeShared, mergeR2Local...)...)
	f.Fuzz(func(t *testing.T, text string) {
		part, err := s.ParseSynced(text)
		if err != nil {
			return
		}
		// What is accepted is a synced part: merged into a router, it is
		// what that router then holds, and nothing node-local is lost.
		got := s.MergeSynced(local, part)
		if a, b := s.SyncedPart(part).String(), s.SyncedPart(got).String(); a != b {
			t.Fatalf("synced part after the merge:\n%s\nwant:\n%s", b, a)
		}
		if got.Get("high-availability", "pair") == nil {
			t.Fatal("the merge lost the node-local pair")
		}
	})
}
