package transition

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/paths"
)

// seqFile holds the last ticket issued per group. It is also the bookkeeping lock:
// held only for a few file operations (issuing a ticket, updating the VRRP
// state map), never across a conntrackd request, so a hook for another
// group never waits behind a long commit. The file is rewritten in place,
// not renamed, so that flock keeps working on one inode.
func seqFile(root paths.Root) string { return root.TransitionSeq() }

// lockFile opens path and takes an exclusive flock on it, polling until
// ctx ends: flock itself cannot be interrupted by a context, and a hook
// must never block keepalived without bound.
func lockFile(ctx context.Context, path string) (*os.File, error) {
	if err := atomicfile.MkdirAll(filepath.Dir(path), 0o755); err != nil {
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

// tickets is the seq file's content: the last ticket issued per group.
// Ordering is per group: a transition of another VRRP group says nothing
// about whether this group's pending transition is stale.
type tickets map[string]uint64

func readTickets(f *os.File) (tickets, error) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		return nil, err
	}
	m := tickets{}
	if len(strings.TrimSpace(string(b))) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		// A torn or foreign file: restart every count above anything
		// issued before, so that no waiting call outranks a new one.
		return tickets{"": uint64(time.Now().UnixNano())}, nil
	}
	return m, nil
}

func (t tickets) last(group string) uint64 {
	if v, ok := t[group]; ok {
		return v
	}
	return t[""]
}

// nextTicket issues the group's next sequence number. Tickets are issued
// in the order the hooks start, which is the order keepalived spawned
// them in.
func nextTicket(ctx context.Context, root paths.Root, group string) (uint64, error) {
	f, err := lockFile(ctx, seqFile(root))
	if err != nil {
		return 0, err
	}
	defer unlock(f)
	m, err := readTickets(f)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", seqFile(root), err)
	}
	next := m.last(group) + 1
	m[group] = next
	b, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	if err := f.Truncate(0); err != nil {
		return 0, fmt.Errorf("writing %s: %w", seqFile(root), err)
	}
	if _, err := f.WriteAt(append(b, '\n'), 0); err != nil {
		return 0, fmt.Errorf("writing %s: %w", seqFile(root), err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("writing %s: %w", seqFile(root), err)
	}
	return next, nil
}

// latestTicket returns the group's last ticket issued.
func latestTicket(ctx context.Context, root paths.Root, group string) (uint64, error) {
	f, err := lockFile(ctx, seqFile(root))
	if err != nil {
		return 0, err
	}
	defer unlock(f)
	m, err := readTickets(f)
	if err != nil {
		return 0, err
	}
	return m.last(group), nil
}

// HoldLock takes the transition lock for a caller outside the hook
// (a commit or `restart conntrack-sync` about to restart conntrackd): it
// waits until the running transition is done, bounded by ctx, and keeps
// later ones waiting until release is called. A master transition is
// never left committing from a cache that a restart throws away.
func HoldLock(ctx context.Context, root paths.Root) (release func(), err error) {
	f, err := lockFile(ctx, root.TransitionLock())
	if err != nil {
		return nil, fmt.Errorf("waiting for a VRRP transition to finish: %w", err)
	}
	return func() { unlock(f) }, nil
}
