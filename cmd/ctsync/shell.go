package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ergochat/readline"

	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/schema"
)

// The interactive shell's line editing is github.com/ergochat/readline,
// the maintained fork of chzyer/readline: emacs keys, history with
// Ctrl-R search and a history file, and, unlike chzyer's, it reads the
// terminal only while a line is being read, so an op-mode command run
// from the shell (run reset conntrack asks for confirmation) gets its
// own input. TAB and `?` are the shell's own (see keys): readline's
// completion cannot show a description beside each choice.

// historyPath is the per-user history file: $XDG_STATE_HOME/ctsync, else
// ~/.local/state/ctsync. Never under the router's root: it is the
// operator's, not the router's. "" (no home) keeps no history.
func historyPath() string {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return ""
		}
		dir = filepath.Join(home, ".local", "state")
	}
	dir = filepath.Join(dir, "ctsync")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	return filepath.Join(dir, "history")
}

// interactive is the shell on a terminal. The commands run in ctsyncd
// through the same session protocol as scripts; run lines run here.
func interactive(g globals, c *configd.Client, tty *os.File, stdout, stderr io.Writer) int {
	comp := &completer{schema: schema.Default()}
	comp.candidate = func() *configtree.Node {
		out, err := c.Candidate()
		if err != nil {
			return nil
		}
		t := configtree.New()
		for _, l := range strings.Split(out, "\n") {
			words, err := configtree.Tokenize(l)
			if err != nil || len(words) < 2 {
				continue
			}
			comp.schema.Set(t, words[1:]) // a word the schema refuses is only not offered
		}
		return t
	}
	var rl lineReader
	if os.Getenv("TERM") == "dumb" {
		// A terminal without cursor control (an editor's shell buffer)
		// gets no line editing: readline would wait for its answer to
		// the cursor-position request before every prompt.
		rl = &plainReader{sc: bufio.NewScanner(tty), out: stdout}
	} else {
		r, err := newReadline(comp, tty, stdout, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "ctsync:", err)
			return 1
		}
		rl = r
	}
	defer rl.Close()
	// An empty line runs nothing but tells the level and whether another
	// session already holds changes, so the first prompt is right too.
	last, err := c.Exec("")
	if err != nil {
		fmt.Fprintln(stderr, "ctsync:", err)
		return 1
	}
	for {
		comp.level = last.Level
		fmt.Fprintln(stdout, prompt(last))
		line, err := rl.ReadLine()
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			// Ctrl-C drops the line being typed, never the shell nor
			// its candidate.
			continue
		case errors.Is(err, io.EOF):
			// Ctrl-D on an empty line is exit, with exit's guard.
			line = "exit"
			fmt.Fprintln(stdout, line)
		case err != nil:
			fmt.Fprintln(stderr, "ctsync:", err)
			return 1
		}
		if words, ok := runLine(line); ok {
			if err := runOp(g, words, tty, stdout, stderr); err != nil {
				fmt.Fprintf(stdout, "\n  %s\n\n", err)
			}
			continue
		}
		r, err := c.Exec(line)
		if err != nil {
			fmt.Fprintln(stderr, "ctsync:", err)
			return 1
		}
		io.WriteString(stdout, r.Out)
		if r.Err != "" {
			fmt.Fprintf(stdout, "\n  %s\n\n", strings.ReplaceAll(r.Err, "\n", "\n  "))
		}
		if r.Exit {
			return 0
		}
		last = r
	}
}

// lineReader reads the operator's lines: readline's, or plainReader's.
type lineReader interface {
	ReadLine() (string, error)
	Close() error
}

func newReadline(comp *completer, tty *os.File, stdout, stderr io.Writer) (*readline.Instance, error) {
	var rl *readline.Instance
	cfg := &readline.Config{
		Prompt:            "# ",
		HistoryFile:       historyPath(),
		HistoryLimit:      1000,
		HistorySearchFold: true,
		Stdin:             tty,
		Stdout:            stdout,
		Stderr:            stderr,
		Listener: func(line []rune, pos int, key rune) ([]rune, int, bool) {
			return keys(comp, func(s string) { rl.Write([]byte(s)) }, line, pos, key)
		},
	}
	rl, err := readline.NewFromConfig(cfg)
	return rl, err
}

// plainReader reads lines with no editing, for a dumb terminal.
type plainReader struct {
	sc  *bufio.Scanner
	out io.Writer
}

func (p *plainReader) ReadLine() (string, error) {
	io.WriteString(p.out, "# ")
	if !p.sc.Scan() {
		if err := p.sc.Err(); err != nil {
			return "", err
		}
		return "", io.EOF
	}
	return p.sc.Text(), nil
}

func (p *plainReader) Close() error { return nil }

// keys handles TAB and `?`, which readline has already put in the line
// at pos-1: TAB completes the word (or as much of it as the choices
// share) or lists the choices with their descriptions; `?` lists what
// may follow and leaves the line as it was. A `?` inside an open quote
// is text. print writes above the line being edited.
func keys(c *completer, print func(string), line []rune, pos int, key rune) ([]rune, int, bool) {
	if (key != '\t' && key != '?') || pos == 0 || line[pos-1] != key {
		return nil, 0, false
	}
	head := string(line[:pos-1])
	rest := string(line[pos:])
	if key == '?' {
		if _, err := configtree.Tokenize(head); err != nil {
			return nil, 0, false // inside a quote: a literal '?'
		}
	}
	strip := func() ([]rune, int, bool) {
		return []rune(head + rest), len([]rune(head)), true
	}
	partial, matches, ok := c.complete(head)
	if !ok || len(matches) == 0 {
		if key == '?' {
			print("# " + head + rest + "\n  (nothing may follow)\n")
		}
		return strip()
	}
	if key == '\t' {
		var words []string
		for _, m := range matches {
			if !strings.HasPrefix(m.Word, "<") {
				words = append(words, m.Word)
			}
		}
		if len(words) == 1 {
			nl := head[:len(head)-len(partial)] + configtree.Quote(words[0]) + " "
			return []rune(nl + rest), len([]rune(nl)), true
		}
		if p := commonPrefix(words); len(p) > len(partial) {
			nl := head[:len(head)-len(partial)] + p
			return []rune(nl + rest), len([]rune(nl)), true
		}
	}
	// The line as typed stays above its choices, as on a router.
	print("# " + head + rest + listing(matches))
	return strip()
}

// listing is the choices, one a line with its description.
func listing(ms []schema.Completion) string {
	var b strings.Builder
	b.WriteString("\n")
	w := 0
	for _, m := range ms {
		w = max(w, len(m.Word))
	}
	w = min(w, 28)
	for _, m := range ms {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, m.Word, m.Help)
	}
	return b.String()
}

func commonPrefix(ws []string) string {
	if len(ws) == 0 {
		return ""
	}
	p := ws[0]
	for _, w := range ws[1:] {
		for !strings.HasPrefix(w, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
