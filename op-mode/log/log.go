// Package oplog is the op-mode family for the logs of the engines and of
// ctsync itself: `show log conntrack-sync|vrrp|ctsyncd [tail N]` and
// `monitor log ...`. A log may be in two places, and both are read:
//
//   - the files under ROOT/var/log/ctsync: what the engines ctsyncd
//     supervises write to their standard output and error (keepalived
//     runs with --log-console), and ctsyncd's own log when there is no
//     journal;
//   - the journal, through journalctl: ctsyncd and the failover hook
//     log there natively with CTSYNC_ROOT set to the router's root, so
//     their lines are this router's even on a machine with several;
//     conntrackd and keepalived log there through syslog, which carries
//     no root, so those are shown only for the system root "/".
//
// Each place is printed as its own section under a "==> ... <==" header
// (as tail(1) does with several files) when there are several.
package oplog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/internal/logging"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
)

const args = "conntrack-sync|vrrp|ctsyncd [tail N]"

func init() {
	opcmd.Register(opcmd.Command{Path: []string{"show", "log"}, Args: args, Help: "Show the log of conntrackd, keepalived and the failover hook, or ctsyncd", Run: runShow})
	opcmd.Register(opcmd.Command{Path: []string{"monitor", "log"}, Args: "conntrack-sync|vrrp|ctsyncd", Help: "Follow a log as it is written (Ctrl-C ends it)", Run: runMonitor})
}

// Source is one place a log is read from.
type Source struct {
	// Name is shown in the section header: the file's path, or
	// "journal MATCH...".
	Name string
	// File is set for a file under the root.
	File string
	// Match is set for the journal: journalctl's field matches.
	Match []string
}

// Journal says how to reach the journal; tests replace it.
type Journal struct {
	// Journalctl is the binary; "" means look it up on $PATH.
	Journalctl string
	// Enabled reports whether the journal runs; nil means the socket
	// answers (logging.JournalEnabled).
	Enabled func() bool
}

// System is the journal of the machine.
var System = &Journal{}

func (j *Journal) binary() (string, bool) {
	if j.Enabled != nil && !j.Enabled() {
		return "", false
	}
	if j.Enabled == nil && !logging.JournalEnabled() {
		return "", false
	}
	if j.Journalctl != "" {
		return j.Journalctl, true
	}
	p, err := exec.LookPath("journalctl")
	return p, err == nil
}

// Sources lists where the log of what lives, for root, in the order
// shown; the journal's only when it runs.
func Sources(root paths.Root, what string, j *Journal) ([]Source, error) {
	rootDir := root.Dir
	if rootDir == "" {
		rootDir = "/"
	}
	if abs, err := filepath.Abs(rootDir); err == nil {
		rootDir = abs
	}
	system := rootDir == "/"
	var files []string
	var journal [][]string
	switch what {
	case "conntrack-sync":
		files = []string{root.ConntrackdLog()}
		if system {
			journal = append(journal, []string{"SYSLOG_IDENTIFIER=conntrackd"})
		}
	case "vrrp":
		files = []string{root.KeepalivedLog()}
		if system {
			journal = append(journal, []string{"SYSLOG_IDENTIFIER=Keepalived", "+", "SYSLOG_IDENTIFIER=Keepalived_vrrp"})
		}
		journal = append(journal, []string{"SYSLOG_IDENTIFIER=ctsync-vrrp-transition", logging.RootField + "=" + rootDir})
	case "ctsyncd":
		files = []string{root.CtsyncdLog()}
		journal = append(journal, []string{"SYSLOG_IDENTIFIER=ctsyncd", logging.RootField + "=" + rootDir})
	default:
		return nil, fmt.Errorf("show log: unknown log %q (conntrack-sync, vrrp or ctsyncd)", what)
	}
	var out []Source
	if _, ok := j.binary(); ok {
		for _, m := range journal {
			out = append(out, Source{Name: "journal " + strings.Join(m, " "), Match: m})
		}
	}
	for _, p := range files {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			out = append(out, Source{Name: p, File: p})
		}
	}
	return out, nil
}

// parseArgs reads "WHAT [tail N]"; n is 0 for the whole log.
func parseArgs(a []string, tail bool) (what string, n int, err error) {
	usage := fmt.Errorf("usage: show log %s", args)
	if !tail {
		usage = errors.New("usage: monitor log conntrack-sync|vrrp|ctsyncd")
	}
	switch {
	case len(a) == 1:
		return a[0], 0, nil
	case len(a) == 3 && tail && a[1] == "tail":
		n, err := strconv.Atoi(a[2])
		if err != nil || n < 1 {
			return "", 0, fmt.Errorf("show log: tail %q: a number of lines, at least 1", a[2])
		}
		return a[0], n, nil
	}
	return "", 0, usage
}

// Section is one source's lines, for --json.
type Section struct {
	Source string   `json:"source"`
	Lines  []string `json:"lines"`
}

func runShow(ctx context.Context, env *opcmd.Env, a []string) error {
	what, n, err := parseArgs(a, true)
	if err != nil {
		return err
	}
	return Show(ctx, env, System, what, n)
}

// Show prints the log of what, the last n lines of each source (all
// when n is 0).
func Show(ctx context.Context, env *opcmd.Env, j *Journal, what string, n int) error {
	srcs, err := Sources(env.Root, what, j)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		return fmt.Errorf("show log %s: no log: no journal, and nothing under %s", what, env.Root.LogDir())
	}
	var secs []Section
	for _, s := range srcs {
		lines, err := read(ctx, s, j, n)
		if err != nil {
			return fmt.Errorf("show log %s: %s: %w", what, s.Name, err)
		}
		secs = append(secs, Section{Source: s.Name, Lines: lines})
	}
	if env.JSON {
		enc := json.NewEncoder(env.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(secs)
	}
	w := bufio.NewWriter(env.Out)
	for i, s := range secs {
		if len(secs) > 1 {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "==> %s <==\n", s.Source)
			if len(s.Lines) == 0 {
				fmt.Fprintln(w, "(nothing logged)")
			}
		}
		for _, l := range s.Lines {
			fmt.Fprintln(w, l)
		}
	}
	return w.Flush()
}

func journalArgs(s Source, extra ...string) []string {
	return append(append([]string{"--no-pager", "--quiet", "-o", "short-iso"}, extra...), s.Match...)
}

func read(ctx context.Context, s Source, j *Journal, n int) ([]string, error) {
	if s.File != "" {
		return tailFile(s.File, n)
	}
	bin, _ := j.binary()
	extra := []string{}
	if n > 0 {
		extra = append(extra, "-n", strconv.Itoa(n))
	}
	cmd := exec.CommandContext(ctx, bin, journalArgs(s, extra...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("journalctl: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return splitLines(string(out)), nil
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// tailFile returns the last n lines of path (all when n is 0), reading
// only the end of a large file.
func tailFile(path string, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if n == 0 {
		b, err := io.ReadAll(f)
		if err != nil {
			return nil, err
		}
		return splitLines(string(b)), nil
	}
	// Read back from the end until n line breaks are seen.
	const chunk = 64 * 1024
	var buf []byte
	off := size
	for off > 0 {
		step := int64(chunk)
		if off < step {
			step = off
		}
		off -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		buf = append(b, buf...)
		if strings.Count(strings.TrimRight(string(buf), "\n"), "\n") >= n {
			break
		}
	}
	lines := splitLines(string(buf))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

func runMonitor(ctx context.Context, env *opcmd.Env, a []string) error {
	what, _, err := parseArgs(a, false)
	if err != nil {
		return err
	}
	return Monitor(ctx, env, System, what, 250*time.Millisecond)
}

// Line is one followed line, for --json.
type Line struct {
	Source string `json:"source"`
	Line   string `json:"line"`
}

// Monitor follows every source of what until ctx ends, one line at a
// time as it is written, each prefixed with its source when there are
// several. A file is polled every poll; one that shrinks (logrotate's
// copytruncate) is read again from its start.
func Monitor(ctx context.Context, env *opcmd.Env, j *Journal, what string, poll time.Duration) error {
	srcs, err := Sources(env.Root, what, j)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		return fmt.Errorf("monitor log %s: no log: no journal, and nothing under %s", what, env.Root.LogDir())
	}
	var mu sync.Mutex
	enc := json.NewEncoder(env.Out)
	emit := func(s Source, l string) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case env.JSON:
			_ = enc.Encode(Line{Source: s.Name, Line: l})
		case len(srcs) > 1:
			fmt.Fprintf(env.Out, "%s: %s\n", s.Name, l)
		default:
			fmt.Fprintln(env.Out, l)
		}
	}
	errs := make(chan error, len(srcs))
	for _, s := range srcs {
		go func() {
			if s.File != "" {
				errs <- followFile(ctx, s, poll, emit)
			} else {
				errs <- followJournal(ctx, s, j, emit)
			}
		}()
	}
	var first error
	for range srcs {
		if err := <-errs; err != nil && first == nil && ctx.Err() == nil {
			first = fmt.Errorf("monitor log %s: %w", what, err)
		}
	}
	return first
}

func followFile(ctx context.Context, s Source, poll time.Duration, emit func(Source, string)) error {
	f, err := os.Open(s.File)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	var partial string
	t := time.NewTicker(poll)
	defer t.Stop()
	buf := make([]byte, 64*1024)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st, err := os.Stat(s.File)
		if err != nil {
			continue // being rotated
		}
		if fst, err := f.Stat(); err == nil && !os.SameFile(st, fst) {
			// Replaced (logrotate without copytruncate): the new file.
			if nf, err := os.Open(s.File); err == nil {
				f.Close()
				f, off, partial = nf, 0, ""
			}
		} else if st.Size() < off {
			off, partial = 0, "" // truncated
		}
		for {
			k, err := f.ReadAt(buf, off)
			if k > 0 {
				off += int64(k)
				text := partial + string(buf[:k])
				lines := strings.Split(text, "\n")
				partial = lines[len(lines)-1]
				for _, l := range lines[:len(lines)-1] {
					emit(s, l)
				}
			}
			if err != nil || k < len(buf) {
				break
			}
		}
	}
}

func followJournal(ctx context.Context, s Source, j *Journal, emit func(Source, string)) error {
	bin, _ := j.binary()
	cmd := exec.CommandContext(ctx, bin, journalArgs(s, "--follow", "-n", "0")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		emit(s, sc.Text())
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("journalctl: %w", err)
	}
	return nil
}
