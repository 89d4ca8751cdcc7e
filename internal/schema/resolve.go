package schema

import (
	"errors"
	"strings"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

// Resolved is a `set` path checked against the schema.
type Resolved struct {
	Steps []configtree.Step // tree path, keys included, Tag set on tag nodes
	// Path is every word resolved, as plain strings: the tree path of
	// Steps followed by the value when HasValue, so Path[:len(Path)-1] is
	// the leaf's tree path in that case.
	Path     []string
	Node     *Node // the leaf, leaf-list, container, or tag node of a tag entry
	Value    string
	HasValue bool
}

// ErrValueRequired is the cause of Resolve's error for a path that stops
// where a value (or a tag node's key) must follow; `delete` of a whole
// leaf legitimately stops there.
var ErrValueRequired = errors.New("value required")

// ErrRequired is the cause of Validate's error for an absent mandatory
// node: load lists it as something to fix before commit.
var ErrRequired = errors.New("required node missing")

func valueRequired(words []string, n *Node) *cfgerr.Error {
	e := cfgerr.New(words, "%s", ErrValueRequired).WithHint("%s", n.TypeHelp)
	e.Cause = ErrValueRequired
	return e
}

// SetIn stores the resolved path in tree, as `set` does: a leaf-list gains
// the value, a leaf takes it, a container or tag entry is created.
func (r *Resolved) SetIn(tree *configtree.Node) {
	leaf := r.Node.Kind == Leaf || r.Node.Kind == LeafList
	tree.Set(r.Steps, leaf, r.Node.Kind == LeafList, r.HasValue, r.Value)
}

// Set resolves words (what follows `set`) and stores them in tree; tree
// is unchanged when they do not resolve.
func (s *Schema) Set(tree *configtree.Node, words []string) error {
	r, err := s.Resolve(words)
	if err != nil {
		return err
	}
	r.SetIn(tree)
	return nil
}

// Resolve turns the words after `set` into tree steps, checking every
// name, key and value on the way. A tag node takes its key as the next
// word, a leaf its value; a valueless leaf takes none. A path may stop at
// a container or at a tag entry (its key given). Errors are
// *cfgerr.Error whose Path is the words up to and including the bad one.
func (s *Schema) Resolve(words []string) (*Resolved, error) {
	r := &Resolved{Node: s.root}
	n := s.root
	for i := 0; i < len(words); i++ {
		w := words[i]
		child := n.Child(w)
		if child == nil {
			return nil, unknownNode(words[:i+1], n)
		}
		r.Steps = append(r.Steps, configtree.Step{Name: w, Tag: child.Kind == Tag})
		r.Path = append(r.Path, w)
		r.Node = child
		switch child.Kind {
		case Container:
			n = child
		case Tag:
			if i+1 == len(words) {
				return nil, valueRequired(words, child)
			}
			i++
			if err := child.ValidateValue(words[i]); err != nil {
				return nil, cfgerr.New(words[:i+1], "%s", err.Error())
			}
			r.Steps = append(r.Steps, configtree.Step{Name: words[i]})
			r.Path = append(r.Path, words[i])
			n = child
		case Leaf, LeafList:
			rest := words[i+1:]
			if child.Valueless {
				if len(rest) > 0 {
					return nil, cfgerr.New(words[:i+2], "%s takes no value", w)
				}
				return r, nil
			}
			if len(rest) == 0 {
				return nil, valueRequired(words, child)
			}
			if err := child.ValidateValue(rest[0]); err != nil {
				return nil, cfgerr.New(words[:i+2], "%s", err.Error())
			}
			if len(rest) > 1 {
				return nil, cfgerr.New(words[:i+3], "unexpected word after the value of %s", w).
					WithHint("quote a value that contains spaces")
			}
			r.Value, r.HasValue = rest[0], true
			r.Path = append(r.Path, rest[0])
			return r, nil
		}
	}
	return r, nil
}

func unknownNode(path []string, parent *Node) *cfgerr.Error {
	names := make([]string, len(parent.Children))
	for i, c := range parent.Children {
		names[i] = c.Name
	}
	e := cfgerr.New(path, "unknown node")
	if len(names) > 0 {
		e.WithHint("expected one of: %s", strings.Join(names, ", "))
	}
	return e
}

// Completion is one possible next word: a node name, an enum value, or a
// "<value-help>" placeholder for free values.
type Completion struct {
	Word, Help string
}

// Complete returns the possible next words after words (each a whole
// word) for the shell's TAB and `?`. The shell filters them by whatever
// prefix the user has typed. It returns nil where nothing can follow or
// words do not resolve.
func (s *Schema) Complete(words []string) []Completion {
	n := s.root
	for i := 0; i < len(words); i++ {
		child := n.Child(words[i])
		if child == nil {
			return nil
		}
		switch child.Kind {
		case Container:
			n = child
		case Tag:
			if i+1 == len(words) {
				return []Completion{{Word: "<" + child.TypeHelp + ">", Help: child.Description}}
			}
			i++
			if child.ValidateValue(words[i]) != nil {
				return nil
			}
			n = child
		default:
			if child.Valueless || i+1 < len(words) {
				return nil
			}
			return valueCompletions(child)
		}
	}
	out := make([]Completion, len(n.Children))
	for i, c := range n.Children {
		out[i] = Completion{Word: c.Name, Help: c.Description}
	}
	return out
}

func valueCompletions(n *Node) []Completion {
	t := n.typ
	if len(t.enums) > 0 {
		out := make([]Completion, len(t.enums))
		for i, e := range t.enums {
			h := t.enumHelp[e]
			if h == "" {
				h = n.Description
			}
			out[i] = Completion{Word: e, Help: h}
		}
		return out
	}
	return []Completion{{Word: "<" + n.TypeHelp + ">", Help: n.Description}}
}
