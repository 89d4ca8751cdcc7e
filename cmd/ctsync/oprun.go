package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/schema"
)

// opCommand is one op-mode command as `run` and its completion see it:
// the registry's, and show configuration, which main dispatches itself.
type opCommand struct {
	path       []string
	args, help string
}

func opCommands() []opCommand {
	out := []opCommand{
		{path: []string{"show", "configuration"}, help: "The running configuration"},
		{path: []string{"show", "configuration", "commands"}, help: "The running configuration as set commands"},
		{path: []string{"show", "configuration", "json"}, help: "The running configuration as RFC 7951 JSON"},
	}
	for _, c := range opcmd.All() {
		out = append(out, opCommand{path: c.Path, args: c.Args, help: c.Help})
	}
	return out
}

// expandOp expands unique abbreviations of an op-mode command's fixed
// words ("sh conntrack-sync st" is "show conntrack-sync status"); the
// words after the command's path are its arguments, kept as typed.
func expandOp(words []string) ([]string, error) {
	cmds := opCommands()
	out := slices.Clone(words)
	for i := range out {
		var next []string
		for _, c := range cmds {
			if len(c.path) > i && slices.Equal(c.path[:i], out[:i]) && !slices.Contains(next, c.path[i]) {
				next = append(next, c.path[i])
			}
		}
		m := schema.Match(next, out[i])
		switch {
		case len(m) == 0:
			return out, nil
		case len(m) > 1:
			return nil, fmt.Errorf("run %s: ambiguous: %q could be %s", strings.Join(out[:i+1], " "), out[i], strings.Join(m, ", "))
		}
		out[i] = m[0]
	}
	return out, nil
}

// opCompletions lists what may follow the op-mode words typed so far.
func opCompletions(words []string) []schema.Completion {
	words, err := expandOp(words)
	if err != nil {
		return nil
	}
	var out []schema.Completion
	seen := map[string]bool{}
	for _, c := range opCommands() {
		switch {
		case len(c.path) > len(words) && slices.Equal(c.path[:len(words)], words):
			w := c.path[len(words)]
			if seen[w] {
				continue
			}
			seen[w] = true
			help := ""
			if len(c.path) == len(words)+1 {
				help = c.help
			}
			out = append(out, schema.Completion{Word: w, Help: help})
		case len(c.path) == len(words) && slices.Equal(c.path, words) && c.args != "":
			out = append(out, schema.Completion{Word: "<" + c.args + ">", Help: c.help})
		}
	}
	return out
}

// runOp is the config shell's `run`: the op-mode command goes through
// the same dispatcher as `ctsync WORDS...`, so every op-mode command,
// present or added later, runs from config mode too. in is what the
// command may read (the terminal; nothing for a script, whose lines are
// the shell's own).
func runOp(g globals, words []string, in io.Reader, stdout, stderr io.Writer) error {
	if len(words) == 0 {
		return errors.New("run: an op-mode command is required (run show conntrack-sync status)")
	}
	words, err := expandOp(words)
	if err != nil {
		return err
	}
	if words[0] == "configure" || words[0] == "vrrp-transition" {
		return fmt.Errorf("run %s: not an op-mode command", words[0])
	}
	args := append([]string{"--root", g.root.Dir}, words...)
	if g.json {
		args = append(args, "--json")
	}
	if rc := run(args, in, stdout, stderr); rc != 0 {
		return fmt.Errorf("run %s: exit status %d", strings.Join(words, " "), rc)
	}
	return nil
}
