package configd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/ctsync/ctsync/internal/paths"
)

// ErrAnotherDaemon refuses a second ctsyncd for one root.
var ErrAnotherDaemon = errors.New("another ctsyncd runs for this root")

// LockRoot takes the root's daemon lock; it returns the release. A
// second ctsyncd for the same root would run commits and engines beside
// the first: it is refused, naming the one that runs. The kernel drops
// a flock when its holder dies, so a crash leaves nothing to clean up.
func LockRoot(r paths.Root) (func(), error) {
	if err := os.MkdirAll(r.RunDir(), 0o755); err != nil {
		return nil, err
	}
	path := r.CtsyncdLock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("daemon lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := os.ReadFile(path)
			pid := strings.TrimSpace(string(b))
			return nil, fmt.Errorf("%w (pid %s holds %s): stop it first", ErrAnotherDaemon, pid, path)
		}
		return nil, fmt.Errorf("daemon lock: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
