package pair

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

// fakeLocal is a node's config service for unit tests of the exchange:
// a running tree, a commit lock, and what Check and Commit say. The
// commit path itself is configd's, tested there and in the lab.
type fakeLocal struct {
	mu        sync.Mutex
	tree      *configtree.Node
	rev       int
	held      bool
	checkErr  error
	commitErr error
	checked   []*configtree.Node
	comments  []string
}

var errFakeBusy = errors.New("a commit is in progress: try again when it has finished")

func (f *fakeLocal) Hold(ctx context.Context) (Held, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held {
		return nil, errFakeBusy
	}
	f.held = true
	return &fakeHeld{f: f}, nil
}

func (f *fakeLocal) running() (*configtree.Node, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tree.Clone(), f.rev
}

// edit changes f under its lock: the channel's goroutines read it.
func (f *fakeLocal) edit(change func(f *fakeLocal)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// set sets a line in f's running config.
func (f *fakeLocal) set(t *testing.T, line string) {
	t.Helper()
	f.edit(func(f *fakeLocal) {
		if err := schema.Default().Set(f.tree, strings.Fields(line)); err != nil {
			t.Fatal(err)
		}
	})
}

func (f *fakeLocal) checks() []*configtree.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*configtree.Node(nil), f.checked...)
}

func (f *fakeLocal) commits() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.comments...)
}

func (f *fakeLocal) isHeld() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held
}

type fakeHeld struct {
	f    *fakeLocal
	once sync.Once
}

func (h *fakeHeld) Check(ctx context.Context, cand *configtree.Node) error {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	h.f.checked = append(h.f.checked, cand.Clone())
	return h.f.checkErr
}

func (h *fakeHeld) Commit(ctx context.Context, cand *configtree.Node, user, comment string) (int, []string, error) {
	h.f.mu.Lock()
	defer h.f.mu.Unlock()
	if h.f.commitErr != nil {
		return 0, nil, h.f.commitErr
	}
	h.f.tree, h.f.rev = cand.Clone(), h.f.rev+1
	h.f.comments = append(h.f.comments, user+": "+comment)
	return h.f.rev, nil, nil
}

func (h *fakeHeld) Release() {
	h.once.Do(func() {
		h.f.mu.Lock()
		h.f.held = false
		h.f.mu.Unlock()
	})
}

// The lab's pair: shared VRRP and conntrack-sync, node-local priority
// and peer, config-sync on.
var syncShared = []string{
	"high-availability vrrp group wan interface wan0",
	"high-availability vrrp group wan vrid 20",
	"high-availability vrrp group wan address 198.19.0.1/24",
	"high-availability vrrp sync-group MAIN member wan",
	"service conntrack-sync interface sync0",
	"service conntrack-sync failover-mechanism vrrp sync-group MAIN",
	"high-availability pair config-sync",
}

func nodeTree(t *testing.T, prio, peer string, more ...string) *configtree.Node {
	t.Helper()
	lines := append(append([]string(nil), syncShared...),
		"high-availability vrrp group wan priority "+prio,
		"service conntrack-sync interface sync0 peer "+peer)
	return testTree(t, append(lines, more...)...)
}

type syncNode struct {
	svc   *Service
	local *fakeLocal
	root  paths.Root
}

// syncPair runs r1 (127.0.0.1) and r2 (127.0.0.2) over loopback, each
// with a fake config service holding the lab's config.
func syncPair(t *testing.T) (r1, r2 *syncNode) {
	t.Helper()
	id1, id2 := newIdentity(t), newIdentity(t)
	mk := func(name string, id *Identity, local, peer, pin string, tree *configtree.Node) *syncNode {
		n := &syncNode{local: &fakeLocal{tree: tree, rev: 1}, root: paths.Root{Dir: t.TempDir()}}
		n.svc = &Service{Identity: id, Log: zap.NewNop(), Local: n.local,
			Collector: &Collector{Root: n.root, Schema: schema.Default(), Identity: id.Fingerprint,
				Running: n.local.running,
				Ready:   func(context.Context) (bool, string) { return true, "" }}}
		if err := n.svc.Configure(&Config{Name: name, PeerAddress: peer, PeerIdentity: pin, LocalAddress: local, Port: 37903}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.svc.Stop)
		return n
	}
	r1 = mk("r1", id1, "127.0.0.1", "127.0.0.2", id2.Fingerprint, nodeTree(t, "200", "198.18.255.2"))
	r2 = mk("r2", id2, "127.0.0.2", "127.0.0.1", id1.Fingerprint, nodeTree(t, "100", "198.18.255.1"))
	// Names known from a first poll, as after two seconds of running.
	for _, n := range []*syncNode{r1, r2} {
		n.svc.View(context.Background(), true)
	}
	return r1, r2
}

// change returns n's running config with lines set.
func (n *syncNode) change(t *testing.T, lines ...string) (prev, cand *configtree.Node) {
	t.Helper()
	prev, _ = n.local.running()
	cand = prev.Clone()
	for _, l := range lines {
		if err := schema.Default().Set(cand, strings.Fields(strings.TrimPrefix(l, "set "))); err != nil {
			t.Fatal(err)
		}
	}
	return prev, cand
}

// commitOn runs what configd does for a session's commit on n: Begin,
// the local commit, then the peer's.
func (n *syncNode) commitOn(t *testing.T, lines ...string) (string, error) {
	t.Helper()
	ctx := context.Background()
	prev, cand := n.change(t, lines...)
	txn, note, err := n.svc.Begin(ctx, prev, cand, "alice", false)
	if err != nil {
		return "", err
	}
	h, _ := n.local.Hold(ctx)
	if _, _, err := h.Commit(ctx, cand, "alice", ""); err != nil {
		t.Fatal(err)
	}
	h.Release()
	if txn == nil {
		return note, nil
	}
	return txn.Commit(ctx)
}

func hasLine(tree *configtree.Node, line string) bool {
	for _, c := range tree.Commands() {
		if c == line {
			return true
		}
	}
	return false
}

func agreedHash(t *testing.T, n *syncNode) string {
	t.Helper()
	a, err := ReadAgreed(n.root)
	if err != nil {
		t.Fatal(err)
	}
	return a.Hash
}

// TestConfigSyncCommit: prepare, then commit: the peer checks and
// commits its own candidate (its priority and peer kept), archived with
// who committed where, and both record the synced part as agreed.
func TestConfigSyncCommit(t *testing.T) {
	r1, r2 := syncPair(t)
	ctx := context.Background()
	prev, cand := r1.change(t, "set high-availability vrrp group wan description uplink")
	txn, _, err := r1.svc.Begin(ctx, prev, cand, "alice", false)
	if err != nil || txn == nil {
		t.Fatalf("Begin: %v, %v", txn, err)
	}
	// Prepared: r2 checked its candidate and holds its commit lock.
	if ok, from := r2.svc.Prepared(); !ok || from != "r1" || !r2.local.isHeld() {
		t.Fatalf("r2 after prepare: prepared %v from %q, lock held %v", ok, from, r2.local.isHeld())
	}
	if c := r2.local.checks(); len(c) != 1 || !hasLine(c[0], "set high-availability vrrp group wan description uplink") ||
		!hasLine(c[0], "set high-availability vrrp group wan priority 100") {
		t.Fatalf("r2 checked %d candidates: %v", len(c), c)
	}
	// Another prepare meanwhile is refused, not queued.
	if _, _, err := r1.svc.Begin(ctx, prev, cand, "bob", false); err == nil || !strings.Contains(err.Error(), "cannot take a commit now") {
		t.Errorf("a second prepare: %v", err)
	}
	msg, err := txn.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "r2 committed it too (revision seq 2 there)") {
		t.Errorf("commit message %q", msg)
	}
	got, _ := r2.local.running()
	for _, l := range []string{"set high-availability vrrp group wan description uplink", "set high-availability vrrp group wan priority 100",
		"set service conntrack-sync interface sync0 peer 198.18.255.1"} {
		if !hasLine(got, l) {
			t.Errorf("r2 lacks %q:\n%s", l, got)
		}
	}
	if diff := cmp.Diff([]string{"alice: config-sync from r1 (user alice)"}, r2.local.commits()); diff != "" {
		t.Errorf("r2's archive (-want +got):\n%s", diff)
	}
	if r2.local.isHeld() {
		t.Error("r2 still holds its commit lock")
	}
	want := schema.Default().SyncedHash(cand)
	if a, b := agreedHash(t, r1), agreedHash(t, r2); a != want || b != want {
		t.Errorf("agreed: r1 %q, r2 %q; want %q on both", a, b, want)
	}
}

// TestConfigSyncRefusals: whatever the peer refuses, it holds no lock
// afterwards and nothing was committed there.
func TestConfigSyncRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, r1, r2 *syncNode)
		want  []string
	}{
		{"the peer's own check fails", func(t *testing.T, r1, r2 *syncNode) {
			r2.local.edit(func(f *fakeLocal) {
				f.checkErr = &cfgerr.Error{Path: []string{"high-availability", "vrrp", "group", "wan", "interface"}, Msg: "interface eth7 does not exist"}
			})
		}, []string{"r2: high-availability vrrp group wan interface: interface eth7 does not exist", "nothing was committed on either node"}},
		{"config-sync off on the peer", func(t *testing.T, r1, r2 *syncNode) {
			r2.local.edit(func(f *fakeLocal) { f.tree.Get("high-availability", "pair").Remove("config-sync") })
		}, []string{"config-sync: r2: config-sync is off there", "commit local"}},
		{"the peer is committing", func(t *testing.T, r1, r2 *syncNode) {
			r2.local.edit(func(f *fakeLocal) { f.held = true })
		}, []string{"r2 cannot take a commit now (a commit is in progress", "try again"}},
		{"the peer changed since the pair last agreed", func(t *testing.T, r1, r2 *syncNode) {
			// Both were seen alike at the first poll.
			if agreedHash(t, r2) == "" {
				t.Fatal("no agreement recorded when both polled alike")
			}
			r2.local.set(t, "high-availability vrrp group wan vrid 21")
		}, []string{"r2 changed its synced part since the pair last agreed", "config-diff", "from-peer", "to-peer"}},
		{"the synced parts differ and were never seen alike", func(t *testing.T, r1, r2 *syncNode) {
			// As on a pair where config-sync was just turned on, the two
			// having differed all along.
			r2.svc.syncMu.Lock()
			r2.svc.agreed = ""
			if err := os.Remove(r2.root.PairAgreed()); err != nil {
				t.Error(err)
			}
			r2.svc.syncMu.Unlock()
			r2.local.set(t, "high-availability vrrp group wan vrid 21")
		}, []string{"never seen alike"}},
		{"the peer is down", func(t *testing.T, r1, r2 *syncNode) {
			r2.svc.Stop()
		}, []string{"config-sync: r2 (127.0.0.2) does not answer", "`commit local` commits it on this node only"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r1, r2 := syncPair(t)
			tc.setup(t, r1, r2)
			wasHeld := r2.local.isHeld()
			before, rev := r2.local.running()
			_, err := r1.commitOn(t, "set high-availability vrrp group wan description uplink")
			if err == nil {
				t.Fatal("committed")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after, rev2 := r2.local.running(); !configtree.Equal(before, after) || rev2 != rev {
				t.Errorf("r2 changed: revision %d -> %d", rev, rev2)
			}
			if r2.local.isHeld() != wasHeld {
				t.Errorf("r2's commit lock held %v after the refusal (was %v)", r2.local.isHeld(), wasHeld)
			}
			if ok, _ := r2.svc.Prepared(); ok {
				t.Error("r2 kept a prepared commit")
			}
		})
	}
}

// TestConfigSyncAbortAndHold: an abort, and a prepare nobody commits,
// both let the peer's commits run again, and a commit after either is
// refused.
func TestConfigSyncAbortAndHold(t *testing.T) {
	ctx := context.Background()
	t.Run("abort", func(t *testing.T) {
		r1, r2 := syncPair(t)
		prev, cand := r1.change(t, "set high-availability vrrp group wan description uplink")
		txn, _, err := r1.svc.Begin(ctx, prev, cand, "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		txn.Abort()
		if ok, _ := r2.svc.Prepared(); ok || r2.local.isHeld() {
			t.Fatalf("after abort: prepared %v, lock held %v", ok, r2.local.isHeld())
		}
		if _, err := txn.Commit(ctx); err == nil || !strings.Contains(err.Error(), "no commit of the pair is prepared here") {
			t.Errorf("commit after abort: %v", err)
		}
		if len(r2.local.commits()) != 0 {
			t.Errorf("r2 committed: %q", r2.local.commits())
		}
	})
	t.Run("prepare times out", func(t *testing.T) {
		old := PrepareHold
		PrepareHold = 300 * time.Millisecond
		defer func() { PrepareHold = old }()
		r1, r2 := syncPair(t)
		prev, cand := r1.change(t, "set high-availability vrrp group wan description uplink")
		txn, _, err := r1.svc.Begin(ctx, prev, cand, "alice", false)
		if err != nil {
			t.Fatal(err)
		}
		if !r2.local.isHeld() {
			t.Fatal("r2 does not hold its lock after prepare")
		}
		deadline := time.Now().Add(5 * time.Second)
		for r2.local.isHeld() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if r2.local.isHeld() {
			t.Fatalf("r2 still holds its commit lock %v after the hold ended", PrepareHold)
		}
		if _, err := txn.Commit(ctx); err == nil || !strings.Contains(err.Error(), "dropped after") {
			t.Errorf("commit after the hold: %v", err)
		}
		if len(r2.local.commits()) != 0 {
			t.Errorf("r2 committed: %q", r2.local.commits())
		}
	})
	t.Run("the peer's commit fails", func(t *testing.T) {
		r1, r2 := syncPair(t)
		r2.local.edit(func(f *fakeLocal) { f.commitErr = errors.New("vrrp: keepalived did not come up") })
		_, err := r1.commitOn(t, "set high-availability vrrp group wan description uplink")
		if err == nil || !strings.Contains(err.Error(), "r2: vrrp: keepalived did not come up") || !strings.Contains(err.Error(), "could not commit what it had checked") {
			t.Errorf("error %v", err)
		}
		if r2.local.isHeld() {
			t.Error("r2 still holds its lock")
		}
	})
	t.Run("stop drops what is prepared", func(t *testing.T) {
		r1, r2 := syncPair(t)
		prev, cand := r1.change(t, "set high-availability vrrp group wan description uplink")
		if _, _, err := r1.svc.Begin(ctx, prev, cand, "alice", false); err != nil {
			t.Fatal(err)
		}
		r2.svc.Stop()
		if r2.local.isHeld() {
			t.Error("r2 holds its lock after Stop")
		}
	})
}

// TestConfigSyncLocalOnly: what is not a commit of the pair asks nothing
// of the peer.
func TestConfigSyncLocalOnly(t *testing.T) {
	ctx := context.Background()
	r1, r2 := syncPair(t)
	for _, tc := range []struct {
		name, line string
		local      bool
		note       string
	}{
		{"a node-local value", "set high-availability vrrp group wan priority 150", false, ""},
		{"commit local", "set high-availability vrrp group wan description uplink", true, "commit local: the synced part changed on this node only; r2 keeps its own"},
		{"config-sync turned off", "delete high-availability pair config-sync", false, ""},
	} {
		prev, cand := r1.change(t)
		if strings.HasPrefix(tc.line, "delete") {
			cand.Get("high-availability", "pair").Remove("config-sync")
			_ = schema.Default().Set(cand, strings.Fields("high-availability vrrp group wan description uplink"))
		} else {
			_ = schema.Default().Set(cand, strings.Fields(strings.TrimPrefix(tc.line, "set ")))
		}
		txn, note, err := r1.svc.Begin(ctx, prev, cand, "alice", tc.local)
		if txn != nil || err != nil || !strings.HasPrefix(note, tc.note) {
			t.Errorf("%s: txn %v, note %q, err %v", tc.name, txn, note, err)
		}
		if len(r2.local.checks()) != 0 {
			t.Errorf("%s: r2 was asked to check", tc.name)
		}
	}
}

// TestConfigSyncSettle: from-peer takes the peer's synced part into a
// commit here; to-peer has the peer take this node's even when both
// changed; the diff shows both ways.
func TestConfigSyncSettle(t *testing.T) {
	ctx := context.Background()
	r1, r2 := syncPair(t)
	r1.local.set(t, "high-availability vrrp group wan description r1-side")
	r2.local.set(t, "high-availability vrrp group wan vrid 21")
	d, err := r1.svc.Diff(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.Identical || !strings.Contains(d.FromPeer, "-description r1-side") || !strings.Contains(d.FromPeer, "+vrid 21") ||
		!strings.Contains(d.ToPeer, "+description r1-side") || !strings.Contains(d.ToPeer, "-vrid 21") {
		t.Errorf("diff:\nfrom-peer:\n%s\nto-peer:\n%s", d.FromPeer, d.ToPeer)
	}
	out, err := r1.svc.SyncToPeer(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	got, _ := r2.local.running()
	if !hasLine(got, "set high-availability vrrp group wan description r1-side") || !hasLine(got, "set high-availability vrrp group wan vrid 20") ||
		!hasLine(got, "set high-availability vrrp group wan priority 100") {
		t.Errorf("r2 after to-peer:\n%s", got)
	}
	if d, err := r1.svc.Diff(ctx); err != nil || !d.Identical {
		t.Errorf("after to-peer: identical %v, %v", d != nil && d.Identical, err)
	}
	// r2 changes alone, and r1 takes it.
	r2.local.set(t, "service conntrack-sync sync-queue-size 2")
	out, err = r1.svc.SyncFromPeer(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "committed r2's synced part on this node") {
		t.Errorf("from-peer: %q", out)
	}
	mine, _ := r1.local.running()
	if !hasLine(mine, "set service conntrack-sync sync-queue-size 2") || !hasLine(mine, "set high-availability vrrp group wan priority 200") {
		t.Errorf("r1 after from-peer:\n%s", mine)
	}
	if c := r1.local.commits(); len(c) != 1 || c[0] != "alice: config-sync from-peer: r2's synced part (user alice)" {
		t.Errorf("r1's archive: %q", c)
	}
	if out, err := r1.svc.SyncFromPeer(ctx, "alice"); err != nil || !strings.Contains(out, "nothing to commit") {
		t.Errorf("from-peer again: %q, %v", out, err)
	}
	h := schema.Default().SyncedHash(mine)
	if a := agreedHash(t, r1); a != h {
		t.Errorf("r1 agreed %q, want %q", a, h)
	}
	// A refusal of this node's own check says nothing changed.
	r2.local.set(t, "service conntrack-sync sync-queue-size 3")
	r1.local.edit(func(f *fakeLocal) {
		f.commitErr = &cfgerr.Error{Path: []string{"service", "conntrack-sync", "interface", "sync0"}, Msg: "interface sync0 does not exist"}
	})
	if _, err := r1.svc.SyncFromPeer(ctx, "alice"); err == nil || !strings.Contains(err.Error(), "this node refuses r2's synced part; nothing changed") {
		t.Errorf("from-peer refused: %v", err)
	}
	if r1.local.isHeld() {
		t.Error("r1 holds its lock after from-peer")
	}
}

func TestWriteConfigDiffGolden(t *testing.T) {
	s := schema.Default()
	r1 := nodeTree(t, "200", "198.18.255.2", "high-availability vrrp group wan description r1-side")
	r2 := nodeTree(t, "100", "198.18.255.1", "high-availability vrrp group wan vrid 21")
	r1.Get("high-availability", "vrrp", "group", "wan", "vrid").Values = []string{"20"}
	lp, pp := s.SyncedPart(r1), s.SyncedPart(r2)
	d := &ConfigDiff{
		Local:    SyncedInfo{Name: "r1", Revision: 12, ConfigSync: true, Hash: s.SyncedHash(r1), Agreed: strings.Repeat("a", 64), Part: lp.String()},
		Peer:     SyncedInfo{Name: "r2", Revision: 9, ConfigSync: true, Hash: s.SyncedHash(r2), Agreed: strings.Repeat("a", 64), Part: pp.String()},
		FromPeer: configtree.Diff(lp, pp), ToPeer: configtree.Diff(pp, lp)}
	for _, tc := range []struct {
		file string
		json bool
	}{{"config-diff.txt", false}, {"config-diff.json", true}} {
		var b bytes.Buffer
		if err := WriteConfigDiff(&b, d, tc.json); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, golden.Dir("op-mode", "high-availability", tc.file), b.Bytes())
	}
}
