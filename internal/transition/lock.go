package transition

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/paths"
)

// seqFile holds the last ticket issued. It is also the bookkeeping lock:
// held only for a few file operations (issuing a ticket, updating the VRRP
// state map), never across a conntrackd request, so a hook for another
// group never waits behind a long commit. The file is rewritten in place,
// not renamed, so that flock keeps working on one inode.
func seqFile(root paths.Root) string { return filepath.Join(root.RunDir(), "transition.seq") }

// lockFile opens path and takes an exclusive flock on it, polling until
// ctx ends: flock itself cannot be interrupted by a context, and a hook
// must never block keepalived without bound.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-t.C:
		}
		if wait < 20*time.Millisecond {
			wait *= 2
		}
	}
}

// unlock releases the flock by closing the file.
func unlock(f *os.File) {
	if f != nil {
		f.Close()
	}
}

func readSeq(f *os.File) (uint64, error) {
	buf := make([]byte, 32)
	n, err := f.ReadAt(buf, 0)
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return 0, err
	}
	s := strings.TrimSpace(string(buf[:n]))
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// A torn or foreign file: restart the count above anything a
		// clock-based guess could have issued.
		return uint64(time.Now().UnixNano()), nil
	}
	return v, nil
}

// nextTicket issues the next sequence number. Tickets are issued in the
// order the hooks start, which is the order keepalived spawned them in.
func nextTicket(ctx context.Context, root paths.Root) (uint64, error) {
	f, err := lockFile(ctx, seqFile(root))
	if err != nil {
		return 0, err
	}
	defer unlock(f)
	cur, err := readSeq(f)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", seqFile(root), err)
	}
	next := cur + 1
	if err := f.Truncate(0); err != nil {
		return 0, fmt.Errorf("writing %s: %w", seqFile(root), err)
	}
	if _, err := f.WriteAt([]byte(strconv.FormatUint(next, 10)+"\n"), 0); err != nil {
		return 0, fmt.Errorf("writing %s: %w", seqFile(root), err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", seqFile(root), err)
	}
	return next, nil
}

// latestTicket returns the last ticket issued.
func latestTicket(ctx context.Context, root paths.Root) (uint64, error) {
	f, err := lockFile(ctx, seqFile(root))
	if err != nil {
		return 0, err
	}
	defer unlock(f)
	return readSeq(f)
}
