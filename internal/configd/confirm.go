package configd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/service"
)

// Pending is a commit-confirm waiting for confirm. It is persisted under
// the state dir, so a ctsyncd restart keeps counting down.
type Pending struct {
	Seq      int       `json:"seq"` // archived revision awaiting confirm
	User     string    `json:"user"`
	Deadline time.Time `json:"deadline"`
	// Previous is the configuration to commit back when the deadline
	// passes, in config.boot form.
	Previous string `json:"previous"`
}

// ReadPending returns the pending commit-confirm, nil when none, from
// the commit journal.
func ReadPending(r paths.Root) (*Pending, error) {
	rec, err := (&commit.Journal{Path: r.CommitJournal()}).Read()
	if err != nil {
		return nil, err
	}
	if len(rec.Kept) == 0 {
		return nil, nil
	}
	var p Pending
	if err := json.Unmarshal(rec.Kept, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", r.CommitJournal(), err)
	}
	return &p, nil
}

func (s *Server) archive() *archive.Archive {
	if s.Archive == nil {
		s.Archive = archive.Open(s.Root.ArchiveDir())
	}
	return s.Archive
}

// confirmUnit is what one commit-confirm minute lasts.
func (s *Server) confirmUnit() time.Duration {
	if s.ConfirmUnit > 0 {
		return s.ConfirmUnit
	}
	return time.Minute
}

// CommitWith implements session.Service: the commit, its archive entry,
// and commit-confirm's bookkeeping, one at a time, through the one
// commit path.
func (s *Server) CommitWith(ctx context.Context, c *configtree.Node, o service.CommitOptions) (*commit.Result, error) {
	return s.change(ctx, c, o, true)
}

// CheckWith implements session.Service: commit check is CommitWith up to
// installing and applying, so it refuses whatever the commit would.
func (s *Server) CheckWith(ctx context.Context, c *configtree.Node, o service.CommitOptions) error {
	_, err := s.change(ctx, c, o, false)
	return err
}

// change runs a session's commit of c, or with apply false its check:
// the same refusals (a moved base, a pending commit-confirm), then the
// commit path, which a check leaves before installing anything. It holds
// cmu throughout, so a check sees the state a commit at that moment
// would.
func (s *Server) change(ctx context.Context, c *configtree.Node, o service.CommitOptions, apply bool) (*commit.Result, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	prev, rev := s.Engine.Running()
	// Revision 0 is a revision like any other: a session that began
	// before any commit still must not overwrite one made since.
	if o.CheckBase && rev != o.Base {
		return nil, service.ErrStale
	}
	m := intentMeta{Kind: archive.KindCommit, User: o.User, Comment: o.Comment}
	if o.Merged {
		m.Kind = archive.KindMerge
	}
	var cancels *Pending
	if p := s.pending; p != nil {
		prevTree, err := configtree.Parse(strings.NewReader(p.Previous))
		if err != nil || !configtree.Equal(prevTree, c) {
			return nil, fmt.Errorf("%w (revision 0, by %s) until %s.\n"+
				"Type confirm to keep it, or let ctsyncd roll it back then; a commit of exactly the configuration before it (rollback 1) is also accepted",
				service.ErrConfirmPending, p.User, p.Deadline.Local().Format("15:04:05"))
		}
		cancels = p
		m.EndsPending = true
		m.EndNote = "rolled back by " + o.User + " before confirm"
	}
	wait := time.Duration(o.ConfirmMinutes) * s.confirmUnit()
	if o.ConfirmMinutes > 0 {
		m.Kind = archive.KindCommitConfirm
		m.Confirm = &Pending{User: o.User, Deadline: time.Now().Add(wait), Previous: prev.String()}
	}
	if !apply {
		return nil, s.checkPaired(ctx, prev, c, m, o)
	}
	res, e, err := s.commitPaired(ctx, prev, c, m, o)
	if err != nil {
		s.Log.Warn("commit failed", zap.String("user", o.User), zap.Error(err))
		return nil, err
	}
	s.Log.Info("commit", zap.Int("revision", res.Revision), zap.Int("archive", e.Seq), zap.String("user", o.User),
		zap.String("comment", o.Comment), zap.Strings("messages", res.Messages))
	if cancels != nil {
		res.Messages = append(res.Messages, "The pending commit-confirm is cancelled: this commit restored the configuration from before it.")
	}
	if m.Confirm != nil {
		res.Messages = append(res.Messages, fmt.Sprintf("commit-confirm: type confirm within %s (by %s), or ctsyncd commits the previous revision back.",
			wait, m.Confirm.Deadline.Local().Format("15:04:05")))
	}
	return res, nil
}

// Confirm implements session.Service.
func (s *Server) Confirm(ctx context.Context, user string) (string, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	p := s.pending
	if p == nil {
		return "", errors.New("confirm: no commit-confirm is pending; nothing changed")
	}
	s.note(p.Seq, fmt.Sprintf("confirmed by %s at %s", user, time.Now().Local().Format("15:04:05")))
	s.clearPending()
	s.Log.Info("commit-confirm confirmed", zap.Int("archive", p.Seq), zap.String("user", user))
	return "Commit confirmed: the configuration stays.\n", nil
}

func (s *Server) note(seq int, text string) {
	if seq <= 0 {
		return
	}
	if err := s.archive().Annotate(seq, text); err != nil {
		s.Log.Warn("annotating the archive", zap.Int("archive", seq), zap.Error(err))
	}
}

// clearPending ends the pending commit-confirm. Callers hold cmu.
func (s *Server) clearPending() {
	s.pending = nil
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if err := s.writeJournal(); err != nil {
		s.Log.Error("removing the commit-confirm record", zap.Error(err))
	}
}

func (s *Server) arm(d time.Duration) {
	if s.timer != nil {
		s.timer.Stop()
	}
	if d < 0 {
		d = 0
	}
	s.timer = time.AfterFunc(d, s.expire)
}

// retryRollback is how long ctsyncd waits to try an automatic rollback
// again after it failed.
const retryRollback = 30 * time.Second

// expire runs when a commit-confirm's deadline passes.
func (s *Server) expire() {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.closed || s.pending == nil {
		return
	}
	if d := time.Until(s.pending.Deadline); d > 0 {
		s.arm(d) // re-armed meanwhile
		return
	}
	s.rollbackPending()
}

// rollbackPending commits the configuration from before the pending
// commit-confirm back. Callers hold cmu.
func (s *Server) rollbackPending() {
	p := s.pending
	prev, err := configtree.Parse(strings.NewReader(p.Previous))
	if err != nil {
		s.Log.Error("commit-confirm: the previous configuration is unreadable; keeping the unconfirmed one", zap.Error(err))
		s.clearPending()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	comment := fmt.Sprintf("automatic rollback: commit-confirm by %s not confirmed by %s", p.User, p.Deadline.Local().Format("2006-01-02 15:04:05"))
	_, _, err = s.commitLocked(ctx, prev, intentMeta{Kind: archive.KindAutoRollback, User: "ctsyncd", Comment: comment, EndsPending: true,
		EndNote: "not confirmed: rolled back by ctsyncd at " + time.Now().Local().Format("15:04:05")})
	if err != nil {
		s.Log.Error("commit-confirm not confirmed, but the automatic rollback failed; retrying",
			zap.Int("archive", p.Seq), zap.Duration("retry", retryRollback), zap.Error(err))
		s.arm(retryRollback)
		return
	}
	s.Log.Warn("commit-confirm was not confirmed in time: the previous configuration is committed back",
		zap.Int("unconfirmed", p.Seq), zap.String("by", p.User), zap.Time("deadline", p.Deadline))
}

// Close stops the commit-confirm timer, for tests that start another
// Server on the same root as a restart would.
func (s *Server) Close() {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
}
