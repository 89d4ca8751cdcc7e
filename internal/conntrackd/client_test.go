package conntrackd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDialErrorKeepsItsCause: a failed dial is ErrNotRunning and still
// the system's error, so a caller tells a missing socket from one it may
// not open (os.ErrPermission) without reading the text.
func TestDialErrorKeepsItsCause(t *testing.T) {
	c := &Client{Path: filepath.Join(t.TempDir(), "conntrackd.ctl")}
	_, err := c.Do(context.Background(), Stats)
	if !errors.Is(err, ErrNotRunning) || !errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		t.Fatalf("dial of a missing socket: %v; want ErrNotRunning wrapping os.ErrNotExist", err)
	}
}
