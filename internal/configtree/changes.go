package configtree

import (
	"slices"
	"strings"
)

// Change is one place where two trees differ, as deep as the difference
// goes: a node present on one side only, or a leaf whose values differ
// (Path names it); or, with IsValue, one value of the leaf-list at Path
// present on one side only, since each value of a leaf-list is set and
// deleted on its own.
type Change struct {
	Path    []string
	Value   string
	IsValue bool
}

// String is the change's path as a set command writes it, the value
// last.
func (c Change) String() string {
	if c.IsValue {
		return PathString(append(slices.Clip(c.Path), c.Value))
	}
	return PathString(c.Path)
}

// PathString is path as a set command (and the shell's prompt) writes
// it: words quoted where they must be, one space between them.
func PathString(path []string) string {
	words := make([]string, len(path))
	for i, w := range path {
		words[i] = Quote(w)
	}
	return strings.Join(words, " ")
}

// Changes lists the deepest places where a and b differ, comments
// included, in path order; multi tells a leaf-list by its path. Either
// tree may be nil. Diff shows the same differences to the operator.
func Changes(a, b *Node, multi func([]string) bool) []Change {
	var out []Change
	changes(a, b, nil, multi, &out)
	return out
}

func changes(a, b *Node, at []string, multi func([]string) bool, out *[]Change) {
	for _, name := range names(a, b) {
		ca, cb := a.Child(name), b.Child(name)
		p := append(slices.Clip(at), name)
		switch {
		case Equal(ca, cb):
		case isList(ca, p, multi) && isList(cb, p, multi):
			for _, v := range symmetricDiff(values(ca), values(cb)) {
				*out = append(*out, Change{Path: p, Value: v, IsValue: true})
			}
		case ca == nil || cb == nil || ca.Leaf || cb.Leaf || ca.Tag != cb.Tag:
			*out = append(*out, Change{Path: p})
		case ca.Tag:
			for _, key := range names(ca, cb) {
				ea, eb := ca.Child(key), cb.Child(key)
				ep := append(slices.Clip(p), key)
				switch {
				case Equal(ea, eb):
				case ea == nil || eb == nil:
					*out = append(*out, Change{Path: ep})
				default:
					changes(ea, eb, ep, multi, out)
				}
			}
		default:
			changes(ca, cb, p, multi, out)
		}
	}
}

// isList reports whether n (possibly absent) is a leaf-list at p.
func isList(n *Node, p []string, multi func([]string) bool) bool {
	return multi != nil && (n == nil || n.Leaf) && multi(p)
}

func values(n *Node) []string {
	if n == nil {
		return nil
	}
	return n.Values
}

// symmetricDiff returns the values in exactly one of a and b.
func symmetricDiff(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	for _, v := range b {
		if !slices.Contains(a, v) {
			out = append(out, v)
		}
	}
	return out
}
