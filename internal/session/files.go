package session

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/service"
)

// Files opens the files that save, load and merge name. ctsyncd hands a
// session one that acts with the permissions of the user at the other
// end of the socket, so that the configuration role (the ctsync group)
// reads and writes nothing its members could not themselves.
type Files interface {
	// ReadFile reads a regular file of at most max bytes.
	ReadFile(path string, max int64) ([]byte, error)
	// WriteFile replaces path atomically.
	WriteFile(path string, data []byte, mode os.FileMode) error
}

// ErrNotRegular refuses a device, FIFO, socket or directory named to load:
// a device reads forever and a FIFO blocks.
var ErrNotRegular = errors.New("not a regular file")

// LocalFiles acts with the permissions of the process itself.
type LocalFiles struct{}

// ReadFile implements Files.
func (LocalFiles) ReadFile(path string, max int64) ([]byte, error) { return ReadRegular(path, max) }

// WriteFile implements Files.
func (LocalFiles) WriteFile(path string, data []byte, mode os.FileMode) error {
	return atomicfile.WriteFile(path, data, mode)
}

// ReadRegular reads path when it is a regular file of at most max
// bytes. The open does not block (a FIFO with no writer would), the type
// is checked on the open file (not by a Stat a rename could race), and
// the read itself is bounded too, so the limit holds whatever the file
// turns out to be.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, errors.New("is a directory")
	}
	if !fi.Mode().IsRegular() {
		return nil, ErrNotRegular
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%d bytes is %w for a config.boot", fi.Size(), service.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("more than %d bytes is %w for a config.boot", max, service.ErrTooLarge)
	}
	return data, nil
}
