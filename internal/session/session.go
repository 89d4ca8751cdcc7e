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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/migrate"
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

// DefaultConfirmMinutes is commit-confirm's timeout when none is given.
const DefaultConfirmMinutes = 10

// MaxCommentLen bounds a commit comment: one line of a listing.
const MaxCommentLen = 200

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

// rollback loads an archived revision into the candidate. Nothing runs
// until the operator commits it, through the same all-or-nothing path.
func (s *Session) rollback(args []string) (string, error) {
	if len(args) != 1 {
		return "", errors.New("rollback: usage: rollback N (0 = running, 1 = previous, ...; show system commit lists them)")
	}
	e, err := s.entry("rollback", args[0])
	if err != nil {
		return "", fmt.Errorf("%w; nothing changed", err)
	}
	t, err := e.Tree()
	if err != nil {
		return "", fmt.Errorf("rollback %s: %w; nothing changed", args[0], err)
	}
	s.candidate = t
	about := fmt.Sprintf("committed %s by %s", e.Time.Local().Format("2006-01-02 15:04:05"), e.User)
	if e.Comment != "" {
		about += ": " + e.Comment
	}
	return fmt.Sprintf("Loaded revision %s (%s) into the candidate; review with compare, then commit.\n", args[0], about), nil
}

// commitArgs is a parsed commit line.
type commitArgs struct {
	check   bool
	local   bool
	comment string
	confirm int // minutes; 0 for a plain commit
}

// parseCommit reads the commit forms Junos and VyOS accept:
//
//	commit [comment TEXT]                 commit check
//	commit local [comment TEXT]
//	commit confirmed [MINUTES] [comment TEXT]
//	commit-confirm [MINUTES] [comment TEXT]
//
// TEXT is one quoted word or the rest of the line.
func parseCommit(cmd string, args []string) (commitArgs, error) {
	var a commitArgs
	confirm := cmd == "commit-confirm"
	minutes := -1
	for i := 0; i < len(args); i++ {
		w := args[i]
		if !isDigits(w) {
			var err error
			if w, err = expandKeyword(cmd, []string{"check", "comment", "confirmed", "local"}, w); err != nil {
				return a, err
			}
		}
		switch {
		case w == "check" && cmd == "commit" && i == 0 && len(args) == 1:
			a.check = true
		case w == "comment":
			text := strings.Join(args[i+1:], " ")
			if err := checkComment(text); err != nil {
				return a, err
			}
			a.comment = text
			i = len(args)
		case w == "local" && cmd == "commit" && i == 0 && !confirm:
			a.local = true
		case w == "confirmed" && cmd == "commit" && !confirm:
			confirm = true
		case confirm && minutes < 0 && isDigits(w):
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 || n > 1440 {
				return a, fmt.Errorf("%s: %s: minutes must be 1-1440", cmd, w)
			}
			minutes = n
		default:
			return a, fmt.Errorf("%s: unexpected %q (expected %s)", cmd, w, commitUsage(cmd))
		}
	}
	if confirm {
		if minutes < 0 {
			minutes = DefaultConfirmMinutes
		}
		a.confirm = minutes
	}
	return a, nil
}

func commitUsage(cmd string) string {
	if cmd == "commit-confirm" {
		return "commit-confirm [MINUTES] [comment TEXT]"
	}
	return "commit [local] [comment TEXT], commit check or commit confirmed [MINUTES] [comment TEXT]"
}

func isDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// checkComment refuses a comment that would not sit on one line of the
// archive listing.
func checkComment(c string) error {
	switch {
	case strings.TrimSpace(c) == "":
		return errors.New("commit comment: the comment is empty (commit comment \"what and why\")")
	case len(c) > MaxCommentLen:
		return fmt.Errorf("commit comment: the comment is %d bytes; at most %d", len(c), MaxCommentLen)
	case strings.IndexFunc(c, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
		return errors.New("commit comment: the comment holds a line break or control character; one line of text only")
	}
	return nil
}

// CommitFailed is the last line of every failed commit: the operator
// must know that nothing changed.
const CommitFailed = "Commit failed: nothing was changed."

// commit runs a commit of the candidate, or with a.check its check,
// through one path: the merge with what other sessions committed since
// this one began, then the service's refusals and every stage of the
// commit, which a check leaves before installing anything. So a check
// cannot pass where the commit would be refused.
func (s *Session) commit(ctx context.Context, a commitArgs) (string, error) {
	fail := commitError
	if a.check {
		fail = checkError
	}
	// A commit races other sessions' commits: the service refuses one
	// whose base moved meanwhile, and the merge is redone on the new one.
	for attempt := 0; ; attempt++ {
		running, rev := s.svc.Running()
		cand, merged, err := s.mergeOnto(running, rev)
		if err != nil {
			return "", fail(err)
		}
		if configtree.Equal(running, cand) {
			if a.check {
				return "Commit check passed: no configuration changes to commit.\n", nil
			}
			return "No configuration changes to commit.\n", nil
		}
		o := service.CommitOptions{User: s.user, Comment: a.comment, ConfirmMinutes: a.confirm, Base: rev, CheckBase: true, Merged: merged != "", Local: a.local}
		var res *commit.Result
		if a.check {
			err = s.svc.CheckWith(ctx, cand, o)
		} else {
			res, err = s.svc.CommitWith(ctx, cand, o)
		}
		if errors.Is(err, service.ErrStale) && attempt < 3 {
			continue
		}
		if err != nil {
			return "", fail(err)
		}
		if a.check {
			return merged + "Commit check passed: the configuration would commit.\n", nil
		}
		s.candidate, s.base, s.baseTree = cand.Clone(), res.Revision, cand.Clone()
		var b strings.Builder
		b.WriteString(merged)
		for _, m := range res.Messages {
			b.WriteString(m)
			b.WriteString("\n")
		}
		return b.String(), nil
	}
}

// mergeOnto is what committing the candidate means now that running
// (revision rev) runs: the candidate itself when nothing was committed
// since this session began; otherwise the session's changes replayed
// onto running, with a note of the other commit, or an error when both
// changed the same paths.
func (s *Session) mergeOnto(running *configtree.Node, rev int) (*configtree.Node, string, error) {
	if rev == s.base || configtree.Equal(running, s.baseTree) {
		return s.candidate, "", nil
	}
	theirs := configtree.Changes(s.baseTree, running, s.schema.IsMulti)
	ours := configtree.Changes(s.baseTree, s.candidate, s.schema.IsMulti)
	if c := conflicts(ours, theirs); len(c) > 0 {
		var lines []string
		for _, ch := range c {
			lines = append(lines, "  "+ch.String())
		}
		//lint:ignore ST1005 printed to the operator as is, a report ending in a sentence
		return nil, "", fmt.Errorf("another session committed since this one began, changing what you changed:\n%s\nTheir commit:\n%s\nRun discard and redo your changes, or commit them from a new session.",
			strings.Join(lines, "\n"), s.diff(s.baseTree, running))
	}
	merged := "Another session committed since this one began; its changes and yours touch different paths, so they were merged:\n" +
		// Their diff as this session may see it: another operator's
		// new password is not shown to a user who may not read it.
		indent(s.diff(s.baseTree, running))
	return replay(running, s.candidate, ours), merged, nil
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

func (s *Session) confirm(ctx context.Context, args []string) (string, error) {
	if len(args) > 0 {
		return "", errors.New("confirm: takes no arguments; nothing changed")
	}
	return s.svc.Confirm(ctx, s.user)
}

// checkError is a failed commit check, as commitError is a failed commit.
func checkError(err error) error {
	return &report{text: indentErrors(err) + "\n\nCommit check failed.", err: err}
}

// report is a failure worded for the operator (every problem, then the
// verdict) that still unwraps to the errors it reports, so that the
// service can tell callers what kind of failure it was.
type report struct {
	text string
	err  error
}

func (r *report) Error() string { return r.text }
func (r *report) Unwrap() error { return r.err }

func commitError(err error) error {
	return &report{text: indentErrors(err) + "\n\n" + CommitFailed, err: err}
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
// as the saved one, which the service keeps, or to FILE (relative names
// under the config dir) with the operator's permissions, with the
// version footer that lets a later release migrate it.
//
// config.boot is ctsyncd's own file, readable by root only, and holds
// the secrets whoever saves it. FILE is the operator's, written with the
// operator's permissions: for a user who may not see secrets (a member
// of the ctsync group) it holds them masked, and the output names each
// one. Such a file is still worth having (a backup, a diff, a template
// for the peer), which a refusal would not give; load and merge refuse
// it until the masks are replaced, so the mask never becomes a password.
func (s *Session) save(args []string) (string, error) {
	if len(args) == 0 || s.resolveFile(args[0]) == s.root.ConfigBoot() {
		path, err := s.svc.Save()
		if err != nil {
			return "", fmt.Errorf("save: %w; nothing was saved", err)
		}
		return fmt.Sprintf("Saved configuration to %s\n", path), nil
	}
	target := s.resolveFile(args[0])
	running, _ := s.svc.Running()
	var masked [][]string
	if s.hide {
		masked = Secrets(running)
		running = MaskSecrets(running)
	}
	data, err := migrate.Format(running)
	if err != nil {
		return "", err
	}
	if err := s.fileAccess().WriteFile(target, data, 0o640); err != nil {
		return "", fmt.Errorf("save: %w; nothing was saved", err)
	}
	out := fmt.Sprintf("Saved configuration to %s\n", target)
	for _, p := range masked {
		out += fmt.Sprintf("  %s: saved as %s (only root sees it); load refuses the file until it is set there\n", configtree.PathString(p), Masked)
	}
	return out, nil
}

// MaxLoadSize bounds what load reads: config.boot files are kilobytes.
const MaxLoadSize = 16 << 20

// load replaces the candidate with FILE (merge: merges FILE into it),
// after migrating it from whatever wrote it and keeping only what ctsync
// manages. A file that is not a config, or holds bad values, changes
// nothing; missing mandatory nodes are reported, for the operator to add
// before commit.
func (s *Session) load(args []string, merge bool) (string, error) {
	cmd := "load"
	if merge {
		cmd = "merge"
	}
	// "force" imports a file even when it holds failover settings ctsync
	// does not manage, dropping them (and listing what it dropped).
	force := len(args) == 2 && args[1] == "force"
	if force {
		args = args[:1]
	}
	if len(args) != 1 {
		return "", fmt.Errorf("%s: usage: %s FILE [force]", cmd, cmd)
	}
	file := s.resolveFile(args[0])
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("%s %s: %w; nothing was loaded", cmd, file, err)
	}
	data, err := s.fileAccess().ReadFile(file, MaxLoadSize)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail(err)
	}
	tree, rep, err := migrate.Load(data, s.schema)
	if err != nil {
		return fail(err)
	}
	if len(rep.Dropped) > 0 && !force {
		// Loaded without them, the pair would fail over differently from
		// the one the file describes: say so rather than import quietly.
		//lint:ignore ST1005 printed to the operator as is, a report ending in a sentence
		return "", fmt.Errorf("%s %s: it holds settings ctsync does not manage that change how the pair fails over:\n  %s\n`%s %s force` loads the rest without them. Nothing was loaded.",
			cmd, file, strings.Join(rep.Dropped, "\n  "), cmd, args[0])
	}
	if m := MaskedSecrets(tree); len(m) > 0 {
		var lines []string
		for _, p := range m {
			lines = append(lines, "  "+cfgerr.New(p, "%s stands where the secret was (the file was saved by a user who may not see it); set the secret in the file", Masked).Error())
		}
		//lint:ignore ST1005 printed to the operator as is, a report ending in a sentence
		return "", fmt.Errorf("%s %s: it holds masked secrets, which would become the secrets themselves:\n%s\nNothing was loaded.", cmd, file, strings.Join(lines, "\n"))
	}
	keepComments(tree, data)
	if len(tree.Children) == 0 {
		return fail(errors.New("holds nothing ctsync manages" + skippedSummary(rep)))
	}
	next := tree
	if merge {
		next = s.candidate.Clone()
		for _, p := range tree.Paths() {
			if err := s.schema.Set(next, p); err != nil {
				return fail(err)
			}
		}
		configtree.CopyComments(next, tree)
	}
	var b strings.Builder
	var bad []string
	for _, e := range cfgerr.List(s.schema.Validate(next)) {
		if errors.Is(e, schema.ErrRequired) {
			fmt.Fprintf(&b, "  to fix before commit: %s\n", e)
			continue
		}
		bad = append(bad, "  "+e.Error())
	}
	if len(bad) > 0 {
		//lint:ignore ST1005 printed to the operator as is, as the last line of the report
		return "", fmt.Errorf("%s %s:\n%s\nNothing was loaded.", cmd, file, strings.Join(bad, "\n"))
	}
	s.candidate = next
	var out strings.Builder
	for _, l := range rep.Lines() {
		out.WriteString("  " + l + "\n")
	}
	out.WriteString(b.String())
	verb := "Loaded %s into the candidate"
	if merge {
		verb = "Merged %s into the candidate"
	}
	fmt.Fprintf(&out, verb+"; review with compare, then commit.\n", file)
	return out.String(), nil
}

func skippedSummary(r *migrate.Report) string {
	if r == nil || len(r.Skipped) == 0 {
		return ""
	}
	return " (it holds only " + strings.Join(r.Skipped, ", ") + ")"
}

// resolveFile is the file a name given to save, load or merge means:
// clean, so that a spelling of config.boot's own path with "." or ".."
// in it is config.boot too, and written as such.
func (s *Session) resolveFile(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(s.root.ConfigDir(), name)
}
