package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/session"
)

// configure runs the config shell: a script when stdin is not a terminal
// (one command a line, stopping at the first failure), else the
// interactive shell.
func configure(ctx context.Context, g globals, stdin io.Reader, stdout, stderr io.Writer) int {
	c, err := configd.Dial(g.root.CtsyncdSocket())
	if err != nil {
		fmt.Fprintln(stderr, "ctsync:", err)
		return 1
	}
	defer c.Close()
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return interactive(g, c, f, stdout, stderr)
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if words, ok := runLine(line); ok {
			// The op command must not read the script's next lines.
			if err := runOp(g, words, strings.NewReader(""), stdout, stderr); err != nil {
				fmt.Fprintf(stderr, "line %d: %s\n%s\n", n, line, err)
				return 1
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
			fmt.Fprintf(stderr, "line %d: %s\n%s\n", n, line, r.Err)
			return 1
		}
		if r.Exit {
			return 0
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "ctsync:", err)
		return 1
	}
	return 0
}

// runLine reports whether line is a `run` (or an abbreviation of it) and
// returns the op-mode words after it. A line that does not tokenize is
// not one: the session explains why.
func runLine(line string) ([]string, bool) {
	words, err := configtree.Tokenize(line)
	if err != nil || len(words) == 0 {
		return nil, false
	}
	if w, err := session.CommandWord(words[0]); err != nil || w != "run" {
		return nil, false
	}
	return words[1:], true
}

// prompt is the line above the input: the level, and what the operator
// must know before typing (another session's changes, a pending
// commit-confirm).
func prompt(r *configd.Response) string {
	p := "[edit]"
	if r != nil && len(r.Level) > 0 {
		p = "[edit " + configtree.PathString(r.Level) + "]"
	}
	if r != nil && r.Others > 0 {
		p += " (another session has uncommitted changes)"
	}
	if r != nil && r.ConfirmBy != "" {
		p += " (commit-confirm pending: confirm by " + r.ConfirmBy + ")"
	}
	return p
}
