// What ctsyncd does at start, before it serves: finish or undo a commit
// cut short, then resume the running configuration or commit the saved
// one, falling back loudly when that fails.

package configd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/migrate"
)

// Boot brings the system to the configuration at start. First it
// finishes or undoes a commit the previous ctsyncd left in the journal.
// Then, when a running configuration is recorded under the run
// directory, this is a restart of ctsyncd, not a boot: it resumes that
// configuration (adopting the engines, restarting only those that run a
// file other than the installed one) and keeps a pending commit-confirm
// counting down (or rolls it back at once when the deadline passed while
// it was down). Otherwise it is a boot: it commits the saved
// configuration. A saved configuration that is corrupt, truncated or
// invalid is renamed config.boot.bad-TIME and the last good archived
// revision runs instead, which the log and `show system commit` say
// loudly.
func (s *Server) Boot(ctx context.Context) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	// No session survives a restart: neither does their count.
	s.recordSessions()
	s.recoverJournal()
	prev, err := readTree(s.Root.FullRunningConfig())
	if err != nil {
		s.Log.Warn("previous running configuration unreadable; booting from the saved one", zap.Error(err))
	}
	if prev != nil {
		if _, err := s.Engine.Resume(ctx, prev); err != nil {
			s.Log.Error("resuming the previous running configuration failed", zap.Error(err))
		} else {
			s.Log.Info("resumed the previous running configuration")
		}
		if p := s.pending; p != nil {
			if !p.Deadline.After(time.Now()) {
				s.Log.Warn("a commit-confirm expired while ctsyncd was down: rolling back now", zap.Int("archive", p.Seq), zap.Time("deadline", p.Deadline))
				s.rollbackPending()
			} else {
				s.arm(time.Until(p.Deadline))
				s.Log.Warn("a commit-confirm is pending: confirm it, or ctsyncd rolls back", zap.Int("archive", p.Seq), zap.Time("deadline", p.Deadline))
			}
		}
		return s.writeRunning()
	}
	if p := s.pending; p != nil {
		// A boot with a commit-confirm pending: the unconfirmed
		// configuration is not running (nothing is), and config.boot
		// holds what was saved before it (save refuses while one is
		// pending). Booting from it is the rollback.
		s.note(p.Seq, fmt.Sprintf("not confirmed: the system restarted before %s", p.Deadline.Local().Format("15:04:05")))
		s.pending = nil
		if err := s.writeJournal(); err != nil {
			s.Log.Error("ending the commit-confirm", zap.Error(err))
		}
	}
	saved, err := s.readSaved()
	if err != nil {
		return s.fallback(ctx, err)
	}
	_ = atomicfile.Remove(s.Root.BootNotice()) // a clean start: old news
	if saved == nil {
		return s.writeRunning()
	}
	running, _ := s.Engine.Running()
	if configtree.Equal(running, saved) {
		return s.writeRunning()
	}
	res, _, err := s.commitLocked(ctx, saved, intentMeta{Kind: archive.KindBoot, User: "ctsyncd", Comment: "start: committed " + s.Root.ConfigBoot()})
	if err != nil {
		s.notice(fmt.Sprintf("%s was not applied at start (%v); running the configuration ctsyncd had before", s.Root.ConfigBoot(), oneLine(err)))
		if werr := s.writeRunning(); werr != nil {
			s.Log.Error("recording the running configuration", zap.Error(werr))
		}
		return fmt.Errorf("committing %s: %w", s.Root.ConfigBoot(), err)
	}
	for _, m := range res.Messages {
		s.Log.Info(m)
	}
	return nil
}

// readSaved reads config.boot, migrating it when an older release or
// another system wrote it; (nil, nil) when there is none.
func (s *Server) readSaved() (*configtree.Node, error) {
	data, err := os.ReadFile(s.Root.ConfigBoot())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, rep, err := migrate.Load(data, s.Schema)
	if err != nil {
		return nil, err
	}
	for _, l := range rep.Lines() {
		s.Log.Warn("config.boot: " + l)
	}
	if err := s.Schema.Validate(t); err != nil {
		return nil, fmt.Errorf("invalid: %s", oneLine(err))
	}
	return t, nil
}

// fallback handles a saved configuration that cannot be used at all: it
// keeps the file for inspection and runs the newest archived revision
// that still validates.
func (s *Server) fallback(ctx context.Context, why error) error {
	bad := s.Root.ConfigBoot() + ".bad-" + time.Now().Format("20060102-150405")
	if err := os.Rename(s.Root.ConfigBoot(), bad); err != nil {
		s.Log.Error("could not set the bad config.boot aside", zap.Error(err))
		bad = s.Root.ConfigBoot()
	}
	list, err := s.archive().List()
	if err != nil {
		s.Log.Error("reading the commit archive", zap.Error(err))
	}
	for _, m := range list {
		e, err := s.archive().GetSeq(m.Seq)
		if err != nil {
			continue
		}
		t, err := e.Tree()
		if err != nil || s.Schema.Validate(t) != nil {
			continue
		}
		running, _ := s.Engine.Running()
		if !configtree.Equal(running, t) {
			if _, _, err := s.commitLocked(ctx, t, intentMeta{Kind: archive.KindBoot, User: "ctsyncd",
				Comment: fmt.Sprintf("start: config.boot unusable; fell back to revision seq %d", e.Seq)}); err != nil {
				s.Log.Error("committing the archived revision failed", zap.Int("archive", e.Seq), zap.Error(err))
				continue
			}
		}
		s.notice(fmt.Sprintf("%s was unusable (%s); it is kept as %s; running the last good archived revision (seq %d, committed %s by %s)",
			s.Root.ConfigBoot(), oneLine(why), bad, e.Seq, e.Time.Local().Format("2006-01-02 15:04:05"), e.User))
		return s.writeRunning()
	}
	s.notice(fmt.Sprintf("%s was unusable (%s); it is kept as %s; no good archived revision: running the configuration ctsyncd had before",
		s.Root.ConfigBoot(), oneLine(why), bad))
	return s.writeRunning()
}

// notice says something the operator must not miss: in the log as an
// error, and in `show system commit` until the next clean start.
func (s *Server) notice(msg string) {
	s.Log.Error(msg)
	line := time.Now().Format("2006-01-02 15:04:05") + " " + msg + "\n"
	if err := os.MkdirAll(s.Root.StateDir(), 0o750); err == nil {
		_ = atomicfile.WriteFile(s.Root.BootNotice(), []byte(line), 0o640)
	}
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// readTree parses a config.boot file; a missing file is (nil, nil).
func readTree(path string) (*configtree.Node, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return configtree.Parse(f)
}
