package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/schema"
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
		return interactive(c, f, stdout)
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
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

// interactive is the shell on a terminal: line editing, history, TAB
// completion and `?` help from the schema. The commands themselves run
// in ctsyncd through the same session protocol as scripts.
func interactive(c *configd.Client, tty *os.File, stdout io.Writer) int {
	old, err := term.MakeRaw(int(tty.Fd()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctsync:", err)
		return 1
	}
	defer term.Restore(int(tty.Fd()), old)
	t := term.NewTerminal(struct {
		io.Reader
		io.Writer
	}{tty, stdout}, "")
	s := schema.Default()
	t.AutoCompleteCallback = func(line string, pos int, key rune) (string, int, bool) {
		if key != '\t' && key != '?' {
			return "", 0, false
		}
		return complete(t, s, line, pos, key)
	}
	prompt := func(r *configd.Response) string {
		p := "[edit]"
		if r != nil && r.Others > 0 {
			p += " (another session has uncommitted changes)"
		}
		return p + "\r\n# "
	}
	// An empty line runs nothing but tells whether another session
	// already holds changes, so the first prompt is right too.
	first, err := c.Exec("")
	if err != nil {
		first = nil
	}
	t.SetPrompt(prompt(first))
	for {
		line, err := t.ReadLine()
		if err != nil {
			return 0
		}
		r, err := c.Exec(line)
		if err != nil {
			fmt.Fprintf(t, "%v\r\n", err)
			return 1
		}
		out := r.Out
		if r.Err != "" {
			out += "\n  " + strings.ReplaceAll(r.Err, "\n", "\n  ") + "\n\n"
		}
		t.Write([]byte(strings.ReplaceAll(out, "\n", "\r\n")))
		if r.Exit {
			return 0
		}
		t.SetPrompt(prompt(r))
	}
}

// complete answers TAB (complete the word, or list choices) and `?`
// (list choices with their help) from the schema.
func complete(t *term.Terminal, s *schema.Schema, line string, pos int, key rune) (string, int, bool) {
	head := line[:pos]
	words, err := configtree.Tokenize(head)
	if err != nil || len(words) == 0 {
		return "", 0, false
	}
	cmd := words[0]
	if cmd != "set" && cmd != "delete" && cmd != "show" {
		return "", 0, false
	}
	path := words[1:]
	partial := ""
	if !strings.HasSuffix(head, " ") && len(path) > 0 {
		partial = path[len(path)-1]
		path = path[:len(path)-1]
	}
	var matches []schema.Completion
	for _, c := range s.Complete(path) {
		if strings.HasPrefix(c.Word, partial) {
			matches = append(matches, c)
		}
	}
	if key == '\t' && len(matches) == 1 && !strings.HasPrefix(matches[0].Word, "<") {
		nl := head[:len(head)-len(partial)] + matches[0].Word + " "
		return nl + line[pos:], len(nl), true
	}
	var b bytes.Buffer
	b.WriteString("\r\n")
	for _, m := range matches {
		fmt.Fprintf(&b, "  %-28s %s\r\n", m.Word, m.Help)
	}
	t.Write(b.Bytes())
	return line, pos, true
}
