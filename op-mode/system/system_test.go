package system

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
)

// TestShowSystemCommit runs the registered command over an archive on
// disk, with no ctsyncd: the list, one revision's diff, JSON, and the
// usage errors.
func TestShowSystemCommit(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	a := archive.Open(root.ArchiveDir())
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	for _, e := range []archive.Entry{
		{Time: at, User: "alice", Kind: archive.KindCommit, Comment: "first", Diff: "+high-availability {\n", Config: "high-availability {\n}\n"},
		{Time: at.Add(time.Minute), User: "bob", Kind: archive.KindCommit, Config: "high-availability {\n}\n"},
	} {
		if _, err := a.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		words   []string
		json    bool
		want    []string // in the output
		wantErr string
	}{
		{words: []string{"show", "system", "commit"}, want: []string{"alice", "bob", "first"}},
		{words: []string{"show", "system", "commit", "diff", "1"}, want: []string{"Revision 1 (seq 1), 2026-01-02 03:04:05 by alice via commit: first", "+high-availability {"}},
		{words: []string{"show", "system", "commit", "diff", "0"}, want: []string{"by bob", "(no configuration changes)"}},
		{words: []string{"show", "system", "commit"}, json: true, want: []string{`"sessions_with_uncommitted_changes":0`, `"user":"alice"`}},
		{words: []string{"show", "system", "commit", "diff", "2"}, wantErr: "show system commit diff 2: revision 2: no such revision (the archive holds 0-1)"},
		{words: []string{"show", "system", "commit", "diff", "x"}, wantErr: `"x" is not a revision number`},
		{words: []string{"show", "system", "commit", "diff"}, wantErr: "usage: show system commit [diff N]"},
		{words: []string{"show", "system", "commit", "bogus"}, wantErr: "usage: show system commit [diff N]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.words, " "), func(t *testing.T) {
			cmd, rest, err := opcmd.Lookup(tt.words)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = cmd.Run(context.Background(), &opcmd.Env{Root: root, Out: &out, JSON: tt.json}, rest)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.json && !json.Valid(out.Bytes()) {
				t.Errorf("not JSON: %s", out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
