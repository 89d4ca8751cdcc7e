package service

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/ctsync/ctsync/internal/cfgerr"
)

// TestCodesCrossTheSocket: what the service sends for an error (its
// code and path) is what the client needs to give the caller an error
// that errors.Is finds the same sentinel in.
func TestCodesCrossTheSocket(t *testing.T) {
	key := []string{"high-availability", "vrrp", "group", "a b", "priority"}
	tests := []struct {
		name     string
		err      error
		code     Code
		path     []string
		sentinel error
	}{
		{"stale", fmt.Errorf("commit: %w", ErrStale), CodeStale, nil, ErrStale},
		{"commit in progress", ErrCommitInProgress, CodeCommitInProgress, nil, ErrCommitInProgress},
		{"confirm pending", fmt.Errorf("%w (revision 0, by alice)", ErrConfirmPending), CodeConfirmPending, nil, ErrConfirmPending},
		{"too large", fmt.Errorf("20 bytes is %w", ErrTooLarge), CodeTooLarge, nil, ErrTooLarge},
		{"permission", fmt.Errorf("load x: %w", syscall.EACCES), CodePermissionDenied, nil, os.ErrPermission},
		{"not found", fmt.Errorf("load x: %w", syscall.ENOENT), CodeNotFound, nil, os.ErrNotExist},
		{"config path", errors.Join(cfgerr.New(key, "must be 1-255"), errors.New("more")), CodeInvalidConfig, key, ErrInvalidConfig},
		{"nothing to act on", errors.New("set: a configuration path is required"), "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, path := CodeOf(tt.err)
			if code != tt.code || !slices.Equal(path, tt.path) {
				t.Fatalf("CodeOf = %q %q, want %q %q", code, path, tt.code, tt.path)
			}
			got := error(&Error{Code: code, Path: path, Text: tt.err.Error()})
			if got.Error() != tt.err.Error() {
				t.Errorf("text %q, want %q", got, tt.err)
			}
			if tt.sentinel != nil && !errors.Is(got, tt.sentinel) {
				t.Errorf("the client's error is not %v", tt.sentinel)
			}
			for _, s := range sentinels {
				if s.err != tt.sentinel && errors.Is(got, s.err) {
					t.Errorf("the client's error is also %v", s.err)
				}
			}
		})
	}
	if errors.Unwrap(&Error{Code: "from-a-newer-service", Text: "x"}) != nil {
		t.Error("an unknown code unwraps to a sentinel")
	}
}
