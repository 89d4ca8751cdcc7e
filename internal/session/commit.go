// The commit family: commit, commit check, commit-confirm, confirm and
// rollback, and how their failures read to the operator.

package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/service"
)

// DefaultConfirmMinutes is commit-confirm's timeout when none is given.
const DefaultConfirmMinutes = 10

// MaxCommentLen bounds a commit comment: one line of a listing.
const MaxCommentLen = 200

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
		case w == "check" && cmd == "commit" && i == 0 && len(args) <= 2:
			// Only local may follow: a check has no comment.
			a.check = true
		case w == "comment":
			text := strings.Join(args[i+1:], " ")
			if err := checkComment(text); err != nil {
				return a, err
			}
			a.comment = text
			i = len(args)
		case w == "local" && cmd == "commit" && (i == 0 || i == 1 && a.check) && !confirm:
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
	return "commit [local] [comment TEXT], commit check [local] or commit confirmed [MINUTES] [comment TEXT]"
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
