// Package cfgerr holds the one user-facing error type: an error about a
// config path, so the shell can print
// "service conntrack-sync interface eth9: interface does not exist".
package cfgerr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a problem with the configuration at Path.
type Error struct {
	Path string // space-separated config path, e.g. "service conntrack-sync mcast-group"
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
	if e.Path != "" {
		b.WriteString(e.Path)
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

// New returns an *Error for path with a formatted message.
func New(path []string, format string, args ...any) *Error {
	return &Error{Path: strings.Join(path, " "), Msg: fmt.Sprintf(format, args...)}
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

// PathOf returns the config path of the first *Error in err's chain.
func PathOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Path
	}
	return ""
}
