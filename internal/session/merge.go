package session

import (
	"slices"

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

// conflicts returns the changes of ours that lie on, above or under a
// change of theirs. Values of one leaf-list are paths of their own: both
// sides adding (or both removing) the same value is the same change, and
// different values merge.
func conflicts(ours, theirs []configtree.Change) []configtree.Change {
	var out []configtree.Change
	for _, o := range ours {
		for _, t := range theirs {
			if o.IsValue && t.IsValue && slices.Equal(o.Path, t.Path) {
				continue
			}
			if isPrefix(o.Path, t.Path) || isPrefix(t.Path, o.Path) {
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

// replay returns a copy of onto with ours's version of each change: the
// subtree copied over, or removed where ours has none.
func replay(onto, ours *configtree.Node, changes []configtree.Change) *configtree.Node {
	out := onto.Clone()
	for _, c := range changes {
		p := c.Path
		if c.IsValue {
			replayValue(out, ours, p, c.Value)
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
				cur.Insert(next)
			}
			cur = next
		}
		cur.Insert(n.Clone())
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
