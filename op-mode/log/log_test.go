package oplog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
)

// fakeJournal is a journalctl that prints its arguments and two lines:
// the journal itself is the system's, the test checks what is asked of
// it and how the answer is shown.
func fakeJournal(t *testing.T) *Journal {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "journalctl")
	script := "#!/bin/sh\necho \"2026-12-01T10:00:00+0000 host journalctl-args: $*\"\necho '2026-12-01T10:00:01+0000 host ctsyncd[42]: commit STATE=ok'\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &Journal{Journalctl: bin, Enabled: func() bool { return true }}
}

var noJournal = &Journal{Enabled: func() bool { return false }}

func writeLog(t *testing.T, root paths.Root, name string, lines int) {
	t.Helper()
	if err := os.MkdirAll(root.LogDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, "(%s) line %d\n", name, i)
	}
	if err := os.WriteFile(filepath.Join(root.LogDir(), name), []byte(b.String()), 0o640); err != nil {
		t.Fatal(err)
	}
}

// The root is replaced by ROOT in the goldens.
func TestShow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		what    string
		tail    int
		journal bool
		json    bool
	}{
		{name: "conntrack-sync-file", what: "conntrack-sync"},
		{name: "conntrack-sync-tail", what: "conntrack-sync", tail: 3},
		{name: "vrrp-journal", what: "vrrp", tail: 5, journal: true},
		{name: "ctsyncd-journal", what: "ctsyncd", journal: true},
		{name: "vrrp-json", what: "vrrp", tail: 2, json: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := paths.Root{Dir: t.TempDir()}
			writeLog(t, root, "conntrackd.log", 10)
			writeLog(t, root, "keepalived.log", 4)
			j := noJournal
			if tc.journal {
				j = fakeJournal(t)
			}
			var out bytes.Buffer
			env := &opcmd.Env{Root: root, Out: &out, JSON: tc.json}
			if err := Show(context.Background(), env, j, tc.what, tc.tail); err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(out.String(), root.Dir, "ROOT")
			ext := ".txt"
			if tc.json {
				ext = ".json"
			}
			golden.Check(t, golden.Dir("op-mode", "log", tc.name+ext), []byte(got))
		})
	}
}

func TestShowErrors(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	env := &opcmd.Env{Root: root, Out: &bytes.Buffer{}}
	if err := Show(context.Background(), env, noJournal, "ctsyncd", 0); err == nil || !strings.Contains(err.Error(), "no log") {
		t.Fatalf("no log anywhere: %v", err)
	}
	if err := Show(context.Background(), env, noJournal, "bgp", 0); err == nil || !strings.Contains(err.Error(), `unknown log "bgp"`) {
		t.Fatalf("unknown log: %v", err)
	}
	for _, a := range [][]string{{}, {"vrrp", "tail"}, {"vrrp", "tail", "0"}, {"vrrp", "tail", "x"}, {"vrrp", "head", "3"}} {
		if _, _, err := parseArgs(a, true); err == nil {
			t.Errorf("parseArgs(%q) accepted", a)
		}
	}
}

// TestTailLargeFile: the last lines of a file larger than one read.
func TestTailLargeFile(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	writeLog(t, root, "conntrackd.log", 20000)
	lines, err := tailFile(filepath.Join(root.LogDir(), "conntrackd.log"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := "(conntrackd.log) line 19999|(conntrackd.log) line 20000"; strings.Join(lines, "|") != want {
		t.Fatalf("tail 2 = %q, want %q", lines, want)
	}
}

// TestMonitorFile: lines appended after the start are shown, earlier
// ones are not, and a truncated file is read again from its start.
func TestMonitorFile(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	writeLog(t, root, "keepalived.log", 3)
	path := filepath.Join(root.LogDir(), "keepalived.log")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := ioPipe()
	done := make(chan error, 1)
	go func() {
		done <- Monitor(ctx, &opcmd.Env{Root: root, Out: pw}, noJournal, "vrrp", 10*time.Millisecond)
	}()
	appendLine := func(s string) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, s)
		f.Close()
	}
	time.Sleep(50 * time.Millisecond) // Monitor has seeked to the end
	appendLine("Entering MASTER STATE")
	if l := pr.next(t); l != "Entering MASTER STATE" {
		t.Fatalf("first line %q", l)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	appendLine("after rotation")
	if l := pr.next(t); l != "after rotation" {
		t.Fatalf("line after truncation %q", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type linePipe struct{ ch chan string }

func ioPipe() (*linePipe, *linePipe) { p := &linePipe{ch: make(chan string, 16)}; return p, p }

func (p *linePipe) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		p.ch <- l
	}
	return len(b), nil
}

func (p *linePipe) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-p.ch:
		return l
	case <-time.After(5 * time.Second):
		t.Fatal("no line within 5 s")
		return ""
	}
}

// FuzzParseArgs: any words are either refused or give a known log and a
// positive line count (or 0, all of it).
func FuzzParseArgs(f *testing.F) {
	f.Add("vrrp", "tail", "10")
	f.Add("ctsyncd", "", "")
	f.Add("conntrack-sync", "tail", "-1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var words []string
		for _, w := range []string{a, b, c} {
			if w != "" {
				words = append(words, w)
			}
		}
		what, n, err := parseArgs(words, true)
		if err != nil {
			return
		}
		if n < 0 || what != words[0] || (n == 0) != (len(words) == 1) {
			t.Fatalf("parseArgs(%q) = %q, %d", words, what, n)
		}
	})
}

// BenchmarkTail: the last 100 lines of a 200,000-line log, which reads
// only its end.
func BenchmarkTail(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "conntrackd.log")
	var sb strings.Builder
	for i := 0; i < 200000; i++ {
		fmt.Fprintf(&sb, "[Wed Dec  2 00:27:39 2026] (pid=62) [notice] line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tailFile(path, 100); err != nil {
			b.Fatal(err)
		}
	}
}
