package commit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/handler"
)

// backup remembers what install replaces.
type backup struct {
	saved []savedFile
	// installed counts the saved files install replaced, in order: a
	// failed install puts back those only. One it never reached is as it
	// was, and writing it again would meet what made the install fail.
	installed int
}

type savedFile struct {
	path   string
	data   []byte // the content replaced
	mode   os.FileMode
	absent bool
	data2  []byte // the content installed, nil: remove
	mode2  os.FileMode
}

// stage reads what every file would replace, installing nothing. A file
// whose content is unchanged is left out: it is not rewritten.
func stage(files []handler.File) (*backup, error) {
	b := &backup{}
	for _, f := range files {
		old, err := os.ReadFile(f.Path)
		absent := errors.Is(err, os.ErrNotExist)
		if err != nil && !absent {
			return b, fmt.Errorf("reading %s: %w", f.Path, err)
		}
		if (f.Data == nil && absent) || (f.Data != nil && !absent && bytes.Equal(old, f.Data)) {
			continue
		}
		var mode os.FileMode = 0o644
		if fi, err := os.Stat(f.Path); err == nil {
			mode = fi.Mode().Perm()
		}
		m := f.Mode
		if m == 0 {
			m = 0o644
		}
		b.saved = append(b.saved, savedFile{path: f.Path, data: old, mode: mode, absent: absent, data2: f.Data, mode2: m})
	}
	return b, nil
}

// install writes every staged file, in order, calling at after each.
func (b *backup) install(at func(string)) error {
	for _, s := range b.saved {
		var err error
		if s.data2 == nil {
			err = atomicfile.Remove(s.path)
		} else {
			err = atomicfile.WriteFile(s.path, s.data2, s.mode2)
		}
		if err != nil {
			// The rename may have happened and only the folder's
			// fsync failed: then the file is replaced all the same.
			if s.replaced() {
				b.installed++
			}
			return err
		}
		b.installed++
		at("installed " + filepath.Base(s.path))
	}
	return nil
}

// replaced reports whether the file holds what install puts there.
func (s savedFile) replaced() bool {
	cur, err := os.ReadFile(s.path)
	if s.data2 == nil {
		return errors.Is(err, os.ErrNotExist)
	}
	return err == nil && bytes.Equal(cur, s.data2)
}

func (b *backup) restore() error {
	var errs []error
	for i := b.installed - 1; i >= 0; i-- {
		s := b.saved[i]
		var err error
		if s.absent {
			err = atomicfile.Remove(s.path)
		} else {
			err = atomicfile.WriteFile(s.path, s.data, s.mode)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
