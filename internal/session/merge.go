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

// changes lists the deepest paths (names and tag keys) where a and b
// differ: a leaf whose values differ, or a node present on one side only.
func changes(a, b *configtree.Node) [][]string {
	var out [][]string
	diffChildren(a, b, nil, &out)
	return out
}

func diffChildren(a, b *configtree.Node, at []string, out *[][]string) {
	for _, name := range childNames(a, b) {
		ca, cb := a.Child(name), b.Child(name)
		p := append(slices.Clip(at), name)
		switch {
		case configtree.Equal(ca, cb):
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
					diffChildren(ea, eb, ep, out)
				}
			}
		default:
			diffChildren(ca, cb, p, out)
		}
	}
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
// of theirs.
func conflicts(ours, theirs [][]string) [][]string {
	var out [][]string
	for _, o := range ours {
		for _, t := range theirs {
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

// insert puts c among n's children in name order, replacing a namesake.
func insert(n, c *configtree.Node) {
	i, found := slices.BinarySearchFunc(n.Children, c.Name, func(x *configtree.Node, s string) int { return strings.Compare(x.Name, s) })
	if found {
		n.Children[i] = c
		return
	}
	n.Children = slices.Insert(n.Children, i, c)
}
