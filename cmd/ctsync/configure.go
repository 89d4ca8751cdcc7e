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
		if r != nil && r.ConfirmBy != "" {
			p += " (commit-confirm pending: confirm by " + r.ConfirmBy + ")"
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
// (list choices with their help).
func complete(t *term.Terminal, s *schema.Schema, line string, pos int, key rune) (string, int, bool) {
	head := line[:pos]
	partial, matches, ok := completions(s, head)
	if !ok {
		return "", 0, false
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

// shellCommands are the config shell's commands, for completion and help.
var shellCommands = []schema.Completion{
	{Word: "set", Help: "Set a configuration value"},
	{Word: "delete", Help: "Delete a configuration node or value"},
	{Word: "show", Help: "Show the candidate configuration"},
	{Word: "compare", Help: "Compare the candidate with the running config, or revisions N [M]"},
	{Word: "discard", Help: "Discard uncommitted changes"},
	{Word: "commit", Help: "Commit the candidate [check | comment TEXT]"},
	{Word: "commit-confirm", Help: "Commit; roll back unless confirmed within MINUTES (default 10)"},
	{Word: "confirm", Help: "Keep a commit-confirm"},
	{Word: "rollback", Help: "Load revision N into the candidate"},
	{Word: "save", Help: "Save the running config [FILE]"},
	{Word: "load", Help: "Replace the candidate with FILE (VyOS or Vyatta config.boot)"},
	{Word: "merge", Help: "Merge FILE into the candidate"},
	{Word: "exit", Help: "Leave the shell (exit discard drops uncommitted changes)"},
}

// completions returns the word being typed and what may stand there;
// ok is false where the shell has nothing to offer.
func completions(s *schema.Schema, head string) (partial string, matches []schema.Completion, ok bool) {
	words, err := configtree.Tokenize(head)
	if err != nil {
		return "", nil, false
	}
	if !strings.HasSuffix(head, " ") && len(words) > 0 {
		partial = words[len(words)-1]
		words = words[:len(words)-1]
	}
	var choices []schema.Completion
	switch {
	case len(words) == 0:
		choices = shellCommands
	case words[0] == "set" || words[0] == "delete" || words[0] == "show":
		choices = s.Complete(words[1:])
	case words[0] == "commit" && len(words) == 1:
		choices = []schema.Completion{{Word: "check", Help: "Check the candidate without committing"}, {Word: "comment", Help: "Commit with a comment for the archive"}}
	case (words[0] == "rollback" || words[0] == "compare") && len(words) < 3:
		choices = []schema.Completion{{Word: "<N>", Help: "Revision: 0 is the running config, 1 the one before (show system commit lists them)"}}
	case words[0] == "commit-confirm" && len(words) == 1:
		choices = []schema.Completion{{Word: "<MINUTES>", Help: "Minutes to confirm in (default 10)"}}
	default:
		return "", nil, false
	}
	for _, c := range choices {
		if strings.HasPrefix(c.Word, partial) || strings.HasPrefix(c.Word, "<") {
			matches = append(matches, c)
		}
	}
	return partial, matches, true
}
