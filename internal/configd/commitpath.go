package configd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/session"
)

func (s *Server) journal() *commit.Journal { return &commit.Journal{Path: s.Root.CommitJournal()} }

// intentMeta is what configd records in a commit's intent: enough to
// finish the commit (archive it, move the commit-confirm) when ctsyncd
// dies after the engines run it.
type intentMeta struct {
	Kind    string `json:"kind"`
	User    string `json:"user"`
	Comment string `json:"comment,omitempty"`
	// Confirm is the commit-confirm this commit starts, written before
	// the commit it guards; its Seq is filled once the commit is
	// archived.
	Confirm *Pending `json:"confirm,omitempty"`
	// EndsPending says the commit ends the pending commit-confirm (its
	// automatic rollback, or a commit of the configuration before it).
	EndsPending bool `json:"ends_pending,omitempty"`
	// EndNote is what the archive entry of the commit-confirm it ends
	// says (" (revision seq N)" is added), written before the pending
	// record goes: whoever sees the record gone finds the archive
	// complete.
	EndNote string `json:"end_note,omitempty"`
}

// commitLocked is the one commit path: every commit (a session's, the
// start's, the fallback's, a commit-confirm's rollback) runs here.
// The engine journals the intent before installing anything; once the
// engines run the target, the running config is recorded, the commit
// archived, and the journal's intent replaced by what outlives it (the
// pending commit-confirm). A crash anywhere in between is finished or
// undone by recoverJournal at the next start. Callers hold cmu.
func (s *Server) commitLocked(ctx context.Context, target *configtree.Node, m intentMeta) (*commit.Result, archive.Entry, error) {
	prev, _ := s.Engine.Running()
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, archive.Entry{}, err
	}
	res, err := s.Engine.Run(ctx, commit.Txn{Candidate: target, Journal: s.journal(), Meta: raw})
	if err != nil {
		// Everything was put back (or the engine says what was not):
		// the intent is void.
		if jerr := s.writeJournal(); jerr != nil {
			s.Log.Error("clearing the commit journal", zap.Error(jerr))
		}
		return nil, archive.Entry{}, err
	}
	res = &commit.Result{Revision: res.Revision, Changed: res.Changed, Messages: append([]string(nil), res.Messages...)}
	if err := s.writeRunning(); err != nil {
		s.Log.Error("recording the running configuration", zap.Error(err))
		res.Messages = append(res.Messages, "warning: the running configuration is not recorded: "+err.Error())
	}
	s.at("recorded")
	e, undone := s.finish(m, prev, target)
	for _, err := range undone {
		res.Messages = append(res.Messages, "warning: "+err.Error())
	}
	return res, e, nil
}

// finish is the end of a commit whose target runs on every engine and
// is recorded as the running configuration: archived, its
// commit-confirm moved, its intent replaced in the journal by what
// outlives it. A commit that was cut short after it ran ends here too,
// at the next start, so both leave the same archive and journal. The
// errors say what was not done (the commit itself stands).
func (s *Server) finish(m intentMeta, from, to *configtree.Node) (archive.Entry, []error) {
	var errs []error
	e, err := s.archive().Add(archive.Entry{Time: time.Now(), User: m.User, Comment: m.Comment, Kind: m.Kind,
		Diff: configtree.Diff(from, to), Config: to.String()})
	if err != nil {
		s.Log.Error("archiving the commit", zap.Error(err))
		errs = append(errs, fmt.Errorf("the commit is not archived: %w", err))
	}
	s.at("archived")
	s.finishPending(m, e.Seq)
	if err := s.writeJournal(); err != nil {
		s.Log.Error("ending the commit in the journal", zap.Error(err))
		errs = append(errs, fmt.Errorf("the commit journal could not be updated: %w", err))
	}
	return e, errs
}

func (s *Server) at(point string) {
	if s.Fault != nil {
		s.Fault(point)
	}
}

// finishPending moves the commit-confirm as a finished commit of m
// (archived as seq) says.
func (s *Server) finishPending(m intentMeta, seq int) {
	switch {
	case m.Confirm != nil:
		p := *m.Confirm
		p.Seq = seq
		s.pending = &p
		s.arm(time.Until(p.Deadline))
	case m.EndsPending:
		if s.pending != nil && m.EndNote != "" {
			s.note(s.pending.Seq, fmt.Sprintf("%s (revision seq %d)", m.EndNote, seq))
		}
		s.pending = nil
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
	}
}

// writeJournal records that no commit runs, keeping the pending
// commit-confirm. Callers hold cmu.
func (s *Server) writeJournal() error {
	rec := &commit.Record{}
	if s.pending != nil {
		raw, err := json.Marshal(s.pending)
		if err != nil {
			return err
		}
		rec.Kept = raw
	}
	return s.journal().Write(rec)
}

// recoverJournal finishes or undoes a commit a previous ctsyncd left in
// the journal, and loads the pending commit-confirm. A commit whose
// target had been recorded as the running configuration ran to the end
// on every engine: it is rolled forward (archived if it was not yet, its
// commit-confirm started). Any other is rolled back: every file it
// installed gets its old content back; the running configuration was
// never replaced. Either way Resume then brings the engines to the
// files, judging each by what it was started with. Callers hold cmu.
func (s *Server) recoverJournal() {
	rec, err := s.journal().Read()
	if err != nil {
		bad := s.Root.CommitJournal() + ".bad-" + time.Now().Format("20060102-150405")
		_ = os.Rename(s.Root.CommitJournal(), bad)
		s.notice(fmt.Sprintf("the commit journal was unreadable (%s); kept as %s", oneLine(err), bad))
		return
	}
	if len(rec.Kept) > 0 {
		var p Pending
		if err := json.Unmarshal(rec.Kept, &p); err != nil {
			s.Log.Error("the pending commit-confirm record is unreadable; ignoring it", zap.Error(err))
		} else {
			s.pending = &p
		}
	}
	in := rec.Intent
	if in == nil {
		return
	}
	var m intentMeta
	if len(in.Meta) > 0 {
		if err := json.Unmarshal(in.Meta, &m); err != nil {
			s.Log.Error("the commit journal's description is unreadable", zap.Error(err))
		}
	}
	to, terr := configtree.Parse(strings.NewReader(in.To))
	onDisk, derr := readTree(s.Root.FullRunningConfig())
	if terr == nil && derr == nil && onDisk != nil && configtree.Equal(onDisk, to) {
		s.Log.Warn("a commit was cut short after it ran: finishing it", zap.String("user", m.User), zap.String("kind", m.Kind))
		if seq := s.archivedAs(to); seq != 0 {
			// It was archived before the crash: only what follows the
			// archive is left to do.
			s.finishPending(m, seq)
		} else {
			from, _ := configtree.Parse(strings.NewReader(in.From))
			s.finish(m, from, to) // it logs what it could not do
			return
		}
	} else {
		s.Log.Warn("a commit was cut short before it ran everywhere: putting the previous files back",
			zap.String("user", m.User), zap.String("kind", m.Kind), zap.Strings("handlers", in.Handlers))
		if err := in.Restore(); err != nil {
			s.notice("undoing a commit cut short by a crash: " + oneLine(err))
		}
	}
	if err := s.writeJournal(); err != nil {
		s.Log.Error("ending the cut-short commit in the journal", zap.Error(err))
	}
}

// archivedAs is the seq of the newest archive entry when it holds t, 0
// otherwise.
func (s *Server) archivedAs(t *configtree.Node) int {
	list, err := s.archive().List()
	if err != nil || len(list) == 0 {
		return 0
	}
	e, err := s.archive().GetSeq(list[0].Seq)
	if err != nil {
		return 0
	}
	at, err := e.Tree()
	if err != nil || !configtree.Equal(at, t) {
		return 0
	}
	return e.Seq
}

// writeRunning records the running config: whole (with secrets, 0600)
// for the next ctsyncd to resume, and with secrets masked in
// running.boot, where op-mode and the VRRP hook read it without asking
// ctsyncd. The full file is written first: a crash between the two
// leaves running.boot stale for op-mode, never the resumable state.
func (s *Server) writeRunning() error {
	running, _ := s.Engine.Running()
	if err := os.MkdirAll(s.Root.RunDir(), 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := running.Format(&b); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.Root.FullRunningConfig(), b.Bytes(), 0o600); err != nil {
		return err
	}
	b.Reset()
	if err := session.MaskSecrets(running).Format(&b); err != nil {
		return err
	}
	return atomicfile.WriteFile(s.Root.RunningConfig(), b.Bytes(), 0o644)
}
