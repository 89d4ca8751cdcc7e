package session

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
)

// The three-way merge, as properties over random trees: two sides edit a
// common base at random; when their changes are disjoint the merge holds
// each side's version of everything that side changed (and the base
// elsewhere), and when they overlap it is refused. The trees use a small
// alphabet so that the sides often touch the same nodes: containers cN,
// tag nodes tN with keys kN, leaves lN and leaf-lists llN.

// multiLL tells the generated leaf-lists by name.
func multiLL(p []string) bool { return strings.HasPrefix(p[len(p)-1], "ll") }

type edit struct {
	steps []configtree.Step // to the leaf, or the node deleted
	del   bool              // delete the node (or with list, the value)
	list  bool              // a leaf-list: value is added or deleted alone
	value string
}

func (e edit) path() []string {
	out := make([]string, len(e.steps))
	for i, s := range e.steps {
		out[i] = s.Name
	}
	return out
}

func (e edit) apply(t *configtree.Node) {
	switch {
	case e.del && e.list:
		t.Delete(e.path(), &e.value)
	case e.del:
		t.Delete(e.path(), nil)
	default:
		t.Set(e.steps, true, e.list, true, e.value)
	}
}

// randomEdit sets a leaf or a leaf-list value somewhere, or deletes a
// value or a node that t holds.
func randomEdit(r *rand.Rand, t *configtree.Node) edit {
	if r.IntN(3) == 0 {
		if p := t.Paths(); len(p) > 0 {
			return deleteAt(r, t, p[r.IntN(len(p))])
		}
	}
	var steps []configtree.Step
	for range r.IntN(3) {
		if r.IntN(2) == 0 {
			steps = append(steps, configtree.Step{Name: fmt.Sprintf("c%d", r.IntN(2))})
		} else {
			steps = append(steps, configtree.Step{Name: fmt.Sprintf("t%d", r.IntN(2)), Tag: true}, configtree.Step{Name: fmt.Sprintf("k%d", r.IntN(2))})
		}
	}
	e := edit{value: fmt.Sprintf("v%d", r.IntN(4)), list: r.IntN(2) == 0}
	name := fmt.Sprintf("l%d", r.IntN(2))
	if e.list {
		name = "l" + name
	}
	e.steps = append(steps, configtree.Step{Name: name})
	return e
}

// deleteAt deletes the leaf at the end of a path of t (one value of a
// leaf-list), or one of the nodes on the way to it.
func deleteAt(r *rand.Rand, t *configtree.Node, p []string) edit {
	leaf := t.Get(p...)
	if leaf == nil { // a valueless path: Paths lists the leaf's own
		leaf = t.Get(p[:len(p)-1]...)
		p = p[:len(p)-1]
	}
	steps := make([]configtree.Step, len(p))
	n := t
	for i, name := range p {
		n = n.Child(name)
		steps[i] = configtree.Step{Name: name, Tag: n.Tag}
	}
	if leaf != nil && leaf.Leaf && multiLL(p) && len(leaf.Values) > 0 && r.IntN(2) == 0 {
		return edit{steps: steps, del: true, list: true, value: leaf.Values[r.IntN(len(leaf.Values))]}
	}
	return edit{steps: steps[:1+r.IntN(len(steps))], del: true}
}

func randomTree(r *rand.Rand, edits int) *configtree.Node {
	t := configtree.New()
	for range edits {
		e := randomEdit(r, t)
		if !e.del {
			e.apply(t)
		}
	}
	return t
}

func side(r *rand.Rand, base *configtree.Node) *configtree.Node {
	t := base.Clone()
	for range 1 + r.IntN(3) {
		randomEdit(r, t).apply(t)
	}
	return t
}

// holds reports whether merged has want's version of change c.
func holds(merged, want *configtree.Node, c configtree.Change) bool {
	if c.IsValue {
		has := func(t *configtree.Node) bool {
			n := t.Get(c.Path...)
			return n != nil && slices.Contains(n.Values, c.Value)
		}
		return has(merged) == has(want)
	}
	return configtree.Equal(merged.Get(c.Path...), want.Get(c.Path...))
}

// above reports whether some change of cs lies under c.
func above(c configtree.Change, cs []configtree.Change) bool {
	return slices.ContainsFunc(cs, func(d configtree.Change) bool { return !c.IsValue && isPrefix(c.Path, d.Path) })
}

func TestMergeProperties(t *testing.T) {
	merged, refused := 0, 0
	for seed := range uint64(2000) {
		r := rand.New(rand.NewPCG(seed, 13))
		base := randomTree(r, 8)
		theirs, ours := side(r, base), side(r, base)
		tc := configtree.Changes(base, theirs, multiLL)
		oc := configtree.Changes(base, ours, multiLL)
		if c := conflicts(oc, tc); len(c) > 0 {
			refused++
			continue
		}
		merged++
		m := replay(theirs, ours, oc)
		for _, c := range oc {
			if !holds(m, ours, c) {
				t.Fatalf("seed %d: the merge lost our change %s\nbase:\n%s\ntheirs:\n%s\nours:\n%s\nmerged:\n%s", seed, c, base, theirs, ours, m)
			}
		}
		for _, c := range tc {
			if !holds(m, theirs, c) {
				t.Fatalf("seed %d: the merge lost their change %s\nbase:\n%s\ntheirs:\n%s\nours:\n%s\nmerged:\n%s", seed, c, base, theirs, ours, m)
			}
		}
		// Nothing else moved: every difference from the base is one of
		// the two sides', or lies above them (a container both sides
		// emptied goes, as it would by hand).
		for _, c := range configtree.Changes(base, m, multiLL) {
			if !holds(m, ours, c) && !holds(m, theirs, c) && !above(c, oc) && !above(c, tc) {
				t.Fatalf("seed %d: the merge changed %s, which neither side did\nbase:\n%s\ntheirs:\n%s\nours:\n%s\nmerged:\n%s", seed, c, base, theirs, ours, m)
			}
		}
	}
	t.Logf("%d merged, %d refused", merged, refused)
	// The generator must exercise both outcomes, or the test says little.
	if merged < 200 || refused < 200 {
		t.Fatalf("%d merged, %d refused of 2000: the generator does not cover both", merged, refused)
	}
}

// TestMergeRefusesOverlaps makes the sides overlap on purpose, on top of
// random disjoint-or-not edits: the same leaf set to two values, or a
// node one side deletes while the other edits under it.
func TestMergeRefusesOverlaps(t *testing.T) {
	for seed := range uint64(1000) {
		r := rand.New(rand.NewPCG(seed, 17))
		base := randomTree(r, 8)
		theirs, ours := side(r, base), side(r, base)
		leaf := []configtree.Step{{Name: "c0"}, {Name: "t1", Tag: true}, {Name: "k0"}, {Name: "l1"}}
		base.Set(leaf, true, false, true, "v0")
		theirs.Set(leaf, true, false, true, "v0")
		ours.Set(leaf, true, false, true, "v0")
		if seed%2 == 0 {
			theirs.Set(leaf, true, false, true, "x1")
		} else {
			theirs.Delete([]string{"c0", "t1"}, nil)
		}
		ours.Set(leaf, true, false, true, "x2")
		oc := configtree.Changes(base, ours, multiLL)
		if c := conflicts(oc, configtree.Changes(base, theirs, multiLL)); len(c) == 0 {
			t.Fatalf("seed %d: overlapping edits were not refused\nbase:\n%s\ntheirs:\n%s\nours:\n%s", seed, base, theirs, ours)
		}
	}
}
