package session

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/migrate"
	"github.com/ctsync/ctsync/internal/schema"
)

// This file is the shell's command parsing: edit levels and the paths
// relative to them, keyword abbreviations, and the commands that act on
// whole nodes (copy, rename, comment).

// Commands are the config shell's commands, in the order help lists
// them. The first word of a line may abbreviate one (sh, del, comm...).
var Commands = []schema.Completion{
	{Word: "set", Help: "Set a configuration value"},
	{Word: "delete", Help: "Delete a configuration node or value"},
	{Word: "show", Help: "Show the candidate configuration [PATH] [commands]"},
	{Word: "compare", Help: "Compare the candidate with the running config, saved, or revisions N [M]"},
	{Word: "edit", Help: "Move to a level of the configuration; set, delete, show... are then relative to it"},
	{Word: "up", Help: "Move up one level"},
	{Word: "top", Help: "Move to the top level"},
	{Word: "copy", Help: "Copy a tag node entry: copy group wan to group wan2"},
	{Word: "rename", Help: "Rename a tag node entry: rename group wan to group wan2"},
	{Word: "comment", Help: `Comment a node, kept in config.boot: comment PATH "text" ("" removes it)`},
	{Word: "run", Help: "Run an op-mode command (run show conntrack-sync status)"},
	{Word: "discard", Help: "Discard uncommitted changes"},
	{Word: "commit", Help: "Commit the candidate [check | local | comment TEXT | confirmed [MINUTES]]"},
	{Word: "commit-confirm", Help: "Commit; roll back unless confirmed within MINUTES (default 10)"},
	{Word: "confirm", Help: "Keep a commit-confirm"},
	{Word: "rollback", Help: "Load revision N into the candidate"},
	{Word: "save", Help: "Save the running config [FILE]"},
	{Word: "load", Help: "Replace the candidate with FILE (VyOS or Vyatta config.boot)"},
	{Word: "merge", Help: "Merge FILE into the candidate"},
	{Word: "exit", Help: "Leave the level; at the top, the shell (exit discard drops uncommitted changes)"},
}

// commandNames are Commands' words, and quit (exit's other name), for
// matching abbreviations.
var commandNames = func() []string {
	out := []string{"quit"}
	for _, c := range Commands {
		out = append(out, c.Word)
	}
	return out
}()

// expandKeyword returns the keyword w abbreviates among choices; an
// abbreviation of several is an error naming them, and one of none is
// returned as is for the caller's own message.
func expandKeyword(what string, choices []string, w string) (string, error) {
	m := schema.Match(choices, w)
	switch {
	case w == "" || len(m) == 0:
		return w, nil
	case len(m) == 1:
		return m[0], nil
	}
	return "", fmt.Errorf("%s: ambiguous: %q could be %s", what, w, strings.Join(m, ", "))
}

// Level returns the edit level: a tree path, keys included; empty at
// the top. The shell shows it in the prompt.
func (s *Session) Level() []string {
	var out []string
	for _, g := range s.level {
		out = append(out, g...)
	}
	return out
}

// path turns the words typed after a command into a tree path from the
// top: the level's words first, then the typed ones with their keyword
// abbreviations expanded.
func (s *Session) path(words []string) ([]string, error) {
	return s.schema.Expand(append(s.Level(), words...))
}

// edit moves to a container or a tag entry; the node need not exist yet
// (as in VyOS, the level is a place to set things).
func (s *Session) edit(words []string) (string, error) {
	if len(words) == 0 {
		return "", errors.New("edit: a configuration path is required (edit high-availability vrrp group wan)")
	}
	p, err := s.path(words)
	if err != nil {
		return "", err
	}
	r, err := s.schema.Resolve(p)
	if err != nil {
		if errors.Is(err, schema.ErrValueRequired) {
			if n := s.schema.Lookup(p); n != nil && n.Kind == schema.Tag {
				return "", cfgerr.New(p, "edit needs the entry's name").WithHint("%s", n.TypeHelp)
			}
			return "", cfgerr.New(p, "is a leaf: set it with set, from this level or above")
		}
		return "", err
	}
	if r.Node.Kind == schema.Leaf || r.Node.Kind == schema.LeafList {
		return "", cfgerr.New(p, "is a leaf: set it with set, from this level or above")
	}
	s.level = levelGroups(r.Steps)
	return "", nil
}

// levelGroups splits resolved steps into levels: one per container, one
// per tag entry (the tag node's name with the key), so that up leaves a
// tag entry whole.
func levelGroups(steps []configtree.Step) [][]string {
	var out [][]string
	for i := 0; i < len(steps); i++ {
		if steps[i].Tag && i+1 < len(steps) {
			out = append(out, []string{steps[i].Name, steps[i+1].Name})
			i++
			continue
		}
		out = append(out, []string{steps[i].Name})
	}
	return out
}

// up leaves one level; at the top it is an error, as in VyOS.
func (s *Session) up(args []string) (string, error) {
	if len(args) > 0 {
		return "", errors.New("up: takes no arguments")
	}
	if len(s.level) == 0 {
		return "", errors.New("up: already at the top level")
	}
	s.level = s.level[:len(s.level)-1]
	return "", nil
}

// exit leaves the level for the top, or at the top leaves the shell;
// "exit discard" leaves the shell from anywhere, dropping the changes.
func (s *Session) exit(args []string) (string, error) {
	discard := false
	if len(args) > 0 {
		w, _ := expandKeyword("exit", []string{"discard"}, args[0])
		if w != "discard" || len(args) > 1 {
			return "", errors.New("exit: usage: exit [discard]")
		}
		discard = true
	}
	if len(s.level) > 0 && !discard {
		s.level = nil
		return "", nil
	}
	// As in VyOS: leaving would silently drop uncommitted edits.
	if s.Modified() && !discard {
		return "", errors.New("cannot exit: the configuration has uncommitted changes; commit them, or use 'exit discard' to drop them and exit")
	}
	s.exited = true
	return "", nil
}

// flat takes a trailing "commands" (or "| commands", as VyOS writes it;
// at least "comm") off show's words: the output is then set commands,
// one a line.
func flat(words []string) ([]string, bool) {
	n := len(words)
	if n == 0 || len(words[n-1]) < 4 || !strings.HasPrefix("commands", words[n-1]) {
		return words, false
	}
	words = words[:n-1]
	if len(words) > 0 && words[len(words)-1] == "|" {
		words = words[:len(words)-1]
	}
	return words, true
}

// tagEntry resolves words (relative to the level) to an entry of a tag
// node: the tree path of the tag node, and the key.
func (s *Session) tagEntry(cmd string, words []string) ([]string, string, error) {
	p, err := s.path(words)
	if err != nil {
		return nil, "", err
	}
	r, err := s.schema.Resolve(p)
	if err != nil {
		return nil, "", err
	}
	n := len(r.Steps)
	if r.HasValue || n < 2 || !r.Steps[n-2].Tag {
		return nil, "", cfgerr.New(p, "%s works on an entry of a tag node (group wan, interface eth1)", cmd)
	}
	return r.Path[:len(r.Path)-1], r.Path[len(r.Path)-1], nil
}

// copyRename is copy and rename: "copy SRC to DST", SRC and DST entries
// of the same tag node, written the same way ("group wan to group wan2").
func (s *Session) copyRename(cmd string, args []string) (string, error) {
	i := slices.Index(args, "to")
	if i <= 0 || i == len(args)-1 {
		return "", fmt.Errorf("%s: usage: %s TAG KEY to TAG NEWKEY (%s group wan to group wan2)", cmd, cmd, cmd)
	}
	from, key, err := s.tagEntry(cmd, args[:i])
	if err != nil {
		return "", err
	}
	to, newKey, err := s.tagEntry(cmd, args[i+1:])
	if err != nil {
		return "", err
	}
	src := append(slices.Clone(from), key)
	dst := append(slices.Clone(to), newKey)
	if !slices.Equal(from, to) {
		return "", cfgerr.New(dst, "%s stays within one tag node: %s and %s differ", cmd, configtree.PathString(from), configtree.PathString(to))
	}
	parent := s.candidate.Get(from...)
	e := parent.Child(key)
	if e == nil {
		return "", cfgerr.New(src, "configuration path does not exist")
	}
	if parent.Child(newKey) != nil {
		return "", cfgerr.New(dst, "already exists; delete it first")
	}
	c := e.Clone()
	c.Name = newKey
	if cmd == "rename" {
		parent.Remove(key)
	}
	parent.Insert(c)
	return "", nil
}

// comment sets (or with "" removes) the comment of an existing node.
func (s *Session) comment(args []string) (string, error) {
	if len(args) < 2 {
		return "", errors.New(`comment: usage: comment PATH "text" (comment PATH "" removes it)`)
	}
	text := args[len(args)-1]
	p, err := s.path(args[:len(args)-1])
	if err != nil {
		return "", err
	}
	n := s.candidate.Get(p...)
	switch {
	case n == nil:
		return "", cfgerr.New(p, "configuration path does not exist")
	case n.Tag:
		return "", cfgerr.New(p, "comment an entry of the tag node (name it), not the tag node")
	}
	if err := configtree.CheckComment(text); err != nil {
		return "", cfgerr.New(p, "comment: %s", err)
	}
	n.Comment = text
	return "", nil
}

// saved reads the saved configuration, as ctsyncd boots it, for
// compare saved.
func (s *Session) saved() (*configtree.Node, error) {
	data, err := s.svc.Saved()
	if err != nil {
		return nil, fmt.Errorf("compare saved: %w", err)
	}
	if data == nil {
		return configtree.New(), nil
	}
	t, _, err := migrate.Load(data, s.schema)
	if err != nil {
		return nil, fmt.Errorf("compare saved: %s: %w", s.root.ConfigBoot(), err)
	}
	keepComments(t, data)
	return t, nil
}

// keepComments puts the comments of a config.boot back on the tree
// migrate built from it through the schema, which keeps only values.
func keepComments(t *configtree.Node, data []byte) {
	if f, err := configtree.ParseFile(strings.NewReader(string(data))); err == nil {
		configtree.CopyComments(t, f.Root)
	}
}

// CommandWord returns the command a line's first word abbreviates (an
// error for an ambiguous one; an unknown word comes back as is). The
// shell uses it to find run lines and to complete.
func CommandWord(w string) (string, error) { return expandKeyword(w, commandNames, w) }

// only returns the part of t on path: the nodes leading to it (so that
// a diff's headers name the whole path) and its subtree.
func only(t *configtree.Node, path []string) *configtree.Node {
	out := configtree.New()
	cur, src := out, t
	for i, p := range path {
		src = src.Child(p)
		if src == nil {
			break
		}
		c := &configtree.Node{Name: p, Tag: src.Tag, Comment: src.Comment}
		if i == len(path)-1 {
			c = src.Clone()
		}
		cur.Children = []*configtree.Node{c}
		cur = c
	}
	return out
}
