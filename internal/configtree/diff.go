package configtree

import (
	"slices"
	"strings"
)

// Diff returns what `compare` shows to go from old to new, Junos/VyOS
// style: changes are grouped under "[edit PATH]" headers, PATH being the
// deepest node present in both trees; an added or removed subtree is
// shown whole, in config.boot form, each line prefixed "+" or "-"; a
// changed leaf shows "-name old" then "+name new", and a leaf-list only
// the values that went or came; a changed comment shows "-/* old */ name"
// then "+/* new */ name". A header is repeated when output returns to it
// after a deeper one. Diff is "" when the trees are equal; either tree
// may be nil (no configuration).
func Diff(old, new *Node) string {
	var d differ
	d.container(nil, old, new)
	return d.b.String()
}

// ChangedUnder reports whether the configuration under path differs
// between old and new, comments aside (they change no engine); an absent
// subtree equals an empty one. The commit engine asks it for each
// handler's subtrees.
func ChangedUnder(old, new *Node, path []string) bool {
	return !SameConfig(old.Get(path...), new.Get(path...))
}

type differ struct {
	b      strings.Builder
	header string
}

// emit writes lines (newline-terminated) under path's header, each
// prefixed with sign.
func (d *differ) emit(path []string, sign byte, lines string) {
	if lines == "" {
		return
	}
	h := "[edit"
	for _, p := range path {
		h += " " + quoteBoot(p)
	}
	h += "]"
	if h != d.header {
		d.b.WriteString(h)
		d.b.WriteByte('\n')
		d.header = h
	}
	for line := range strings.Lines(lines) {
		d.b.WriteByte(sign)
		d.b.WriteString(line)
	}
}

func render(n *Node) string {
	var b strings.Builder
	writeNode(&b, n, 0)
	return b.String()
}

// names returns the sorted union of the children's names of a and b.
func names(a, b *Node) []string {
	var out []string
	if a != nil {
		for _, c := range a.Children {
			out = append(out, c.Name)
		}
	}
	if b != nil {
		for _, c := range b.Children {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// container diffs the contents of two containers (or tag entries) at path.
func (d *differ) container(path []string, old, new *Node) {
	for _, name := range names(old, new) {
		o, n := old.Child(name), new.Child(name)
		switch {
		case o == nil:
			d.emit(path, '+', render(n))
		case n == nil:
			d.emit(path, '-', render(o))
		case Equal(o, n):
		case o.Leaf && n.Leaf:
			d.comment(path, quoteBoot(name), o, n)
			if !SameConfig(o, n) {
				d.leaf(path, o, n)
			}
		case o.Tag && n.Tag:
			d.tag(path, o, n)
		case !o.Leaf && !o.Tag && !n.Leaf && !n.Tag:
			d.comment(path, quoteBoot(name), o, n)
			d.container(append(slices.Clip(path), name), o, n)
		default: // the node changed kind: show it replaced
			d.emit(path, '-', render(o))
			d.emit(path, '+', render(n))
		}
	}
}

func (d *differ) tag(path []string, old, new *Node) {
	for _, key := range names(old, new) {
		o, n := old.Child(key), new.Child(key)
		switch {
		case o == nil:
			d.emit(path, '+', renderEntry(new.Name, n))
		case n == nil:
			d.emit(path, '-', renderEntry(old.Name, o))
		case Equal(o, n):
		default:
			d.comment(path, quoteBoot(old.Name)+" "+quoteBoot(key), o, n)
			d.container(append(slices.Clip(path), old.Name, key), o, n)
		}
	}
}

// comment shows a changed comment of the node what names, which is
// otherwise the same node: the old comment goes, the new one comes.
func (d *differ) comment(path []string, what string, old, new *Node) {
	if old.Comment == new.Comment {
		return
	}
	if old.Comment != "" {
		d.emit(path, '-', "/* "+old.Comment+" */ "+what+"\n")
	}
	if new.Comment != "" {
		d.emit(path, '+', "/* "+new.Comment+" */ "+what+"\n")
	}
}

func renderEntry(tag string, e *Node) string {
	return render(&Node{Name: tag, Tag: true, Children: []*Node{e}})
}

func (d *differ) leaf(path []string, old, new *Node) {
	gone := slices.DeleteFunc(slices.Clone(old.Values), func(v string) bool { return slices.Contains(new.Values, v) })
	came := slices.DeleteFunc(slices.Clone(new.Values), func(v string) bool { return slices.Contains(old.Values, v) })
	// Only the order changed, or a value appeared on a valueless leaf (or
	// went): the difference is the whole leaf, so show all of it.
	if len(gone)+len(came) == 0 || len(old.Values) == 0 || len(new.Values) == 0 {
		gone, came = old.Values, new.Values
	}
	// An empty list here means "no values to show", except for a
	// valueless leaf, which renders as its bare name.
	if len(gone) > 0 || len(old.Values) == 0 {
		d.emit(path, '-', render(&Node{Name: old.Name, Leaf: true, Values: gone}))
	}
	if len(came) > 0 || len(new.Values) == 0 {
		d.emit(path, '+', render(&Node{Name: new.Name, Leaf: true, Values: came}))
	}
}
