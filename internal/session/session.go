// Package session is the config shell's command layer: one Session per
// operator, holding a candidate configuration and running the commands
// typed at the config prompt (set, delete, show, compare, discard, commit,
// save, load). It knows nothing of terminals or sockets, so the same
// commands run from a script, a test table or the interactive shell.
package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

// Store is what a session needs from the service that owns the running
// configuration.
type Store interface {
	Running() (*configtree.Node, int)
	Commit(ctx context.Context, candidate *configtree.Node) (*commit.Result, error)
	Check(ctx context.Context, candidate *configtree.Node) error
}

// Session is one operator's edit session.
type Session struct {
	root      paths.Root
	schema    *schema.Schema
	store     Store
	candidate *configtree.Node
	base      int              // running revision the candidate was taken from
	baseTree  *configtree.Node // and that revision's configuration
	exited    bool
}

// New opens a session whose candidate is the running configuration.
func New(root paths.Root, s *schema.Schema, store Store) *Session {
	running, rev := store.Running()
	return &Session{root: root, schema: s, store: store, candidate: running, base: rev, baseTree: running.Clone()}
}

// Exited reports whether the operator typed exit.
func (s *Session) Exited() bool { return s.exited }

// Candidate returns a copy of the candidate configuration.
func (s *Session) Candidate() *configtree.Node { return s.candidate.Clone() }

// Modified reports whether the candidate differs from the running config.
func (s *Session) Modified() bool {
	running, _ := s.store.Running()
	return !configtree.Equal(running, s.candidate)
}

// Exec runs one command line and returns what it prints. An error is the
// command's failure, worded for the operator.
func (s *Session) Exec(ctx context.Context, line string) (string, error) {
	words, err := configtree.Tokenize(line)
	if err != nil {
		return "", err
	}
	if len(words) == 0 || strings.HasPrefix(words[0], "#") {
		return "", nil
	}
	cmd, args := words[0], words[1:]
	switch cmd {
	case "set":
		return "", s.set(args)
	case "delete":
		return "", s.delete(args)
	case "show":
		return s.show(args)
	case "compare":
		running, _ := s.store.Running()
		if d := configtree.Diff(running, s.candidate); d != "" {
			return d, nil
		}
		return "No changes between working and active configurations.\n", nil
	case "discard":
		running, rev := s.store.Running()
		s.candidate, s.base, s.baseTree = running, rev, running.Clone()
		return "Changes have been discarded.\n", nil
	case "commit":
		if len(args) > 0 && args[0] == "check" {
			return s.check(ctx)
		}
		return s.commit(ctx)
	case "save":
		return s.save(args)
	case "load":
		return s.load(args)
	case "exit", "quit":
		s.exited = true
		return "", nil
	}
	return "", fmt.Errorf("%s: unknown command (expected set, delete, show, compare, discard, commit, commit check, save, load, exit)", cmd)
}

func (s *Session) set(words []string) error {
	if len(words) == 0 {
		return errors.New("set: a configuration path is required")
	}
	r, err := s.schema.Resolve(words)
	if err != nil {
		return err
	}
	leaf := r.Node.Kind == schema.Leaf || r.Node.Kind == schema.LeafList
	s.candidate.Set(r.Steps, leaf, r.Node.Kind == schema.LeafList, r.HasValue, r.Value)
	return nil
}

func (s *Session) delete(words []string) error {
	if len(words) == 0 {
		return errors.New("delete: a configuration path is required")
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
		if _, err := s.schema.Resolve(words); err != nil && !isValueRequired(err) {
			return err
		}
	}
	if !s.candidate.Delete(path, value) {
		return cfgerr.New(words, "nothing to delete (the node does not exist)")
	}
	return nil
}

// isValueRequired tells a "value required" resolve error, which a delete
// of a whole leaf legitimately hits.
func isValueRequired(err error) bool {
	return strings.Contains(err.Error(), "value required")
}

func (s *Session) show(words []string) (string, error) {
	n := s.candidate
	if len(words) > 0 {
		n = s.candidate.Get(words...)
		if n == nil {
			return "", cfgerr.New(words, "configuration path does not exist")
		}
	}
	var b bytes.Buffer
	if len(words) == 0 {
		if err := n.Format(&b); err != nil {
			return "", err
		}
	} else {
		// Show the node's contents, not the node itself.
		body := &configtree.Node{Children: n.Children}
		if n.Leaf {
			body = &configtree.Node{Children: []*configtree.Node{n}}
		}
		if err := body.Format(&b); err != nil {
			return "", err
		}
	}
	if b.Len() == 0 {
		return "Configuration under specified path is empty\n", nil
	}
	return b.String(), nil
}

// CommitFailed is the last line of every failed commit: the operator
// must know that nothing changed.
const CommitFailed = "Commit failed: nothing was changed."

func (s *Session) commit(ctx context.Context) (string, error) {
	running, rev := s.store.Running()
	if rev != s.base && !configtree.Equal(running, s.baseTree) {
		// Committing now would silently undo what another session
		// committed since this one began.
		return "", fmt.Errorf("another session committed since this one began:\n%s\nRun discard and redo your changes, or commit them from a new session.\n\n%s",
			configtree.Diff(s.baseTree, running), CommitFailed)
	}
	if configtree.Equal(running, s.candidate) {
		return "No configuration changes to commit.\n", nil
	}
	res, err := s.store.Commit(ctx, s.candidate)
	if err != nil {
		return "", commitError(err)
	}
	s.base, s.baseTree = res.Revision, s.candidate.Clone()
	var b strings.Builder
	for _, m := range res.Messages {
		b.WriteString(m)
		b.WriteString("\n")
	}
	return b.String(), nil
}

func (s *Session) check(ctx context.Context) (string, error) {
	if err := s.store.Check(ctx, s.candidate); err != nil {
		return "", fmt.Errorf("%s\n\nCommit check failed.", indentErrors(err))
	}
	return "Commit check passed: the configuration would commit.\n", nil
}

func commitError(err error) error {
	return fmt.Errorf("%s\n\n%s", indentErrors(err), CommitFailed)
}

func indentErrors(err error) string {
	var ce *commit.Error
	errs := []error{err}
	if errors.As(err, &ce) {
		errs = ce.Errs
		if ce.Restored != nil {
			errs = append(errs, fmt.Errorf("restoring the previous state failed: %w", ce.Restored))
		}
	}
	var lines []string
	for _, e := range errs {
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// save writes the running configuration (what is committed, as in VyOS)
// to the saved config or to FILE (relative names under the config dir).
func (s *Session) save(args []string) (string, error) {
	target := s.root.ConfigBoot()
	if len(args) > 0 {
		target = s.resolveFile(args[0])
	}
	running, _ := s.store.Running()
	var b bytes.Buffer
	if err := running.Format(&b); err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(target, b.Bytes(), 0o640); err != nil {
		return "", fmt.Errorf("save: %w", err)
	}
	return fmt.Sprintf("Saved configuration to %s\n", target), nil
}

// load replaces the candidate with FILE, checked against the schema.
func (s *Session) load(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("load: usage: load FILE")
	}
	file := s.resolveFile(args[0])
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	tree, err := configtree.Parse(f)
	if err != nil {
		return "", fmt.Errorf("load %s: %w", file, err)
	}
	if err := s.schema.Validate(tree); err != nil {
		return "", fmt.Errorf("load %s: %s\n\nNothing was loaded.", file, indentErrors(err))
	}
	s.candidate = tree
	return fmt.Sprintf("Loaded %s into the candidate; review with compare, then commit.\n", file), nil
}

func (s *Session) resolveFile(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(s.root.ConfigDir(), name)
}
