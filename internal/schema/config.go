package schema

import (
	"errors"
	"io"
	"os"
	"slices"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

// CheckValue checks value against the type of the node at path, a tree
// path with its keys: a leaf's or leaf-list's value, or, when path ends
// at a tag node, the key of an entry. A handler asks it, at the boundary
// of the file it writes, for a value the schema already admitted at
// `set`, so that the rule is written once, in YANG. The error is the one
// `set` gives: a *cfgerr.Error naming path and value.
func (s *Schema) CheckValue(path []string, value string) error {
	p := append(slices.Clip(path), value)
	n := s.Lookup(path)
	if n == nil {
		return cfgerr.New(p, "not in the schema")
	}
	if err := n.ValidateValue(value); err != nil {
		return cfgerr.New(p, "%s", err.Error())
	}
	return nil
}

// ParseConfig reads a configuration in config.boot form and adds the
// schema's defaults: a saved or running configuration as everything
// that reads one sees it, so that no reader keeps defaults of its own.
// It does not validate.
func (s *Schema) ParseConfig(r io.Reader) (*configtree.Node, error) {
	tree, err := configtree.Parse(r)
	if err != nil {
		return nil, err
	}
	return s.WithDefaults(tree), nil
}

// ReadConfig is ParseConfig of the file at path. Its errors are those of
// os.Open and configtree.Parse, for the caller to word.
func (s *Schema) ReadConfig(path string) (*configtree.Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.ParseConfig(f)
}

// Value is a value of a config and the tree path of the node whose type
// it has: for a tag node's key, the path of the tag node.
type Value struct {
	Path  []string
	Value string
}

// CheckValues is CheckValue of every v, each error kept.
func (s *Schema) CheckValues(vs []Value) error {
	var errs []error
	for _, v := range vs {
		if err := s.CheckValue(v.Path, v.Value); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
