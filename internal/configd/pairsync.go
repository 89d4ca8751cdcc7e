package configd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/service"
)

// PairSync is config sync as the commit path sees it: internal/pair's
// Service, through a small adapter in ctsyncd, so that neither package
// imports the other.
type PairSync interface {
	// Begin starts a commit of the pair from prev to cand, by user: once
	// it returns a PairTxn the peer has checked its own candidate and
	// holds its commit lock. A nil PairTxn (and nil error) makes the
	// commit this node's alone (config sync off, the synced part
	// unchanged, or local asked for); note, when set, is for the
	// operator.
	Begin(ctx context.Context, prev, cand *configtree.Node, user string, local bool) (txn PairTxn, note string, err error)
}

// PairTxn is a commit of the pair that the peer has prepared.
type PairTxn interface {
	// Commit has the peer commit its candidate; the message says so.
	Commit(ctx context.Context) (string, error)
	// Abort releases the peer; nothing changes there.
	Abort()
}

// commitPaired is commitLocked for a session's commit, which config
// sync may make a commit of the pair: the peer checks first (Begin),
// this node commits, then the peer does. When the peer refuses nothing
// changed anywhere; when it cannot apply what it checked, this node goes
// back to prev through the same commit path, and the error says so.
// Callers hold cmu.
func (s *Server) commitPaired(ctx context.Context, prev, c *configtree.Node, m intentMeta, o service.CommitOptions) (*commit.Result, archive.Entry, error) {
	if s.Pair == nil {
		return s.commitLocked(ctx, c, m)
	}
	txn, note, err := s.Pair.Begin(ctx, prev, c, o.User, o.Local)
	if err != nil {
		return nil, archive.Entry{}, err
	}
	if txn == nil {
		res, e, err := s.commitLocked(ctx, c, m)
		if err == nil && note != "" {
			res.Messages = append(res.Messages, note)
		}
		return res, e, err
	}
	if m.Confirm != nil {
		txn.Abort()
		return nil, archive.Entry{}, errConfirmPaired
	}
	res, e, err := s.commitLocked(ctx, c, m)
	if err != nil {
		txn.Abort()
		return nil, e, err
	}
	msg, perr := txn.Commit(ctx)
	if perr == nil {
		res.Messages = append(res.Messages, msg)
		return res, e, nil
	}
	s.Log.Warn("config-sync: the peer did not commit what it had checked; rolling this node back", zap.Error(perr))
	// The rollback must not be cut short by the session going away: it
	// is what keeps the pair alike.
	_, back, rerr := s.commitLocked(context.WithoutCancel(ctx), prev, intentMeta{Kind: archive.KindConfigSync, User: o.User,
		Comment: "config-sync: rolled back, the peer did not commit revision seq " + fmt.Sprint(e.Seq)})
	if rerr != nil {
		// This node runs the new configuration: that is a commit, and it
		// is reported as one, with what went wrong.
		s.Log.Error("config-sync: rolling back after the peer's failure failed", zap.Error(rerr))
		res.Messages = append(res.Messages,
			fmt.Sprintf("warning: %v", perr),
			fmt.Sprintf("warning: rolling this node back to the previous revision failed too (%v): this node runs the new configuration and the peer the old one; the pair view shows the drift until `request high-availability config-sync to-peer`", rerr))
		return res, e, nil
	}
	return nil, archive.Entry{}, fmt.Errorf("%w\nthis node committed it, then went back to the previous revision through the commit path (revision seq %d)", perr, back.Seq)
}

// checkPaired is commitPaired short of installing and applying: this
// node's check, then, when config sync makes it a commit of the pair,
// the peer's own check of its candidate (prepared, then released), so
// that commit check passes only where the commit would go through on
// both nodes. Callers hold cmu.
func (s *Server) checkPaired(ctx context.Context, prev, c *configtree.Node, m intentMeta, o service.CommitOptions) error {
	if err := s.Engine.Check(ctx, c); err != nil {
		return err
	}
	if s.Pair == nil {
		return nil
	}
	txn, _, err := s.Pair.Begin(ctx, prev, c, o.User, o.Local)
	if err != nil || txn == nil {
		return err
	}
	txn.Abort()
	if m.Confirm != nil {
		return errConfirmPaired
	}
	return nil
}

var errConfirmPaired = errors.New("commit-confirm: this commit changes the synced part, which config-sync commits on both nodes, and an automatic rollback would undo it on this node only: use commit (or commit local)")

// Held is the commit lock, held for config sync: a commit the pair's
// peer has prepared here, or a settling of the synced part. No session
// commits while it is held.
type Held struct {
	s    *Server
	once sync.Once
}

// HoldCommits takes the commit lock, waiting at most wait for a commit
// under way: two nodes preparing each other's commit at once must not
// wait on each other for long. A pending commit-confirm refuses: a
// commit from the peer would end it, and its rollback would undo the
// peer's change on this node only.
func (s *Server) HoldCommits(ctx context.Context, wait time.Duration) (*Held, error) {
	deadline := time.Now().Add(wait)
	for !s.cmu.TryLock() {
		if !time.Now().Before(deadline) {
			return nil, service.ErrCommitInProgress
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if s.closed {
		s.cmu.Unlock()
		return nil, errors.New("ctsyncd is stopping")
	}
	if p := s.pending; p != nil {
		s.cmu.Unlock()
		return nil, fmt.Errorf("a commit-confirm by %s awaits confirm until %s: confirm it (or let it roll back) first",
			p.User, p.Deadline.Local().Format("15:04:05"))
	}
	return &Held{s: s}, nil
}

// Check is `commit check` of c.
func (h *Held) Check(ctx context.Context, c *configtree.Node) error { return h.s.Engine.Check(ctx, c) }

// Commit commits c through the one commit path (journal, archive as
// config-sync with comment, the running config recorded).
func (h *Held) Commit(ctx context.Context, c *configtree.Node, user, comment string) (*commit.Result, int, error) {
	res, e, err := h.s.commitLocked(ctx, c, intentMeta{Kind: archive.KindConfigSync, User: user, Comment: comment})
	if err != nil {
		h.s.Log.Warn("config-sync commit failed", zap.String("user", user), zap.String("comment", comment), zap.Error(err))
		return nil, 0, err
	}
	h.s.Log.Info("config-sync commit", zap.Int("revision", res.Revision), zap.Int("archive", e.Seq), zap.String("user", user),
		zap.String("comment", comment), zap.Strings("messages", res.Messages))
	return res, e.Seq, nil
}

// Release lets commits run again; only the first call counts.
func (h *Held) Release() { h.once.Do(h.s.cmu.Unlock) }

type userKey struct{}

// UserFrom names the operator of the session an op-mode request came
// from, for the archive entries config sync makes on its behalf.
func UserFrom(ctx context.Context) string {
	if u, ok := ctx.Value(userKey{}).(string); ok {
		return u
	}
	return "unknown"
}
