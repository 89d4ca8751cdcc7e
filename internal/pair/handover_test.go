package pair

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/transition"
)

// writeVRRP records root's sync-group MAIN in state, as the hook does.
func writeVRRP(t *testing.T, root paths.Root, state string) {
	t.Helper()
	b, _ := json.Marshal(map[string]transition.GroupState{"MAIN": {State: state, Since: time.Now().UTC(), Seq: 1}})
	if err := os.MkdirAll(filepath.Dir(root.VRRPState()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root.VRRPState(), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readiness is a node's verdict, changed by the test while the channel
// runs.
type readiness struct {
	mu     sync.Mutex
	ready  bool
	reason string
}

func (r *readiness) set(ok bool, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ready, r.reason = ok, why
}

func (r *readiness) eval(context.Context) (bool, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready, r.reason
}

type handoverNode struct {
	svc   *Service
	root  paths.Root
	ready *readiness
	// forced records the force flag of each takeover asked of it.
	mu     sync.Mutex
	forced []bool
}

// handoverPair runs r1 (master) and r2 (backup, ready) over loopback. r2's
// TakeOver is TakeOverLocal; when it accepts, keepalived's part is played
// by writing the VRRP states the hooks would record.
func handoverPair(t *testing.T) (r1, r2 *handoverNode) {
	t.Helper()
	id1, id2 := newIdentity(t), newIdentity(t)
	tree := testTree(t, "high-availability vrrp group lan interface eth0", "high-availability vrrp group lan vrid 1",
		"high-availability vrrp group lan address 198.18.0.1/24", "high-availability vrrp sync-group MAIN member lan")
	mk := func(name string, id *Identity, local, peer, pin string) *handoverNode {
		n := &handoverNode{root: paths.Root{Dir: t.TempDir()}, ready: &readiness{ready: true}}
		n.svc = &Service{Identity: id, Log: zap.NewNop(),
			Collector: &Collector{Root: n.root, Schema: schema.Default(), Identity: id.Fingerprint,
				Running: func() (*configtree.Node, int) { return tree, 1 },
				Ready:   n.ready.eval}}
		if err := n.svc.Configure(&Config{Name: name, PeerAddress: peer, PeerIdentity: pin, LocalAddress: local, Port: 37904}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.svc.Stop)
		return n
	}
	r1 = mk("r1", id1, "127.0.0.1", "127.0.0.2", id2.Fingerprint)
	r2 = mk("r2", id2, "127.0.0.2", "127.0.0.1", id1.Fingerprint)
	writeVRRP(t, r1.root, "master")
	writeVRRP(t, r2.root, "backup")
	r2.svc.TakeOver = func(ctx context.Context, force bool) (string, error) {
		r2.mu.Lock()
		r2.forced = append(r2.forced, force)
		r2.mu.Unlock()
		msg, err := TakeOverLocal(ctx, r2.svc.Collector, force)
		if err == nil {
			writeVRRP(t, r2.root, "master")
			writeVRRP(t, r1.root, "backup")
		}
		return msg, err
	}
	return r1, r2
}

func (n *handoverNode) takeovers() []bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]bool(nil), n.forced...)
}

// TestFailoverRefusals: a handover is refused, with the reason, unless
// the peer answers, is not in maintenance and is ready; force skips
// only readiness. A refusal changes nothing on either node.
func TestFailoverRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		setup     func(t *testing.T, r1, r2 *handoverNode)
		force     bool
		want      string
		takeovers int // asked of r2
	}{
		{"the peer does not answer", func(t *testing.T, r1, r2 *handoverNode) { r2.svc.Stop() }, false,
			"refused: the peer does not answer (unreachable", 0},
		{"the peer does not answer, forced", func(t *testing.T, r1, r2 *handoverNode) { r2.svc.Stop() }, true,
			"refused: the peer does not answer", 0},
		{"this node is not master", func(t *testing.T, r1, r2 *handoverNode) { writeVRRP(t, r1.root, "backup") }, false,
			"refused: r1 is not master of any sync-group", 0},
		{"the peer is in maintenance", func(t *testing.T, r1, r2 *handoverNode) {
			if _, err := UpdateState(r2.root, func(s *State) { s.Maintenance = true }); err != nil {
				t.Fatal(err)
			}
		}, false, "refused: r2 is in maintenance", 0},
		{"the peer is in maintenance, forced", func(t *testing.T, r1, r2 *handoverNode) {
			if _, err := UpdateState(r2.root, func(s *State) { s.Maintenance = true }); err != nil {
				t.Fatal(err)
			}
		}, true, "refused: r2 is in maintenance", 0},
		{"the peer is not ready", func(t *testing.T, r1, r2 *handoverNode) {
			r2.ready.set(false, "external cache emptied by a conntrackd restart")
		}, false, "refused: r2 is not ready for failover (external cache emptied by a conntrackd restart); `request high-availability failover force` overrides", 0},
		{"the peer turns not ready between the view and the request", func(t *testing.T, r1, r2 *handoverNode) {
			// r1's view says ready; r2's own check at the takeover says no.
			r2.svc.TakeOver = func(ctx context.Context, force bool) (string, error) {
				r2.ready.set(false, "peer silent")
				return TakeOverLocal(ctx, r2.svc.Collector, force)
			}
		}, false, "refused by r2: not ready for failover: peer silent", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r1, r2 := handoverPair(t)
			tc.setup(t, r1, r2)
			_, err := r1.svc.Failover(ctx, tc.force)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Failover: %v; want %q", err, tc.want)
			}
			if n := len(r2.takeovers()); n > tc.takeovers {
				t.Errorf("r2 was asked to take over %d times", n)
			}
			if st, _ := ReadState(r2.root); st.Preferred {
				t.Error("r2 was made preferred")
			}
			if w, err := os.ReadFile(r2.root.VRRPWeight()); err == nil && strings.TrimSpace(string(w)) == "253" {
				t.Error("r2's weight raised")
			}
		})
	}
}

// TestFailoverForce: force takes over from a peer that is not ready, and
// the request returns once the peer reports master.
func TestFailoverForce(t *testing.T) {
	ctx := context.Background()
	r1, r2 := handoverPair(t)
	r2.ready.set(false, "peer silent")
	msg, err := r1.svc.Failover(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "r2 is master of sync-group MAIN") {
		t.Errorf("message %q", msg)
	}
	if f := r2.takeovers(); len(f) != 1 || !f[0] {
		t.Errorf("takeovers asked of r2: %v, want one forced", f)
	}
	st, _ := ReadState(r2.root)
	w, _ := os.ReadFile(r2.root.VRRPWeight())
	if !st.Preferred || strings.TrimSpace(string(w)) != "253" {
		t.Errorf("r2 after the takeover: %+v, weight %q", st, w)
	}
}

// TestFailoverTimeout: a peer that accepts but never becomes master is
// reported as such, not waited for forever.
func TestFailoverTimeout(t *testing.T) {
	old := HandoverTimeout
	HandoverTimeout = 500 * time.Millisecond
	defer func() { HandoverTimeout = old }()
	r1, r2 := handoverPair(t)
	r2.svc.TakeOver = func(ctx context.Context, force bool) (string, error) {
		return TakeOverLocal(ctx, r2.svc.Collector, force)
	}
	_, err := r1.svc.Failover(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "r2 has not become master of sync-group MAIN within 500ms") {
		t.Errorf("Failover: %v", err)
	}
}

// TestTakeOverLocal: the peer's own refusals, which hold even when the
// requester's view was stale.
func TestTakeOverLocal(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		maint     bool
		ready     bool
		force     bool
		want      string // error; "" accepts
		preferred bool
	}{
		{"ready", false, true, false, "", true},
		{"not ready", false, false, false, "not ready for failover: peer silent", false},
		{"not ready, forced", false, false, true, "", true},
		{"in maintenance", true, true, false, "in maintenance: turn it off first", false},
		{"in maintenance, forced", true, true, true, "in maintenance: turn it off first", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := paths.Root{Dir: t.TempDir()}
			if tc.maint {
				if _, err := UpdateState(root, func(s *State) { s.Maintenance = true }); err != nil {
					t.Fatal(err)
				}
			}
			r := &readiness{ready: tc.ready, reason: "peer silent"}
			_, err := TakeOverLocal(ctx, &Collector{Root: root, Ready: r.eval}, tc.force)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("TakeOverLocal: %v; want %q", err, tc.want)
			}
			st, _ := ReadState(root)
			if st.Preferred != tc.preferred || st.Maintenance != tc.maint {
				t.Errorf("state %+v; want preferred %v, maintenance %v", st, tc.preferred, tc.maint)
			}
			w, _ := os.ReadFile(root.VRRPWeight())
			want := map[bool]string{true: "253", false: ""}[tc.preferred]
			if tc.maint {
				want = "-253"
			}
			if got := strings.TrimSpace(string(w)); got != want {
				t.Errorf("weight file %q, want %q", got, want)
			}
		})
	}
}

// TestHandoverGroups: what the view must show for a handover to go
// ahead, forced or not; a lagging external cache refuses like a peer
// that says it is not ready.
func TestHandoverGroups(t *testing.T) {
	up := func(local, peer *NodeStatus) *View {
		return &View{Configured: true, Channel: ChannelUp, Local: local, Peer: peer}
	}
	maint := func(n *NodeStatus) *NodeStatus { n.State.Maintenance = true; return n }
	tests := []struct {
		name    string
		v       *View
		force   bool
		want    []string
		wantErr string
	}{
		{"ready", up(node("r1", "MASTER", true, "h", "v1"), node("r2", "BACKUP", true, "h", "v1")), false, []string{"MAIN"}, ""},
		{"not configured", &View{Local: node("r1", "MASTER", true, "h", "v1")}, false, nil, "not configured"},
		{"unreachable", &View{Configured: true, Channel: ChannelUnreachable, ChannelInfo: "connection refused", Local: node("r1", "MASTER", true, "h", "v1")}, true, nil,
			"refused: the peer does not answer (unreachable: connection refused)"},
		{"not master", up(node("r1", "BACKUP", true, "h", "v1"), node("r2", "MASTER", true, "h", "v1")), false, nil, "refused: r1 is not master of any sync-group"},
		{"maintenance, forced", up(node("r1", "MASTER", true, "h", "v1"), maint(node("r2", "BACKUP", true, "h", "v1"))), true, nil, "refused: r2 is in maintenance"},
		{"not ready", up(node("r1", "MASTER", true, "h", "v1"), node("r2", "BACKUP", false, "h", "v1")), false, nil,
			"refused: r2 is not ready for failover (external cache not refilled since conntrackd started)"},
		{"not ready, forced", up(node("r1", "MASTER", true, "h", "v1"), node("r2", "BACKUP", false, "h", "v1")), true, []string{"MAIN"}, ""},
		{"external cache behind", up(node("r1", "MASTER", true, "h", "v1"), caches(node("r2", "BACKUP", true, "h", "v1"), 200, 0)), false, nil,
			"refused: r2's external cache holds 0 entries where master r1's internal cache holds 200"},
		{"external cache behind, forced", up(node("r1", "MASTER", true, "h", "v1"), caches(node("r2", "BACKUP", true, "h", "v1"), 200, 0)), true, []string{"MAIN"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := handoverGroups(tc.v, tc.force)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("handoverGroups: %v; want %q", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("groups %v, want %v", got, tc.want)
			}
		})
	}
}
