package commit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/strictjson"
)

// A Journal is the one file in which a commit records its intent before
// it touches anything, and in which the service keeps what must outlive
// a commit (a commit-confirm awaiting confirm). It is written whole with
// atomicfile (temp file, fsync, rename, fsync of the folder), so a crash
// leaves either the old record or the new one, never a mixture.
//
// The protocol, for a commit from running config A to B:
//
//  1. after every file is generated and before any is installed, the
//     engine writes Record{Intent: A->B with each file's old content,
//     Kept: whatever was kept};
//  2. files are installed, engines applied;
//  3. the service records B as running, archives it;
//  4. the service writes Record{Kept: ...}, ending the commit.
//
// A start that finds an Intent knows a commit was cut short and where it
// stood: see Intent.
type Journal struct {
	Path string
}

// MaxJournalSize bounds what ReadJournal reads: a record holds the old
// content of every generated file, kilobytes each.
const MaxJournalSize = 64 << 20

// Record is the whole content of the journal.
type Record struct {
	// Intent is set while a commit is under way (or was cut short).
	Intent *Intent `json:"intent,omitempty"`
	// Kept is the service's record that outlives commits (the pending
	// commit-confirm), opaque to the engine and carried over unchanged
	// by every write the engine makes.
	Kept json.RawMessage `json:"kept,omitempty"`
}

// Intent is a commit in progress.
type Intent struct {
	FromRevision int `json:"from_revision"`
	ToRevision   int `json:"to_revision"`
	// From and To are the running configuration before and after, in
	// config.boot form.
	From string `json:"from"`
	To   string `json:"to"`
	// Files are every file the commit installs, with what it replaces.
	Files []JournalFile `json:"files"`
	// Handlers are the handlers whose engines the commit touches.
	Handlers []string `json:"handlers"`
	// Meta is the service's own description of the commit (who, why,
	// how to archive it), for rolling it forward.
	Meta json.RawMessage `json:"meta,omitempty"`
}

// JournalFile is one file a commit installs.
type JournalFile struct {
	Path string `json:"path"`
	// NewSHA256 is the hash of the content installed; empty when the
	// commit removes the file.
	NewSHA256 string `json:"new_sha256,omitempty"`
	// Old is the content replaced (nil with OldAbsent: there was none).
	Old       []byte      `json:"old,omitempty"`
	OldAbsent bool        `json:"old_absent,omitempty"`
	OldMode   os.FileMode `json:"old_mode,omitempty"`
}

// Read returns the journal's record; a missing journal is an empty one.
func (j *Journal) Read() (*Record, error) {
	f, err := os.Open(j.Path)
	if errors.Is(err, os.ErrNotExist) {
		return &Record{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the commit journal: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxJournalSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the commit journal: %w", err)
	}
	return ParseJournal(data)
}

// ParseJournal decodes a journal's content. Unknown fields are refused:
// a record this release does not fully understand must not be acted on
// as if it did.
func ParseJournal(data []byte) (*Record, error) {
	if len(data) > MaxJournalSize {
		return nil, fmt.Errorf("commit journal: larger than %d bytes", MaxJournalSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return &Record{}, nil
	}
	var r Record
	if err := strictjson.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("commit journal: %w", err)
	}
	if in := r.Intent; in != nil {
		for _, f := range in.Files {
			if !filepath.IsAbs(f.Path) || filepath.Clean(f.Path) != f.Path {
				return nil, fmt.Errorf("commit journal: file path %q is not absolute and clean", f.Path)
			}
			if f.OldAbsent && f.Old != nil {
				return nil, fmt.Errorf("commit journal: %s is both absent and has content", f.Path)
			}
		}
	}
	return &r, nil
}

// Write replaces the journal's record, durably.
func (j *Journal) Write(r *Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(j.Path), 0o750); err != nil {
		return fmt.Errorf("writing the commit journal: %w", err)
	}
	// 0600: it holds the old content of generated files, secrets included.
	if err := atomicfile.WriteFile(j.Path, data, 0o600); err != nil {
		return fmt.Errorf("writing the commit journal: %w", err)
	}
	return nil
}

// Restore puts every file the intent installed back as it was before,
// last first. Files already as they were are not touched. It joins
// every error rather than stopping at the first, so as much as can be
// put back is.
func (in *Intent) Restore() error {
	var errs []error
	for i := len(in.Files) - 1; i >= 0; i-- {
		f := in.Files[i]
		cur, err := os.ReadFile(f.Path)
		absent := errors.Is(err, os.ErrNotExist)
		if err != nil && !absent {
			errs = append(errs, err)
			continue
		}
		if f.OldAbsent {
			if !absent {
				if err := atomicfile.Remove(f.Path); err != nil {
					errs = append(errs, err)
				}
			}
			continue
		}
		if !absent && bytes.Equal(cur, f.Old) {
			continue
		}
		mode := f.OldMode
		if mode == 0 {
			mode = 0o644
		}
		if err := atomicfile.WriteFile(f.Path, f.Old, mode); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// journal records the commit's intent: from and to, every file with
// what it replaces, the handlers it runs. What the journal kept is
// carried over.
func (e *Engine) journal(t Txn, revision int, running *configtree.Node, plans []*plan, b *backup) error {
	rec, err := t.Journal.Read()
	if err != nil {
		return err
	}
	in := &Intent{FromRevision: revision, ToRevision: revision + 1, From: running.String(), To: t.Candidate.String(), Meta: t.Meta}
	for _, s := range b.saved {
		jf := JournalFile{Path: s.path, OldAbsent: s.absent, OldMode: s.mode}
		if !s.absent {
			jf.Old = s.data
			if jf.Old == nil {
				jf.Old = []byte{}
			}
		}
		if s.data2 != nil {
			jf.NewSHA256 = sha(s.data2)
		}
		in.Files = append(in.Files, jf)
	}
	for _, p := range plans {
		in.Handlers = append(in.Handlers, p.h.Name())
	}
	rec.Intent = in
	return t.Journal.Write(rec)
}
