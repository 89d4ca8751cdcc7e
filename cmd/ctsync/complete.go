package main

import (
	"net"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/session"
)

// completer answers TAB and `?` from the schema, the session's level and
// candidate, and the router itself.
type completer struct {
	schema *schema.Schema
	// level is the session's edit level, which paths are relative to.
	level []string
	// candidate returns the session's candidate, for existing names; nil
	// or a nil result offers none.
	candidate func() *configtree.Node
	// interfaces lists the network interfaces of the namespace the shell
	// runs in; nil means net.Interfaces.
	interfaces func() []string
}

// references are the leaves whose value names an entry of a tag node
// elsewhere in the configuration: completion offers the existing names.
var references = map[string][]string{
	"high-availability vrrp sync-group member":                  {"high-availability", "vrrp", "group"},
	"service conntrack-sync failover-mechanism vrrp sync-group": {"high-availability", "vrrp", "sync-group"},
}

func systemInterfaces() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, i := range ifs {
		out = append(out, i.Name)
	}
	slices.Sort(out)
	return out
}

// complete returns the word being typed (partial) and what may stand
// there, filtered by it; ok is false where the shell has nothing to
// offer.
func (c *completer) complete(head string) (partial string, matches []schema.Completion, ok bool) {
	words, err := configtree.Tokenize(head)
	if err != nil {
		return "", nil, false
	}
	if !strings.HasSuffix(head, " ") && !strings.HasSuffix(head, "\t") && len(words) > 0 {
		partial = words[len(words)-1]
		words = words[:len(words)-1]
	}
	choices := c.choices(words)
	if choices == nil {
		return "", nil, false
	}
	for _, ch := range choices {
		if strings.HasPrefix(ch.Word, partial) || strings.HasPrefix(ch.Word, "<") {
			matches = append(matches, ch)
		}
	}
	return partial, matches, true
}

func (c *completer) choices(words []string) []schema.Completion {
	if len(words) == 0 {
		return session.Commands
	}
	cmd, err := session.CommandWord(words[0])
	if err != nil {
		return nil
	}
	args := words[1:]
	switch cmd {
	case "set", "delete", "edit":
		if cmd == "delete" {
			return c.existing(args)
		}
		return c.path(cmd, args)
	case "show":
		out := c.existing(args)
		return append(out, schema.Completion{Word: "commands", Help: "Show as set commands"})
	case "comment":
		return append(c.existing(args), schema.Completion{Word: `<"text">`, Help: "The comment, quoted; \"\" removes it"})
	case "copy", "rename":
		if i := slices.Index(args, "to"); i >= 0 {
			return c.path(cmd, args[i+1:])
		}
		// After a whole tag entry only "to" may follow.
		if p, err := c.schema.Expand(append(slices.Clone(c.level), args...)); err == nil {
			if r, err := c.schema.Resolve(p); err == nil && !r.HasValue && len(r.Steps) >= 2 && r.Steps[len(r.Steps)-2].Tag {
				return []schema.Completion{{Word: "to", Help: "Then the new entry: TAG NEWKEY (" + cmd + " group wan to group wan2)"}}
			}
		}
		return c.existing(args)
	case "run":
		return opCompletions(args)
	case "commit":
		if len(args) == 0 {
			return []schema.Completion{{Word: "check", Help: "Check the candidate without committing"}, {Word: "comment", Help: "Commit with a comment for the archive"}, {Word: "confirmed", Help: "Commit; roll back unless confirmed within MINUTES"}, {Word: "local", Help: "Commit on this router only, where config-sync would commit on both"}}
		}
		if len(args) == 1 && args[0] == "check" {
			return []schema.Completion{{Word: "local", Help: "Check on this router only, where config-sync would have the peer check too"}}
		}
	case "compare":
		if len(args) == 0 {
			return []schema.Completion{{Word: "saved", Help: "Compare the saved config.boot with the candidate"}, {Word: "<N>", Help: "Revision: 0 is the running config, 1 the one before (show system commit lists them)"}}
		}
		if len(args) == 1 {
			return []schema.Completion{{Word: "<N>", Help: "Revision to compare to"}}
		}
	case "rollback":
		if len(args) == 0 {
			return []schema.Completion{{Word: "<N>", Help: "Revision: 0 is the running config, 1 the one before (show system commit lists them)"}}
		}
	case "commit-confirm":
		if len(args) == 0 {
			return []schema.Completion{{Word: "<MINUTES>", Help: "Minutes to confirm in (default 10)"}}
		}
	case "exit":
		if len(args) == 0 {
			return []schema.Completion{{Word: "discard", Help: "Drop uncommitted changes and leave the shell"}}
		}
	case "load", "merge", "save":
		if len(args) == 0 {
			return []schema.Completion{{Word: "<FILE>", Help: "config.boot file (relative names are under the config directory)"}}
		}
	}
	return nil
}

// existing completes a path to what the candidate holds, for delete,
// show, comment and the source of copy and rename: only the nodes,
// entries and values that exist, with their descriptions. Without the
// candidate it completes as set does.
func (c *completer) existing(args []string) []schema.Completion {
	var cand *configtree.Node
	if c.candidate != nil {
		cand = c.candidate()
	}
	if cand == nil {
		return c.path("show", args)
	}
	p, err := c.schema.Expand(append(slices.Clone(c.level), args...))
	if err != nil {
		return nil
	}
	at := cand.Get(p...)
	if at == nil {
		return []schema.Completion{}
	}
	n := c.schema.Lookup(p)
	if n != nil && n.Kind != schema.Container && len(p) > 0 && p[len(p)-1] == n.Name {
		// A tag key or a leaf's value: those in the candidate.
		var out []schema.Completion
		for _, v := range names(at) {
			out = append(out, schema.Completion{Word: v, Help: n.Description})
		}
		for _, v := range at.Values {
			out = append(out, schema.Completion{Word: v, Help: n.Description})
		}
		return out
	}
	out := []schema.Completion{}
	for _, ch := range c.schema.Complete(p) {
		if at.Child(ch.Word) != nil {
			out = append(out, ch)
		}
	}
	return out
}

// path completes a configuration path relative to the level: node names
// with their YANG descriptions, enum values, a type hint for free values,
// and the live values that fit (the router's interfaces, existing entries
// and the names a reference may take).
func (c *completer) path(cmd string, args []string) []schema.Completion {
	p, err := c.schema.Expand(append(slices.Clone(c.level), args...))
	if err != nil {
		return nil
	}
	out := c.schema.Complete(p)
	n := c.schema.Lookup(p)
	// Live values only where the next word is a tag key or a leaf's
	// value: the path ends at the node's own name.
	if n == nil || n.Kind == schema.Container || len(p) == 0 || p[len(p)-1] != n.Name {
		return out
	}
	var live []schema.Completion
	have := map[string]bool{}
	add := func(w, help string) {
		if !have[w] {
			have[w] = true
			live = append(live, schema.Completion{Word: w, Help: help})
		}
	}
	var cand *configtree.Node
	if c.candidate != nil {
		cand = c.candidate()
	}
	if n.Kind == schema.Tag && cand != nil {
		for _, e := range names(cand.Get(p...)) {
			add(e, "existing "+n.Name)
		}
	}
	if ref, ok := references[strings.Join(n.Path(), " ")]; ok && cand != nil {
		for _, e := range names(cand.Get(ref...)) {
			add(e, "existing "+ref[len(ref)-1])
		}
	}
	if n.TypeName() == "interface-name" && cmd != "delete" {
		ifs := c.interfaces
		if ifs == nil {
			ifs = systemInterfaces
		}
		for _, i := range ifs() {
			add(i, "interface on this router")
		}
	}
	return append(live, out...)
}

func names(n *configtree.Node) []string {
	if n == nil {
		return nil
	}
	out := make([]string, len(n.Children))
	for i, c := range n.Children {
		out[i] = c.Name
	}
	return out
}
