package pair

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
)

// Config sync keeps the synced part (schema.SyncedPart: high-availability
// and service conntrack-sync without node-local values) identical on both
// nodes. A commit that changes it is a commit of the pair, in two phases
// over the channel:
//
//	prepare  the peer takes its commit lock, builds its own candidate (its
//	         running config with the synced part replaced, its node-local
//	         values kept) and runs its commit check on it, against its own
//	         system; it keeps the candidate and the lock for PrepareHold
//	commit   once this node has committed, the peer commits its candidate
//	         through its own commit path (journal, archive)
//	abort    this node's commit failed: the peer drops the candidate
//
// If the peer refuses nothing changes on either node. If it fails to
// apply what it had checked, this node rolls back (configd). The channel
// stays off the failover path: none of this runs in the VRRP hook.

// PrepareHold is how long a prepared commit of the pair holds the
// commit lock here, waiting for the peer's commit or abort: the peer
// commits locally in between (engines restarted, checked).
var PrepareHold = 2 * time.Minute

// HoldWait bounds how long a prepare waits for a commit running here:
// two nodes committing at once refuse each other's prepare after it,
// rather than wait on each other.
var HoldWait = 3 * time.Second

// Local is this node's config service as config sync needs it: ctsyncd's
// configd.Server, through an adapter (internal/pair does not import
// configd).
type Local interface {
	// Hold takes the commit lock: refused when a commit runs past
	// HoldWait, or a commit-confirm awaits confirm.
	Hold(ctx context.Context) (Held, error)
}

// Held is the commit lock, held.
type Held interface {
	// Check runs `commit check` on cand.
	Check(ctx context.Context, cand *configtree.Node) error
	// Commit commits cand through the commit path, archived as
	// config-sync with comment; it returns the archive's revision seq
	// and the commit's messages.
	Commit(ctx context.Context, cand *configtree.Node, user, comment string) (int, []string, error)
	// Release lets commits run again; only the first call counts.
	Release()
}

// ConfigSyncOn says whether tree sets high-availability pair
// config-sync.
func ConfigSyncOn(tree *configtree.Node) bool {
	return tree.Get("high-availability", "pair", "config-sync") != nil
}

// Agreed is the synced part both nodes last held alike: recorded when a
// commit of the pair or a settling ends, and whenever a poll finds both
// hashes equal. A node whose hash is no longer the agreed one changed
// since (commit local, or a commit while config-sync was off).
type Agreed struct {
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
}

// ReadAgreed returns the record; none is the zero Agreed.
func ReadAgreed(root paths.Root) (Agreed, error) {
	var a Agreed
	b, err := os.ReadFile(root.PairAgreed())
	if errors.Is(err, os.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return Agreed{}, fmt.Errorf("%s: %w", root.PairAgreed(), err)
	}
	return a, nil
}

// recordAgreed writes hash as agreed, when it is not already.
func (s *Service) recordAgreed(hash string) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.agreed == "" {
		if a, err := ReadAgreed(s.Collector.Root); err == nil {
			s.agreed = a.Hash
		}
	}
	if hash == "" || hash == s.agreed {
		return
	}
	b, _ := json.Marshal(Agreed{Hash: hash, At: time.Now().UTC()})
	root := s.Collector.Root
	if err := os.MkdirAll(filepath.Dir(root.PairAgreed()), 0o750); err == nil {
		err = atomicfile.WriteFile(root.PairAgreed(), append(b, '\n'), 0o644)
		if err == nil {
			s.agreed = hash
			return
		}
		s.Log.Warn("config-sync: recording the agreed synced part", zap.Error(err))
	}
}

// noteAgreement records the peer's synced hash as agreed when it is this
// node's too.
func (s *Service) noteAgreement(peerHash string) {
	tree, _ := s.Collector.Running()
	if h := s.Collector.Schema.SyncedHash(tree); h == peerHash {
		s.recordAgreed(h)
	}
}

func (s *Service) syncedInfo() *SyncedInfo {
	tree, rev := s.Collector.Running()
	part := s.Collector.Schema.SyncedPart(tree)
	a, _ := ReadAgreed(s.Collector.Root)
	return &SyncedInfo{Name: s.Collector.NodeName(), Revision: rev, ConfigSync: ConfigSyncOn(tree),
		Hash: s.Collector.Schema.SyncedHash(tree), Agreed: a.Hash, Part: part.String()}
}

// peerName is the peer's name from its last status, else its address.
func (s *Service) peerName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peer != nil && s.peer.Name != "" {
		return s.peer.Name
	}
	if s.cfg != nil {
		return "the peer at " + s.cfg.PeerAddress
	}
	return "the peer"
}

func newID() string {
	b := make([]byte, idBytes)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Txn is a commit of the pair the peer has prepared.
type Txn struct {
	s    *Service
	id   string
	peer string
	hash string // the synced hash both hold once it is done
}

// Begin starts a commit of the pair from prev to cand by user (see
// configd.PairSync). It returns no Txn when the commit is this node's
// alone: config-sync is off in the candidate, the channel is not
// configured, the synced part does not change, or local asks so (then
// with a note saying the peer keeps its own).
func (s *Service) Begin(ctx context.Context, prev, cand *configtree.Node, user string, local bool) (*Txn, string, error) {
	cfg := s.Configured()
	if !ConfigSyncOn(cand) || cfg == nil {
		return nil, "", nil
	}
	sch := s.Collector.Schema
	from, to := sch.SyncedPart(prev), sch.SyncedPart(cand)
	if configtree.Equal(from, to) {
		return nil, "", nil
	}
	peer := s.peerName()
	if local {
		return nil, fmt.Sprintf("commit local: the synced part changed on this node only; %s keeps its own, and the pair view shows the drift until `request high-availability config-sync to-peer`", peer), nil
	}
	t, err := s.prepareOnPeer(ctx, sch.SyncedHash(prev), to, user, false)
	var ue *unreachableError
	if errors.As(err, &ue) {
		return nil, "", fmt.Errorf("config-sync: %s (%s) does not answer (%v): this commit changes the synced part (high-availability, service conntrack-sync), which config-sync commits on both nodes, so nothing was committed on either; `commit local` commits it on this node only (the pair view then shows the drift until `request high-availability config-sync to-peer`)",
			ue.peer, cfg.PeerAddress, ue.err)
	}
	if err != nil {
		return nil, "", err
	}
	return t, "", nil
}

// unreachableError is a peer that did not answer a prepare.
type unreachableError struct {
	peer string
	err  error
}

func (e *unreachableError) Error() string { return e.peer + " does not answer: " + e.err.Error() }

func (e *unreachableError) Unwrap() error { return e.err }

// prepareOnPeer sends part to the peer as a prepare.
func (s *Service) prepareOnPeer(ctx context.Context, base string, part *configtree.Node, user string, force bool) (*Txn, error) {
	peer := s.peerName()
	id := newID()
	resp, err := s.Ask(ctx, Request{Op: OpPrepare, ID: id, From: s.Collector.NodeName(), User: user, Base: base, Synced: part.String(), Force: force})
	if err != nil {
		return nil, &unreachableError{peer: peer, err: err}
	}
	if resp.Err != "" {
		return nil, refusal(peer, resp)
	}
	return &Txn{s: s, id: id, peer: peer, hash: s.Collector.Schema.SyncedHash(part)}, nil
}

// refusal words the peer's refusal of a prepare for this node's
// operator.
func refusal(peer string, resp *Response) error {
	switch resp.Code {
	case CodeDiverged:
		return fmt.Errorf("config-sync: %s changed its synced part since the pair last agreed (%s): this commit would overwrite that, so nothing was committed on either node; `show high-availability config-diff` shows the difference, `request high-availability config-sync from-peer` takes %s's, `to-peer` pushes this node's",
			peer, resp.Err, peer)
	case CodeOff:
		return fmt.Errorf("config-sync: %s: %s; nothing was committed on either node (or `commit local`)", peer, resp.Err)
	case CodeBusy:
		return fmt.Errorf("config-sync: %s cannot take a commit now (%s); nothing was committed on either node: try again", peer, resp.Err)
	}
	return fmt.Errorf("%s\nconfig-sync: %s checked the change against its own system and refused it; nothing was committed on either node", prefixLines(peer, resp.Err), peer)
}

// prefixLines puts "name: " before every line of msg, so that each of
// the peer's errors names the node and the path.
func prefixLines(name, msg string) string {
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	for i, l := range lines {
		lines[i] = name + ": " + l
	}
	return strings.Join(lines, "\n")
}

// Commit has the peer commit what it prepared.
func (t *Txn) Commit(ctx context.Context) (string, error) {
	resp, err := t.s.Ask(ctx, Request{Op: OpCommit, ID: t.id})
	if err != nil {
		// The answer is lost, not necessarily the commit: the peer's
		// synced part says which.
		if r, serr := t.s.Ask(ctx, Request{Op: OpSynced}); serr == nil && r.Synced != nil && r.Synced.Hash == t.hash {
			t.s.recordAgreed(t.hash)
			return fmt.Sprintf("config-sync: %s committed it too (its answer was lost: %v)", t.peer, err), nil
		}
		return "", fmt.Errorf("config-sync: %s did not confirm its commit (%v)", t.peer, err)
	}
	if resp.Err != "" {
		return "", fmt.Errorf("%s\nconfig-sync: %s could not commit what it had checked", prefixLines(t.peer, resp.Err), t.peer)
	}
	t.s.recordAgreed(t.hash)
	return resp.Message, nil
}

// Abort has the peer drop what it prepared. It does not wait long: the
// peer drops it after PrepareHold anyway.
func (t *Txn) Abort() {
	if _, err := t.s.Ask(context.Background(), Request{Op: OpAbort, ID: t.id}); err != nil {
		t.s.Log.Warn("config-sync: the peer did not take the abort; it drops the prepared commit after its hold", zap.String("peer", t.peer), zap.Error(err))
	}
}

// prepared is a commit of the pair prepared here for the peer.
type prepared struct {
	id, from, user string
	hash           string           // the synced hash once committed
	cand           *configtree.Node // nil: nothing changes here
	held           Held
	hold           time.Duration
	timer          *time.Timer
}

// prepare answers OpPrepare: take the commit lock, build this node's
// candidate and check it against this system; keep both for
// PrepareHold.
func (s *Service) prepare(ctx context.Context, req *Request) Response {
	if s.Local == nil {
		return Response{Err: "this node takes no config sync", Code: CodeOff}
	}
	sch := s.Collector.Schema
	part, err := sch.ParseSynced(req.Synced)
	if err != nil {
		return Response{Err: err.Error()}
	}
	s.syncMu.Lock()
	busy := s.prep
	s.syncMu.Unlock()
	if busy != nil {
		return Response{Err: "a commit of the pair from " + busy.from + " is prepared here already", Code: CodeBusy}
	}
	held, err := s.Local.Hold(ctx)
	if err != nil {
		return Response{Err: err.Error(), Code: CodeBusy}
	}
	keep := false
	defer func() {
		if !keep {
			held.Release()
		}
	}()
	running, _ := s.Collector.Running()
	if !ConfigSyncOn(running) {
		return Response{Err: "config-sync is off there (set high-availability pair config-sync)", Code: CodeOff}
	}
	if cur := sch.SyncedHash(running); !req.Force && cur != req.Base {
		a, _ := ReadAgreed(s.Collector.Root)
		if a.Hash == "" {
			return Response{Err: "the two synced parts differ and were never seen alike", Code: CodeDiverged}
		}
		if cur != a.Hash {
			return Response{Err: "its synced part is not the one both nodes last held", Code: CodeDiverged}
		}
	}
	p := &prepared{id: req.ID, from: req.From, user: req.User, hash: sch.SyncedHash(part), held: held}
	if req.User == "" {
		p.user = "unknown"
	}
	if cand := sch.MergeSynced(running, part); !configtree.Equal(cand, running) {
		if err := held.Check(ctx, cand); err != nil {
			return Response{Err: err.Error()}
		}
		p.cand = cand
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.prep != nil {
		return Response{Err: "a commit of the pair from " + s.prep.from + " is prepared here already", Code: CodeBusy}
	}
	s.prep = p
	p.hold = PrepareHold
	p.timer = time.AfterFunc(p.hold, func() { s.expire(p) })
	keep = true
	return Response{Message: "prepared"}
}

// take removes the prepared commit if it is id's.
func (s *Service) take(id string) *prepared {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	p := s.prep
	if p == nil || p.id != id {
		return nil
	}
	s.prep = nil
	p.timer.Stop()
	return p
}

// commitPrepared answers OpCommit.
func (s *Service) commitPrepared(ctx context.Context, req *Request) Response {
	p := s.take(req.ID)
	if p == nil {
		return Response{Err: fmt.Sprintf("no commit of the pair is prepared here under that id (aborted, or dropped after %s)", PrepareHold)}
	}
	defer p.held.Release()
	name := s.Collector.NodeName()
	if p.cand == nil {
		s.recordAgreed(p.hash)
		return Response{Message: fmt.Sprintf("config-sync: %s already had this synced part: nothing to commit there", name)}
	}
	seq, _, err := p.held.Commit(ctx, p.cand, p.user, fmt.Sprintf("config-sync from %s (user %s)", p.from, p.user))
	if err != nil {
		return Response{Err: err.Error()}
	}
	s.recordAgreed(p.hash)
	s.Log.Info("config-sync: committed the peer's synced part", zap.String("from", p.from), zap.String("user", p.user), zap.Int("archive", seq))
	return Response{Message: fmt.Sprintf("config-sync: %s committed it too (revision seq %d there)", name, seq)}
}

// abortPrepared drops the prepared commit id.
func (s *Service) abortPrepared(id, why string) {
	if p := s.take(id); p != nil {
		p.held.Release()
		s.Log.Info("config-sync: prepared commit dropped", zap.String("from", p.from), zap.String("why", why))
	}
}

// DropPrepared drops whatever is prepared here: ctsyncd stopping must
// not wait for the peer's commit with the commit lock held.
func (s *Service) DropPrepared(why string) {
	s.syncMu.Lock()
	p := s.prep
	s.syncMu.Unlock()
	if p != nil {
		s.abortPrepared(p.id, why)
	}
}

// expire drops p when its hold ends without a commit or abort.
func (s *Service) expire(p *prepared) {
	s.syncMu.Lock()
	if s.prep != p {
		s.syncMu.Unlock()
		return
	}
	s.prep = nil
	s.syncMu.Unlock()
	p.held.Release()
	s.Log.Warn("config-sync: a prepared commit of the pair was neither committed nor aborted in time: dropped",
		zap.String("from", p.from), zap.Duration("hold", p.hold))
}

// Prepared says whether a commit of the pair is prepared here, and
// from whom.
func (s *Service) Prepared() (bool, string) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.prep == nil {
		return false, ""
	}
	return true, s.prep.from
}

// SyncToPeer pushes this node's synced part to the peer (`request
// high-availability config-sync to-peer`): the peer checks it against
// its own system and commits it, whatever it changed meanwhile. This
// node's commit lock is held throughout, so what is pushed is what runs.
func (s *Service) SyncToPeer(ctx context.Context, user string) (string, error) {
	if _, err := s.syncReady(); err != nil {
		return "", err
	}
	held, err := s.Local.Hold(ctx)
	if err != nil {
		return "", fmt.Errorf("config-sync to-peer: %w", err)
	}
	defer held.Release()
	running, _ := s.Collector.Running()
	sch := s.Collector.Schema
	t, err := s.prepareOnPeer(ctx, sch.SyncedHash(running), sch.SyncedPart(running), user, true)
	if err != nil {
		return "", fmt.Errorf("config-sync to-peer: %w", err)
	}
	msg, err := t.Commit(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("config-sync to-peer: %s now holds this node's synced part (%s)\n%s\n", t.peer, short(t.hash), msg), nil
}

// SyncFromPeer takes the peer's synced part into a commit of this node
// (`request high-availability config-sync from-peer`), node-local values
// kept, through this node's commit path.
func (s *Service) SyncFromPeer(ctx context.Context, user string) (string, error) {
	if _, err := s.syncReady(); err != nil {
		return "", err
	}
	info, err := s.askSynced(ctx)
	if err != nil {
		return "", err
	}
	sch := s.Collector.Schema
	part, err := sch.ParseSynced(info.Part)
	if err != nil {
		return "", fmt.Errorf("config-sync from-peer: %s sent %w", info.Name, err)
	}
	held, err := s.Local.Hold(ctx)
	if err != nil {
		return "", fmt.Errorf("config-sync from-peer: %w", err)
	}
	defer held.Release()
	running, _ := s.Collector.Running()
	cand := sch.MergeSynced(running, part)
	hash := sch.SyncedHash(cand)
	if configtree.Equal(cand, running) {
		s.recordAgreed(hash)
		return fmt.Sprintf("config-sync from-peer: this node already holds %s's synced part: nothing to commit\n", info.Name), nil
	}
	seq, msgs, err := held.Commit(ctx, cand, user, fmt.Sprintf("config-sync from-peer: %s's synced part (user %s)", info.Name, user))
	if err != nil {
		return "", fmt.Errorf("%s\nconfig-sync from-peer: this node refuses %s's synced part; nothing changed", err, info.Name)
	}
	s.recordAgreed(hash)
	var b strings.Builder
	fmt.Fprintf(&b, "config-sync from-peer: committed %s's synced part on this node (revision seq %d)\n", info.Name, seq)
	for _, m := range msgs {
		b.WriteString(m + "\n")
	}
	return b.String(), nil
}

// syncReady refuses a settling that cannot run.
func (s *Service) syncReady() (*Config, error) {
	cfg := s.Configured()
	if cfg == nil {
		return nil, errors.New("high-availability pair is not configured")
	}
	if s.Local == nil {
		return nil, errors.New("this node takes no config sync")
	}
	return cfg, nil
}

func (s *Service) askSynced(ctx context.Context) (*SyncedInfo, error) {
	resp, err := s.Ask(ctx, Request{Op: OpSynced})
	if err == nil && resp.Err != "" {
		err = errors.New(resp.Err)
	}
	if err == nil && resp.Synced == nil {
		err = errors.New("it sent no synced part")
	}
	if err != nil {
		return nil, fmt.Errorf("%s does not answer: %w", s.peerName(), err)
	}
	return resp.Synced, nil
}

// ConfigDiff is `show high-availability config-diff`: both synced parts
// and how each differs from the other.
type ConfigDiff struct {
	Local     SyncedInfo `json:"local"`
	Peer      SyncedInfo `json:"peer"`
	Identical bool       `json:"identical"`
	// FromPeer is what `config-sync from-peer` would change on this
	// node (this node's part to the peer's); ToPeer what `to-peer` would
	// change on the peer (the peer's part to this node's).
	FromPeer string `json:"from_peer_diff"`
	ToPeer   string `json:"to_peer_diff"`
}

// Diff compares this node's synced part with the peer's, now.
func (s *Service) Diff(ctx context.Context) (*ConfigDiff, error) {
	if _, err := s.syncReady(); err != nil {
		return nil, err
	}
	peer, err := s.askSynced(ctx)
	if err != nil {
		return nil, err
	}
	sch := s.Collector.Schema
	pp, err := sch.ParseSynced(peer.Part)
	if err != nil {
		return nil, fmt.Errorf("%s sent %w", peer.Name, err)
	}
	local := s.syncedInfo()
	lp, _ := sch.ParseSynced(local.Part)
	return &ConfigDiff{Local: *local, Peer: *peer, Identical: local.Hash == peer.Hash,
		FromPeer: configtree.Diff(lp, pp), ToPeer: configtree.Diff(pp, lp)}, nil
}
