package session

import (
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
)

// Three-way merge of concurrent edits. base is the running configuration
// a session started from, theirs the running configuration now (another
// session committed meanwhile), ours the session's candidate. When the two
// sides changed disjoint paths, ours is replayed onto theirs; when any
// path one side changed lies on or under a path the other changed, the
// merge is refused: ctsync never guesses which of two operators meant it.
// The values of a leaf-list are paths of their own, so two operators
// adding different protocols to accept-protocol merge; a plain leaf is one
// path, so two values for priority conflict.

// valueMark starts a path element that is a leaf-list value rather than a
// node name; no name can start with it.
const valueMark = "\x00"

// changes lists the deepest paths (names and tag keys) where a and b
// differ: a leaf whose values differ, a leaf-list value on one side only
// (multi tells leaf-lists, by path), or a node present on one side only.
func changes(a, b *configtree.Node, multi func([]string) bool) [][]string {
	var out [][]string
	diffChildren(a, b, nil, multi, &out)
	return out
}

func diffChildren(a, b *configtree.Node, at []string, multi func([]string) bool, out *[][]string) {
	for _, name := range childNames(a, b) {
		ca, cb := a.Child(name), b.Child(name)
		p := append(slices.Clip(at), name)
		switch {
		case configtree.Equal(ca, cb):
		case isList(ca, p, multi) && isList(cb, p, multi):
			for _, v := range symmetricDiff(values(ca), values(cb)) {
				*out = append(*out, append(slices.Clip(p), valueMark+v))
			}
		case ca == nil || cb == nil || ca.Leaf || cb.Leaf || ca.Tag != cb.Tag:
			*out = append(*out, p)
		case ca.Tag:
			for _, key := range childNames(ca, cb) {
				ea, eb := ca.Child(key), cb.Child(key)
				ep := append(slices.Clip(p), key)
				switch {
				case configtree.Equal(ea, eb):
				case ea == nil || eb == nil:
					*out = append(*out, ep)
				default:
					diffChildren(ea, eb, ep, multi, out)
				}
			}
		default:
			diffChildren(ca, cb, p, multi, out)
		}
	}
}

// isList reports whether n (possibly absent) is a leaf-list at p.
func isList(n *configtree.Node, p []string, multi func([]string) bool) bool {
	return multi != nil && (n == nil || n.Leaf) && multi(p)
}

func values(n *configtree.Node) []string {
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

// pathString renders a change path for the operator.
func pathString(p []string) string {
	return strings.ReplaceAll(strings.Join(p, " "), valueMark, "")
}

func childNames(a, b *configtree.Node) []string {
	var names []string
	for _, n := range []*configtree.Node{a, b} {
		if n == nil {
			continue
		}
		for _, c := range n.Children {
			names = append(names, c.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// conflicts returns the paths of ours that lie on, above or under a path
// of theirs. Both sides adding (or both removing) the same leaf-list value
// is the same change, not a conflict.
func conflicts(ours, theirs [][]string) [][]string {
	var out [][]string
	for _, o := range ours {
		for _, t := range theirs {
			if slices.Equal(o, t) && strings.HasPrefix(o[len(o)-1], valueMark) {
				continue
			}
			if isPrefix(o, t) || isPrefix(t, o) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

func isPrefix(p, q []string) bool {
	return len(p) <= len(q) && slices.Equal(p, q[:len(p)])
}

// replay returns a copy of onto with ours's version of each path in paths:
// the subtree copied over, or removed where ours has none.
func replay(onto, ours *configtree.Node, paths [][]string) *configtree.Node {
	out := onto.Clone()
	for _, p := range paths {
		if last := p[len(p)-1]; strings.HasPrefix(last, valueMark) {
			replayValue(out, ours, p[:len(p)-1], strings.TrimPrefix(last, valueMark))
			continue
		}
		n := ours.Get(p...)
		if n == nil {
			out.Delete(p, nil)
			continue
		}
		cur, src := out, ours
		for _, name := range p[:len(p)-1] {
			src = src.Child(name)
			next := cur.Child(name)
			if next == nil {
				next = &configtree.Node{Name: name, Tag: src.Tag}
				insert(cur, next)
			}
			cur = next
		}
		insert(cur, n.Clone())
	}
	return out
}

// replayValue gives out's leaf-list at leaf ours's presence of value v.
func replayValue(out, ours *configtree.Node, leaf []string, v string) {
	if n := ours.Get(leaf...); n != nil && slices.Contains(n.Values, v) {
		if have := out.Get(leaf...); have != nil && slices.Contains(have.Values, v) {
			return
		}
		// Create the path with ours's node kinds, then add the value.
		steps := make([]configtree.Step, len(leaf))
		src := ours
		for i, name := range leaf {
			src = src.Child(name)
			steps[i] = configtree.Step{Name: name, Tag: src.Tag}
		}
		out.Set(steps, true, true, true, v)
		return
	}
	out.Delete(leaf, &v)
}

// insert puts c among n's children in name order, replacing a namesake.
func insert(n, c *configtree.Node) {
	i, found := slices.BinarySearchFunc(n.Children, c.Name, func(x *configtree.Node, s string) int { return strings.Compare(x.Name, s) })
	if found {
		n.Children[i] = c
		return
	}
	n.Children = slices.Insert(n.Children, i, c)
}
