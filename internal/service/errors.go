package service

import (
	"errors"
	"os"

	"github.com/ctsync/ctsync/internal/cfgerr"
)

// The failures a session or an op-mode request can end in that callers
// act on. They keep their meaning across the control socket: the
// service sends the Code of an error with its text, and the client's
// Error unwraps to the same sentinel, so both sides test with errors.Is.
var (
	// ErrNotRunning means ctsyncd does not answer on its socket.
	ErrNotRunning = errors.New("ctsyncd is not running")
	// ErrInvalidConfig is a configuration the schema or a handler
	// refused; the error names the config path (a cfgerr.Error).
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrStale is a commit whose base is no longer the running revision.
	ErrStale = errors.New("the running configuration changed during the commit")
	// ErrCommitInProgress refuses an operation that must not overlap a
	// commit.
	ErrCommitInProgress = errors.New("a commit is in progress: try again when it has finished")
	// ErrConfirmPending refuses a commit while a commit-confirm awaits
	// confirm (unless it commits the configuration from before it back).
	ErrConfirmPending = errors.New("commit refused: a commit-confirm awaits confirm")
	// ErrTooLarge refuses a request or a file over its bound.
	ErrTooLarge = errors.New("too large")
)

// Code is the kind of an error, as it travels in a response.
type Code string

// The codes, each for one sentinel: os.ErrPermission and os.ErrNotExist
// for a file a session names.
const (
	CodeInvalidConfig    Code = "invalid-config"
	CodeStale            Code = "stale"
	CodeCommitInProgress Code = "commit-in-progress"
	CodeConfirmPending   Code = "confirm-pending"
	CodePermissionDenied Code = "permission-denied"
	CodeNotFound         Code = "not-found"
	CodeTooLarge         Code = "too-large"
)

// sentinels pairs each code with its error, most specific first: a
// commit refused by a handler wraps a cfgerr.Error among other things.
var sentinels = []struct {
	code Code
	err  error
}{
	{CodeStale, ErrStale},
	{CodeCommitInProgress, ErrCommitInProgress},
	{CodeConfirmPending, ErrConfirmPending},
	{CodeTooLarge, ErrTooLarge},
	{CodePermissionDenied, os.ErrPermission},
	{CodeNotFound, os.ErrNotExist},
	{CodeInvalidConfig, ErrInvalidConfig},
}

// CodeOf is the code of err ("" for an error of no kind callers act on)
// and the config path it is about (nil when none).
func CodeOf(err error) (Code, []string) {
	path := cfgerr.PathOf(err)
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code, path
		}
	}
	if path != nil {
		return CodeInvalidConfig, path
	}
	return "", nil
}

// Error is an error that crossed the control socket: the text the
// service wrote, its kind, and the config path it is about.
type Error struct {
	Code Code
	Path []string
	Text string
}

func (e *Error) Error() string { return e.Text }

// Unwrap is the sentinel of e's code, nil for an unknown one (a newer
// service): errors.Is(err, ErrCommitInProgress) holds on the client as
// it did in the service.
func (e *Error) Unwrap() error {
	for _, s := range sentinels {
		if s.code == e.Code {
			return s.err
		}
	}
	return nil
}
