// Package session is the config shell's command layer: one Session per
// operator, holding a candidate configuration and running the commands
// typed at the config prompt (set, delete, show, compare, discard, commit,
// commit check, commit-confirm, confirm, rollback, save, load, merge). It
// knows nothing of terminals or sockets, so the same commands run from a
// script, a test table or the interactive shell.
package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/service"
)

// Service is what a session needs from the service that owns the
// running configuration and everything kept beside it (ctsyncd): the
// session reads the archive, the saved configuration and the pending
// commit-confirm only through it, and never writes them.
type Service interface {
	// Running is the running configuration and its revision.
	Running() (*configtree.Node, int)
	// CommitWith commits candidate; it archives the commit and runs
	// commit-confirm.
	CommitWith(ctx context.Context, candidate *configtree.Node, o service.CommitOptions) (*commit.Result, error)
	// CheckWith is CommitWith short of installing and applying: it
	// refuses whatever CommitWith would, and changes nothing.
	CheckWith(ctx context.Context, candidate *configtree.Node, o service.CommitOptions) error
	// Confirm keeps a pending commit-confirm; an error when none is pending.
	Confirm(ctx context.Context, user string) (string, error)
	// Revision is archived revision n: 0 the running one, 1 the one
	// before, ...
	Revision(n int) (*archive.Entry, error)
	// Saved is the saved configuration as stored (nil when none), which
	// the service starts from.
	Saved() ([]byte, error)
	// Save makes the running configuration the saved one and returns
	// the file it wrote; it refuses while a commit-confirm awaits
	// confirm, since the next start would bring back a configuration
	// that may be rolled back in a minute.
	Save() (string, error)
}

// Session is one operator's edit session.
type Session struct {
	root      paths.Root
	schema    *schema.Schema
	svc       Service
	user      string
	candidate *configtree.Node
	base      int              // running revision the candidate was taken from
	baseTree  *configtree.Node // and that revision's configuration
	level     [][]string       // edit level, one element per level (see levelGroups)
	exited    bool
	files     Files
	hide      bool // print secrets masked
	// dirty mirrors "the candidate holds edits", for other sessions'
	// prompts, which ask while this session may be running a command.
	dirty atomic.Bool
}

// New opens a session whose candidate is the running configuration.
func New(root paths.Root, s *schema.Schema, svc Service) *Session {
	running, rev := svc.Running()
	return &Session{root: root, schema: s, svc: svc, candidate: running, base: rev, baseTree: running.Clone(), user: "root"}
}

// SetFiles sets how the session opens files named to save, load and
// merge; the default acts with the process's own permissions.
func (s *Session) SetFiles(f Files) { s.files = f }

func (s *Session) fileAccess() Files {
	if s.files == nil {
		return LocalFiles{}
	}
	return s.files
}

// SetUser names the operator, as recorded in the commit archive.
func (s *Session) SetUser(u string) { s.user = u }

// Exited reports whether the operator typed exit.
func (s *Session) Exited() bool { return s.exited }

// Candidate returns a copy of the candidate configuration.
func (s *Session) Candidate() *configtree.Node { return s.candidate.Clone() }

// Modified reports whether the candidate holds edits not yet committed
// (against the running configuration it was taken from). Safe to call
// from any goroutine.
func (s *Session) Modified() bool { return s.dirty.Load() }

// Exec runs one command line and returns what it prints. An error is the
// command's failure, worded for the operator.
func (s *Session) Exec(ctx context.Context, line string) (string, error) {
	defer func() { s.dirty.Store(!configtree.Equal(s.candidate, s.baseTree)) }()
	words, err := configtree.Tokenize(line)
	if err != nil {
		return "", err
	}
	if len(words) == 0 || strings.HasPrefix(words[0], "#") {
		return "", nil
	}
	cmd, args := words[0], words[1:]
	cmd, err = expandKeyword(cmd, commandNames, cmd)
	if err != nil {
		return "", err
	}
	switch cmd {
	case "set":
		return "", s.set(args)
	case "delete":
		return "", s.delete(args)
	case "show":
		return s.show(args)
	case "compare":
		return s.compare(args)
	case "edit":
		return s.edit(args)
	case "up":
		return s.up(args)
	case "top":
		s.level = nil
		return "", nil
	case "copy", "rename":
		return s.copyRename(cmd, args)
	case "comment":
		return s.comment(args)
	case "run":
		// The shell runs op-mode commands itself, in the operator's
		// namespace and with their terminal; ctsyncd never does.
		return "", errors.New("run: op-mode commands run in the ctsync shell (ctsync configure), not in ctsyncd")
	case "discard":
		running, rev := s.svc.Running()
		s.candidate, s.base, s.baseTree = running, rev, running.Clone()
		return "Changes have been discarded.\n", nil
	case "commit", "commit-confirm":
		a, err := parseCommit(cmd, args)
		if err != nil {
			return "", fmt.Errorf("%w; nothing was committed", err)
		}
		return s.commit(ctx, a)
	case "confirm":
		return s.confirm(ctx, args)
	case "rollback":
		return s.rollback(args)
	case "save":
		return s.save(args)
	case "load":
		return s.load(args, false)
	case "merge":
		return s.load(args, true)
	case "exit", "quit":
		return s.exit(args)
	}
	return "", fmt.Errorf("%s: unknown command (expected one of: %s)", cmd, strings.Join(commandNames[1:], ", "))
}

func (s *Session) set(words []string) error {
	if len(words) == 0 {
		return errors.New("set: a configuration path is required")
	}
	p, err := s.path(words)
	if err != nil {
		return err
	}
	return s.schema.Set(s.candidate, p)
}

func (s *Session) delete(words []string) error {
	if len(words) == 0 {
		return errors.New("delete: a configuration path is required")
	}
	words, err := s.path(words)
	if err != nil {
		return err
	}
	path := words
	var value *string
	if r, err := s.schema.Resolve(words); err == nil && r.HasValue {
		// Deleting one value of a leaf-list; for a single leaf the whole
		// leaf goes, as in VyOS.
		path = r.Path[:len(r.Path)-1]
		if r.Node.Kind == schema.LeafList {
			v := r.Value
			value = &v
		}
	} else if s.schema.Lookup(words) == nil && s.candidate.Get(words...) == nil {
		// Not even a path of the schema: say why in its words.
		if _, err := s.schema.Resolve(words); err != nil && !errors.Is(err, schema.ErrValueRequired) {
			return err
		}
	}
	if !s.candidate.Delete(path, value) {
		return cfgerr.New(words, "nothing to delete (the node does not exist)")
	}
	return nil
}

// show prints the candidate at the level, or at PATH under it; with
// "commands" (or "| commands") as set commands relative to that node.
func (s *Session) show(words []string) (string, error) {
	words, commands := flat(words)
	p, err := s.path(words)
	if err != nil {
		return "", err
	}
	cand := s.view(s.candidate)
	n := cand
	if len(p) > 0 {
		n = cand.Get(p...)
		if n == nil {
			if len(words) == 0 {
				// A level edit made and nothing set there yet.
				return "Configuration under specified path is empty\n", nil
			}
			return "", cfgerr.New(p, "configuration path does not exist")
		}
	}
	var b bytes.Buffer
	if len(p) == 0 {
		if commands {
			n.WriteCommands(&b)
		} else if err := n.Format(&b); err != nil {
			return "", err
		}
	} else {
		// Show the node's contents, not the node itself.
		body := &configtree.Node{Children: n.Children}
		if n.Leaf {
			body = &configtree.Node{Children: []*configtree.Node{n}}
		}
		if commands {
			body.WriteCommands(&b)
		} else if err := body.Format(&b); err != nil {
			return "", err
		}
	}
	if b.Len() == 0 {
		return "Configuration under specified path is empty\n", nil
	}
	return b.String(), nil
}

// compare shows a diff: with no argument from the running configuration
// to the candidate; "compare saved" from the saved config.boot to the
// candidate; "compare N" from revision N to the candidate; "compare N M"
// from revision N to revision M (so "compare 1 0" is what the last
// commit changed). Revisions count back from 0, the running one. Below
// the top, only the level's subtree is compared.
func (s *Session) compare(args []string) (string, error) {
	if len(args) > 2 {
		return "", errors.New("compare: usage: compare [saved | N [M]] (revision numbers, 0 = running)")
	}
	from, _ := s.svc.Running()
	to := s.candidate
	what := "working and active configurations"
	if len(args) == 1 {
		if w, _ := expandKeyword("compare", []string{"saved"}, args[0]); w == "saved" {
			t, err := s.saved()
			if err != nil {
				return "", err
			}
			from, what = t, "saved and working configurations"
			args = nil
		}
	}
	if len(args) >= 1 {
		t, err := s.revision("compare", args[0])
		if err != nil {
			return "", err
		}
		from, what = t, "revision "+args[0]+" and the working configuration"
	}
	if len(args) == 2 {
		t, err := s.revision("compare", args[1])
		if err != nil {
			return "", err
		}
		to, what = t, "revisions "+args[0]+" and "+args[1]
	}
	if l := s.Level(); len(l) > 0 {
		from, to = only(from, l), only(to, l)
		what += " at [edit " + configtree.PathString(l) + "]"
	}
	if d := s.diff(from, to); d != "" {
		return d, nil
	}
	if !configtree.Equal(from, to) {
		return "Only comments differ between " + what + ".\n", nil
	}
	return "No changes between " + what + ".\n", nil
}

// revision reads archived revision word (0 = running, 1 = previous, ...).
func (s *Session) revision(cmd, word string) (*configtree.Node, error) {
	e, err := s.entry(cmd, word)
	if err != nil {
		return nil, err
	}
	return e.Tree()
}

func (s *Session) entry(cmd, word string) (*archive.Entry, error) {
	n, err := strconv.Atoi(word)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%s: %q is not a revision number (0 = running, 1 = previous, ...; show system commit lists them)", cmd, word)
	}
	e, err := s.svc.Revision(n)
	if err != nil {
		return nil, fmt.Errorf("%s %d: %w", cmd, n, err)
	}
	return e, nil
}
