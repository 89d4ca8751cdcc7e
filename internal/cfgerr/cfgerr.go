// Package cfgerr holds the one user-facing error type: an error about a
// config path, so the shell can print
// "service conntrack-sync interface eth9: interface does not exist".
package cfgerr

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/ctsync/ctsync/internal/configtree"
)

// Error is a problem with the configuration at Path.
type Error struct {
	// Path is the config path as its words, e.g. {"service",
	// "conntrack-sync", "mcast-group"}: a key or value that holds a
	// space stays one word, so the path survives being carried as a
	// list (across the control socket) and re-read.
	Path []string
	Msg  string // what is wrong, lowercase, no trailing period
	Hint string // optional: what would fix it
	// Cause, when set, is a sentinel callers test with errors.Is
	// (schema.ErrValueRequired) instead of matching Msg.
	Cause error
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Path) > 0 {
		b.WriteString(JoinPath(e.Path))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// JoinPath writes path for display, one space between words. A word the
// shell could not read back as one (it holds a space, or is empty) is
// quoted as the shell would quote it; every other word is left as typed.
func JoinPath(path []string) string {
	words := make([]string, len(path))
	for i, w := range path {
		if w == "" || strings.ContainsFunc(w, unicode.IsSpace) {
			w = configtree.Quote(w)
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

// New returns an *Error for path with a formatted message. The path is
// copied: callers build paths by appending to a shared prefix.
func New(path []string, format string, args ...any) *Error {
	return &Error{Path: slices.Clone(path), Msg: fmt.Sprintf(format, args...)}
}

// WithHint sets the hint and returns e.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// List flattens err (which may be an errors.Join tree) into its leaves,
// so every problem a commit check found can be listed.
func List(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, List(e)...)
		}
		return out
	}
	return []error{err}
}

// PathOf returns the config path of the first *Error in err's chain, nil
// when there is none.
func PathOf(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return e.Path
	}
	return nil
}
