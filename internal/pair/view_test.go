package pair

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/golden"
)

func node(name, state string, ready bool, hash, version string) *NodeStatus {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in, ex, k := uint64(200), uint64(200), 201
	return &NodeStatus{
		Name: name, Identity: "sha256:" + strings.Repeat("a", 64), Version: version,
		SyncGroups: []SyncGroup{{Name: "MAIN", State: state, Since: &since}},
		Priorities: map[string]int{"lan": 200, "wan": 200},
		Conntrackd: true, Internal: &in, External: &ex, Kernel: &k,
		Ready: ready, ReadyReason: map[bool]string{true: "", false: "external cache not refilled since conntrackd started"}[ready],
		Revision: 4, SyncedHash: hash, Collected: since,
	}
}

func ago(s float64) *float64 { return &s }

// caches sets n's internal and external cache sizes.
func caches(n *NodeStatus, internal, external uint64) *NodeStatus {
	n.Internal, n.External = &internal, &external
	return n
}

func noExternal(n *NodeStatus) *NodeStatus {
	n.External = nil
	return n
}

// agreed turns config-sync on in n with hash as last agreed.
func agreed(n *NodeStatus, hash string) *NodeStatus {
	n.ConfigSync, n.Agreed = true, hash
	return n
}

func TestComputeAlarms(t *testing.T) {
	tests := []struct {
		name string
		v    View
		want []string
	}{
		{"not configured", View{Local: node("r1", "MASTER", true, "h", "v1")}, nil},
		{"healthy", View{Configured: true, Channel: ChannelUp, PeerAddress: "198.18.10.3",
			Local: node("r1", "MASTER", true, "h", "v1"), Peer: node("r2", "BACKUP", true, "h", "v1")}, nil},
		{"both master", View{Configured: true, Channel: ChannelUp,
			Local: node("r1", "MASTER", true, "h", "v1"), Peer: node("r2", "MASTER", true, "h", "v1")},
			[]string{"both nodes MASTER of sync-group MAIN: r1 and r2 both hold the virtual addresses (VRRP adverts are not getting through)"}},
		{"peer unreachable", View{Configured: true, Channel: ChannelUnreachable, PeerAddress: "198.18.10.3", PeerAgoS: ago(12.4), ChannelInfo: "connection refused",
			Local: node("r1", "MASTER", true, "h", "v1")},
			[]string{"peer unreachable: the peer at 198.18.10.3 last answered 12s ago (connection refused)"}},
		{"peer never answered", View{Configured: true, Channel: ChannelUnreachable, PeerAddress: "198.18.10.3",
			Local: node("r1", "MASTER", true, "h", "v1")},
			[]string{"peer unreachable: the peer at 198.18.10.3 never answered"}},
		{"peer not ready", View{Configured: true, Channel: ChannelUp,
			Local: node("r1", "MASTER", true, "h", "v1"), Peer: node("r2", "BACKUP", false, "h", "v1")},
			[]string{"peer not ready: r2 could not take over without losing flows (external cache not refilled since conntrackd started)"}},
		{"config drift", View{Configured: true, Channel: ChannelUp,
			Local: node("r1", "MASTER", true, "h1", "v1"), Peer: node("r2", "BACKUP", true, "h2", "v1")},
			[]string{"config drift: high-availability and service conntrack-sync differ between r1 (revision 4) and r2 (revision 4); `show high-availability config-diff` shows it, `request high-availability config-sync from-peer|to-peer` settles it"}},
		{"config drift, r2 changed since agreed", View{Configured: true, Channel: ChannelUp,
			Local: agreed(node("r1", "MASTER", true, "h1", "v1"), "h1"), Peer: agreed(node("r2", "BACKUP", true, "h2", "v1"), "h1")},
			[]string{"config drift: high-availability and service conntrack-sync differ between r1 (revision 4) and r2 (revision 4); changed since the pair last agreed: r2; `show high-availability config-diff` shows it, `request high-availability config-sync from-peer|to-peer` settles it"}},
		{"config drift, both changed since agreed", View{Configured: true, Channel: ChannelUp,
			Local: agreed(node("r1", "MASTER", true, "h1", "v1"), "h0"), Peer: agreed(node("r2", "BACKUP", true, "h2", "v1"), "h0")},
			[]string{"config drift: high-availability and service conntrack-sync differ between r1 (revision 4) and r2 (revision 4); changed since the pair last agreed: r1 and r2; `show high-availability config-diff` shows it, `request high-availability config-sync from-peer|to-peer` settles it"}},
		{"commit local with the peer unreachable", View{Configured: true, Channel: ChannelUnreachable, PeerAddress: "198.18.10.3",
			Local: agreed(node("r1", "MASTER", true, "h1", "v1"), "h0")},
			[]string{"peer unreachable: the peer at 198.18.10.3 never answered",
				"config drift: r1 changed high-availability or service conntrack-sync (revision 4) since the pair last agreed, and the peer has not got it; `request high-availability config-sync to-peer` settles it once the peer answers"}},
		{"peer unreachable, nothing changed since agreed", View{Configured: true, Channel: ChannelUnreachable, PeerAddress: "198.18.10.3",
			Local: agreed(node("r1", "MASTER", true, "h1", "v1"), "h1")},
			[]string{"peer unreachable: the peer at 198.18.10.3 never answered"}},
		{"version mismatch", View{Configured: true, Channel: ChannelUp,
			Local: node("r1", "MASTER", true, "h", "v1"), Peer: node("r2", "BACKUP", true, "h", "v2")},
			[]string{"version mismatch: r1 runs v1, r2 runs v2"}},
		{"identity mismatch", View{Configured: true, Channel: ChannelMismatch, ChannelInfo: "the peer presented sha256:b, the pinned peer-identity is sha256:c",
			Local: node("r1", "MASTER", true, "h", "v1")},
			[]string{"identity mismatch: the peer presented sha256:b, the pinned peer-identity is sha256:c"}},
		{"backup behind: its external cache emptied", View{Configured: true, Channel: ChannelUp,
			Local: node("r1", "MASTER", true, "h", "v1"), Peer: caches(node("r2", "BACKUP", true, "h", "v1"), 200, 0)},
			[]string{"backup behind: r2's external cache holds 0 entries where master r1's internal cache holds 200: a failover now would lose the flows it lacks (`reset conntrack-sync external-cache` on r2 asks r1 to send them again)"}},
		{"backup behind, seen from the backup", View{Configured: true, Channel: ChannelUp,
			Local: caches(node("r2", "BACKUP", true, "h", "v1"), 0, 150), Peer: caches(node("r1", "MASTER", true, "h", "v1"), 1000, 0)},
			[]string{"backup behind: r2's external cache holds 150 entries where master r1's internal cache holds 1000: a failover now would lose the flows it lacks (`reset conntrack-sync external-cache` on r2 asks r1 to send them again)"}},
		{"backup a few flows behind: churn, no alarm", View{Configured: true, Channel: ChannelUp,
			Local: caches(node("r1", "MASTER", true, "h", "v1"), 200, 0), Peer: caches(node("r2", "BACKUP", true, "h", "v1"), 0, 170)},
			nil},
		{"a tenth of a big table behind is churn too", View{Configured: true, Channel: ChannelUp,
			Local: caches(node("r1", "MASTER", true, "h", "v1"), 100000, 0), Peer: caches(node("r2", "BACKUP", true, "h", "v1"), 0, 90001)},
			nil},
		{"no external cache (disable-external-cache): nothing to compare", View{Configured: true, Channel: ChannelUp,
			Local: node("r1", "MASTER", true, "h", "v1"), Peer: noExternal(node("r2", "BACKUP", true, "h", "v1"))},
			nil},
		{"several at once", View{Configured: true, Channel: ChannelUp,
			Local: node("r1", "MASTER", true, "h1", "v1"), Peer: node("r2", "MASTER", false, "h2", "v2")},
			[]string{
				"both nodes MASTER of sync-group MAIN: r1 and r2 both hold the virtual addresses (VRRP adverts are not getting through)",
				"peer not ready: r2 could not take over without losing flows (external cache not refilled since conntrackd started)",
				"config drift: high-availability and service conntrack-sync differ between r1 (revision 4) and r2 (revision 4); `show high-availability config-diff` shows it, `request high-availability config-sync from-peer|to-peer` settles it",
				"version mismatch: r1 runs v1, r2 runs v2",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ComputeAlarms(&tc.v)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") })); diff != "" {
				t.Errorf("alarms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteViewGolden(t *testing.T) {
	v := &View{Configured: true, Channel: ChannelUp, PeerAddress: "198.18.10.3", PeerAgoS: ago(0.8),
		Local: node("r1", "MASTER", true, "1111111111111111", "v1"), Peer: node("r2", "MASTER", false, "2222222222222222", "v1")}
	agreed(v.Local, "1111111111111111")
	agreed(v.Peer, "1111111111111111")
	v.Peer.State.Maintenance = true
	v.Peer.Weight = weightMaintenance
	v.Alarms = ComputeAlarms(v)
	for _, tc := range []struct {
		file string
		json bool
	}{{"pair-view.txt", false}, {"pair-view.json", true}} {
		var b bytes.Buffer
		if err := WriteView(&b, v, tc.json); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, golden.Dir("op-mode", "high-availability", tc.file), b.Bytes())
	}
}

func FuzzDecodeRequest(f *testing.F) {
	id := strings.Repeat("0a", idBytes)
	for _, r := range []Request{{Op: OpStatus}, {Op: OpTakeover, Force: true}, {Op: OpSynced},
		{Op: OpPrepare, ID: id, From: "r1", User: "root", Base: strings.Repeat("f", 64), Synced: "high-availability {\n}\n"},
		{Op: OpPrepare, ID: id, From: "r1", Force: true}, {Op: OpCommit, ID: id}, {Op: OpAbort, ID: id}} {
		var b bytes.Buffer
		if err := writeMsg(&b, r, maxFor(r.Op)); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(bytes.NewReader(data))
		if err != nil {
			return
		}
		switch req.Op {
		case OpStatus, OpSynced:
			if req.Force || req.ID != "" {
				t.Fatalf("%s accepted with force or an id: %+v", req.Op, req)
			}
		case OpTakeover:
		case OpPrepare:
			if !validID(req.ID) || req.From == "" {
				t.Fatalf("prepare accepted without an id or a sender: %+v", req)
			}
		case OpCommit, OpAbort:
			if !validID(req.ID) || req.Synced != "" || req.Force {
				t.Fatalf("%s accepted with more than an id: %+v", req.Op, req)
			}
		default:
			t.Fatalf("accepted op %q", req.Op)
		}
		if req.Op != OpPrepare && (req.From != "" || req.User != "" || req.Base != "" || req.Synced != "") {
			t.Fatalf("%s accepted with prepare's fields: %+v", req.Op, req)
		}
		// What is accepted encodes again within its op's bound.
		var b bytes.Buffer
		if err := writeMsg(&b, req, maxFor(req.Op)); err != nil {
			t.Fatal(err)
		}
	})
}
