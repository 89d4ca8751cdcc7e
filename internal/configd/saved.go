package configd

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/migrate"
	"github.com/ctsync/ctsync/internal/session"
)

// What a session reads and writes of the service's own files goes
// through these: the session never opens them itself.
var _ session.Service = (*Server)(nil)

// Revision implements session.Service.
func (s *Server) Revision(n int) (*archive.Entry, error) { return s.archive().Get(n) }

// Saved implements session.Service: config.boot as stored, nil when
// there is none.
func (s *Server) Saved() ([]byte, error) {
	data, err := os.ReadFile(s.Root.ConfigBoot())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// Save implements session.Service: the running configuration becomes
// config.boot, which the next start commits.
func (s *Server) Save() (string, error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.pending != nil {
		return "", errors.New("a commit-confirm awaits confirm; type confirm first (or save to another file)")
	}
	running, _ := s.Engine.Running()
	data, err := migrate.Format(running)
	if err != nil {
		return "", err
	}
	path := s.Root.ConfigBoot()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", err
	}
	return path, atomicfile.WriteFile(path, data, 0o640)
}
