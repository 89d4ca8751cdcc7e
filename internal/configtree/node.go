// Package configtree is the config tree: VyOS-style nodes (containers, tag
// nodes, leaves and leaf-lists) with set/delete/get, the curly-brace
// config.boot format and the compare diff. It knows nothing of the schema:
// the schema resolves the words a user typed into Steps, and the tree only
// stores them.
package configtree

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Node is one node of the tree. The root is a container with no name.
//
// A tag node (Tag) is a list such as "interface": each child is one entry,
// named by its key ("eth1"), and is itself a container. A leaf (Leaf) holds
// its values in Values: none for a valueless leaf ("disable-external-cache"),
// one for a leaf, several for a leaf-list. Children are kept sorted by
// name so that output and comparison are deterministic.
type Node struct {
	Name     string
	Tag      bool
	Leaf     bool
	Values   []string
	Children []*Node
	// Comment is the operator's note on the node (`comment PATH "text"`),
	// written as "/* text */" on the line above it in config.boot, as
	// VyOS does. It is documentation: handlers never see it.
	Comment string
}

// Step is one element of a resolved path. Tag marks a tag node: the next
// step is the entry's key.
type Step struct {
	Name string
	Tag  bool
}

// New returns an empty root.
func New() *Node { return &Node{} }

// Child returns the child named name, or nil.
func (n *Node) Child(name string) *Node {
	if n == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(n.Children, name, func(c *Node, s string) int { return strings.Compare(c.Name, s) })
	if !ok {
		return nil
	}
	return n.Children[i]
}

// Get returns the node at path (plain names, keys included), or nil.
func (n *Node) Get(path ...string) *Node {
	cur := n
	for _, p := range path {
		cur = cur.Child(p)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// Exists reports whether path exists.
func (n *Node) Exists(path ...string) bool { return n.Get(path...) != nil }

// ensure returns the child named name, creating it if absent.
func (n *Node) ensure(name string) *Node {
	i, ok := slices.BinarySearchFunc(n.Children, name, func(c *Node, s string) int { return strings.Compare(c.Name, s) })
	if ok {
		return n.Children[i]
	}
	c := &Node{Name: name}
	n.Children = slices.Insert(n.Children, i, c)
	return c
}

// Set creates the path. When leaf is true the last step is a leaf: with
// multi (a leaf-list) value is added unless present; otherwise it replaces
// the leaf's value. hasValue false sets a valueless leaf, or just creates
// the container/tag entry when leaf is false.
func (n *Node) Set(steps []Step, leaf, multi, hasValue bool, value string) {
	cur := n
	for _, s := range steps {
		cur = cur.ensure(s.Name)
		if s.Tag {
			cur.Tag = true
		}
	}
	if !leaf {
		return
	}
	cur.Leaf = true
	switch {
	case !hasValue:
		cur.Values = nil
	case multi:
		if !slices.Contains(cur.Values, value) {
			cur.Values = append(cur.Values, value)
		}
	default:
		cur.Values = []string{value}
	}
}

// Delete removes the node at path; with a value, only that value of a
// leaf(-list), and the leaf when it has none left. Parents left empty
// are removed too, as VyOS does. It reports whether anything was removed.
func (n *Node) Delete(path []string, value *string) bool {
	if len(path) == 0 {
		return false
	}
	parent := n.Get(path[:len(path)-1]...)
	target := parent.Child(path[len(path)-1])
	if target == nil {
		return false
	}
	if value != nil {
		i := slices.Index(target.Values, *value)
		if i < 0 {
			return false
		}
		target.Values = slices.Delete(target.Values, i, i+1)
		if len(target.Values) > 0 {
			return true
		}
	}
	parent.remove(target.Name)
	// Prune empty ancestors (never the root). A tag entry stops the
	// pruning: it is configuration by itself ("address 198.18.0.101/24"
	// stays when its optional "interface" is deleted), as in VyOS.
	for i := len(path) - 1; i > 0; i-- {
		p := n.Get(path[:i-1]...)
		c := p.Child(path[i-1])
		if c == nil || c.Leaf || len(c.Children) > 0 || p.Tag {
			break
		}
		p.remove(c.Name)
	}
	return true
}

func (n *Node) remove(name string) {
	n.Children = slices.DeleteFunc(n.Children, func(c *Node) bool { return c.Name == name })
}

// Clone returns a deep copy.
func (n *Node) Clone() *Node {
	if n == nil {
		return nil
	}
	c := &Node{Name: n.Name, Tag: n.Tag, Leaf: n.Leaf, Values: slices.Clone(n.Values), Comment: n.Comment}
	if n.Children != nil {
		c.Children = make([]*Node, len(n.Children))
		for i, ch := range n.Children {
			c.Children[i] = ch.Clone()
		}
	}
	return c
}

// Equal reports whether two subtrees hold the same configuration,
// comments included: a commented candidate has something to commit.
func Equal(a, b *Node) bool { return equal(a, b, true) }

// SameConfig is Equal blind to comments: what the engines are given is
// the same, so nothing needs to be regenerated or restarted.
func SameConfig(a, b *Node) bool { return equal(a, b, false) }

func equal(a, b *Node, comments bool) bool {
	if a == nil || b == nil {
		return (a == nil || a.empty()) && (b == nil || b.empty())
	}
	if a.Name != b.Name || a.Tag != b.Tag || a.Leaf != b.Leaf || !slices.Equal(a.Values, b.Values) || len(a.Children) != len(b.Children) {
		return false
	}
	if comments && a.Comment != b.Comment {
		return false
	}
	for i := range a.Children {
		if !equal(a.Children[i], b.Children[i], comments) {
			return false
		}
	}
	return true
}

// Insert puts c among n's children in name order, replacing a child of
// the same name. copy and rename of tag entries use it.
func (n *Node) Insert(c *Node) {
	i, ok := slices.BinarySearchFunc(n.Children, c.Name, func(x *Node, s string) int { return strings.Compare(x.Name, s) })
	if ok {
		n.Children[i] = c
		return
	}
	n.Children = slices.Insert(n.Children, i, c)
}

// Remove deletes the child named name; it reports whether there was one.
func (n *Node) Remove(name string) bool {
	if n.Child(name) == nil {
		return false
	}
	n.remove(name)
	return true
}

// MaxCommentLen bounds a node comment: one line above the node.
const MaxCommentLen = 256

// CheckComment refuses a comment that could not be written back as one
// "/* ... */" line: a "*/" would end it early, a line break would split
// it, and other control characters have no place in a text file.
func CheckComment(c string) error {
	switch {
	case len(c) > MaxCommentLen:
		return fmt.Errorf("the comment is %d bytes; at most %d", len(c), MaxCommentLen)
	case strings.Contains(c, "*/"):
		return errors.New(`a comment may not contain "*/"`)
	case strings.IndexFunc(c, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
		return errors.New("the comment holds a line break or control character; one line of text only")
	}
	return nil
}

// CopyComments sets on each node of dst the comment of the node at the
// same path in src, where dst's has none; load uses it to keep the
// comments of a file whose tree was rebuilt through the schema.
func CopyComments(dst, src *Node) {
	if dst == nil || src == nil {
		return
	}
	if dst.Comment == "" {
		dst.Comment = src.Comment
	}
	for _, c := range dst.Children {
		CopyComments(c, src.Child(c.Name))
	}
}

func (n *Node) empty() bool { return !n.Leaf && len(n.Children) == 0 }

// ToMap turns the subtree into plain Go values for mapstructure: a
// container or tag node becomes map[string]any, a leaf its string, a
// leaf-list []string (multi tells which leaves are lists), a valueless
// leaf true.
func (n *Node) ToMap(multi func(path []string) bool) map[string]any {
	return n.toMap(nil, multi)
}

func (n *Node) toMap(path []string, multi func([]string) bool) map[string]any {
	m := make(map[string]any, len(n.Children))
	for _, c := range n.Children {
		p := append(slices.Clip(path), c.Name)
		switch {
		case c.Leaf && len(c.Values) == 0:
			m[c.Name] = true
		case c.Leaf && multi != nil && multi(p):
			m[c.Name] = slices.Clone(c.Values)
		case c.Leaf:
			m[c.Name] = c.Values[0]
		default:
			m[c.Name] = c.toMap(p, multi)
		}
	}
	return m
}
