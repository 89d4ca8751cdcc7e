package schema

import (
	"errors"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

// Validate checks a whole tree, as loaded from config.boot or built by a
// session: unknown nodes, nodes of the wrong shape, bad keys and values,
// and mandatory nodes missing where their parent exists. It returns every
// problem, each a *cfgerr.Error, joined with errors.Join; nil when the
// tree is valid.
func (s *Schema) Validate(tree *configtree.Node) error {
	if tree == nil {
		return nil
	}
	var errs []error
	s.validateChildren(s.root, tree, nil, &errs)
	return errors.Join(errs...)
}

// validateChildren checks the children of tn (the root, a container or a
// tag entry) against sn, whose children describe them.
func (s *Schema) validateChildren(sn *Node, tn *configtree.Node, path []string, errs *[]error) {
	for _, c := range tn.Children {
		p := append(slices.Clip(path), c.Name)
		sc := sn.Child(c.Name)
		if sc == nil {
			*errs = append(*errs, unknownNode(p, sn))
			continue
		}
		switch sc.Kind {
		case Container:
			if c.Leaf {
				*errs = append(*errs, cfgerr.New(p, "is a container and takes no value"))
				continue
			}
			s.validateChildren(sc, c, p, errs)
		case Tag:
			if c.Leaf {
				*errs = append(*errs, cfgerr.New(p, "takes a key, not a value").WithHint("%s", sc.TypeHelp))
				continue
			}
			for _, entry := range c.Children {
				ep := append(slices.Clip(p), entry.Name)
				if err := sc.ValidateValue(entry.Name); err != nil {
					*errs = append(*errs, cfgerr.New(ep, "%s", err.Error()))
					continue
				}
				if entry.Leaf {
					*errs = append(*errs, cfgerr.New(ep, "is a tag entry and takes no value"))
					continue
				}
				s.validateChildren(sc, entry, ep, errs)
			}
		case Leaf, LeafList:
			validateLeaf(sc, c, p, errs)
		}
	}
	for _, sc := range sn.Children {
		if sc.Mandatory && !present(sc, tn.Child(sc.Name)) {
			*errs = append(*errs, missing(sc, append(slices.Clip(path), sc.Name)))
		}
	}
}

func validateLeaf(sc *Node, c *configtree.Node, p []string, errs *[]error) {
	if len(c.Children) > 0 {
		*errs = append(*errs, cfgerr.New(p, "is a leaf and has no children"))
		return
	}
	switch {
	case sc.Valueless:
		if len(c.Values) > 0 {
			*errs = append(*errs, cfgerr.New(append(slices.Clip(p), c.Values[0]), "%s takes no value", sc.Name))
		}
		return
	case len(c.Values) == 0:
		*errs = append(*errs, cfgerr.New(p, "value required").WithHint("%s", sc.TypeHelp))
		return
	case sc.Kind == Leaf && len(c.Values) > 1:
		*errs = append(*errs, cfgerr.New(p, "takes one value, has %d", len(c.Values)))
		return
	}
	for i, v := range c.Values {
		if err := sc.ValidateValue(v); err != nil {
			*errs = append(*errs, cfgerr.New(append(slices.Clip(p), v), "%s", err.Error()))
			continue
		}
		if slices.Contains(c.Values[:i], v) {
			*errs = append(*errs, cfgerr.New(append(slices.Clip(p), v), "duplicate value"))
		}
	}
}

// present reports whether the tree holds sc in a way that satisfies its
// mandatory flag: a tag node or leaf-list needs an element.
func present(sc *Node, c *configtree.Node) bool {
	switch {
	case c == nil:
		return false
	case sc.Kind == Tag:
		return len(c.Children) > 0
	case sc.Kind == LeafList:
		return len(c.Values) > 0
	}
	return true
}

// missing builds the error for an absent mandatory node, with a hint
// that spells out the `set` command reaching the mandatory leaf beneath
// it.
func missing(sc *Node, path []string) *cfgerr.Error {
	e := cfgerr.New(path, "%s", ErrRequired)
	e.Cause = ErrRequired
	words := append([]string{"set"}, path...)
	n := sc
	for {
		if n.Kind == Tag || ((n.Kind == Leaf || n.Kind == LeafList) && !n.Valueless) {
			words = append(words, "<"+n.TypeHelp+">")
		}
		var next *Node
		for _, c := range n.Children {
			if c.Mandatory {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		words = append(words, next.Name)
		n = next
	}
	return e.WithHint("%s", strings.Join(words, " "))
}

// WithDefaults returns a copy of tree with leaf defaults added wherever
// the parent container or tag entry exists. Nodes the schema does not
// know are copied unchanged; Validate reports them.
func (s *Schema) WithDefaults(tree *configtree.Node) *configtree.Node {
	if tree == nil {
		return nil
	}
	out := tree.Clone()
	addDefaults(s.root, out)
	return out
}

func addDefaults(sn *Node, tn *configtree.Node) {
	for _, sc := range sn.Children {
		c := tn.Child(sc.Name)
		switch sc.Kind {
		case Container:
			if c != nil && !c.Leaf {
				addDefaults(sc, c)
			}
		case Tag:
			if c != nil && !c.Leaf {
				for _, entry := range c.Children {
					addDefaults(sc, entry)
				}
			}
		case Leaf, LeafList:
			if c != nil || len(sc.Default) == 0 {
				continue
			}
			for _, d := range sc.Default {
				tn.Set([]configtree.Step{{Name: sc.Name}}, true, sc.Kind == LeafList, true, d)
			}
		}
	}
}
