// Package schema loads ctsync's YANG modules (embedded from schema/) with
// goyang and answers what the rest of ctsync asks of them: which words a
// `set` path may hold, whether a value fits its type, which nodes are
// mandatory, what their defaults and priorities are, and how a config tree
// is written as RFC 7951 JSON.
//
// The YANG entries are turned once, at load, into a tree of Nodes shaped
// like the config tree (containers, tag nodes, leaves, leaf-lists) with
// every pattern compiled, so the hot paths (Resolve, Validate) do no YANG
// work at all.
package schema

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/openconfig/goyang/pkg/yang"

	"github.com/ctsync/ctsync/internal/configtree"
	yangfiles "github.com/ctsync/ctsync/schema"
)

// Kind is the shape of a schema node, as the config tree sees it.
type Kind int

const (
	// Container holds named children.
	Container Kind = iota
	// Tag is a YANG list: each entry is named by its key.
	Tag
	// Leaf holds one value, or none when Valueless.
	Leaf
	// LeafList holds several values.
	LeafList
)

func (k Kind) String() string {
	switch k {
	case Container:
		return "container"
	case Tag:
		return "tag"
	case Leaf:
		return "leaf"
	case LeafList:
		return "leaf-list"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Node is one node of the schema.
type Node struct {
	Name, Description string
	Kind              Kind
	Valueless         bool     // leaf of type empty
	Default           []string // leaf default(s)
	// Mandatory is set on a leaf that must be present, on a list or
	// leaf-list that needs at least one element, and on a non-presence
	// container that holds such a node: its parent cannot exist without it.
	Mandatory bool
	Priority  int // from ctsync-extensions:priority, inherited
	// NodeLocal is set from ctsync-extensions:node-local on the node or
	// an ancestor: its value belongs to one router of the pair and is
	// left out of the synced part (see Schema.SyncedPart).
	NodeLocal bool
	Module    string // module name, for RFC 7951 JSON
	Children  []*Node
	Parent    *Node
	TypeHelp  string // one line for `?` help

	typ *valueType // leaves, leaf-lists; the key's type on tag nodes
	// presence is set on containers whose existence means something
	// (conntrack-sync): their mandatory descendants do not make the
	// container itself mandatory.
	presence bool
	// keyName is the YANG name of a tag node's key leaf, for JSON.
	keyName string
	// keyDescription helps complete a tag node's key.
	keyDescription string
}

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

// Path returns the schema path words from the root to n; tag keys are not
// part of it.
func (n *Node) Path() []string {
	var p []string
	for c := n; c != nil && c.Parent != nil; c = c.Parent {
		p = append(p, c.Name)
	}
	slices.Reverse(p)
	return p
}

// ValidateValue checks v against the node's type: a leaf's or leaf-list's
// value, or a tag node's key. The error is plain text meant to follow the
// path ("must be an IPv4 multicast address (224.0.0.0/4)").
func (n *Node) ValidateValue(v string) error {
	switch {
	case n.Kind == Container:
		return errors.New("takes no value")
	case n.Valueless:
		return errors.New("takes no value")
	case n.typ == nil:
		return errors.New("has no type")
	}
	return n.typ.validate(v)
}

// Schema is the loaded schema.
type Schema struct {
	root *Node

	// MarshalJSON is JSON, under the name the first API gave it. It is a
	// field, not a method, because go vet (stdmethods) rejects a method
	// named MarshalJSON that takes an argument; s.MarshalJSON(tree) reads
	// the same either way.
	MarshalJSON func(tree *configtree.Node) ([]byte, error)
}

// Root returns the root node, a container with no name whose children are
// the top-level nodes of every module.
func (s *Schema) Root() *Node { return s.root }

const (
	priorityExt  = "priority"
	nodeLocalExt = "node-local"
)

var (
	defaultOnce   sync.Once
	defaultSchema *Schema
	defaultErr    error
)

// Default returns the embedded schema, loaded once. It panics when the
// embedded modules do not load: that is a build defect, and a test
// guards against it.
func Default() *Schema {
	defaultOnce.Do(func() { defaultSchema, defaultErr = Load() })
	if defaultErr != nil {
		panic("schema: embedded YANG modules are broken: " + defaultErr.Error())
	}
	return defaultSchema
}

// Load parses and resolves the embedded modules.
func Load() (*Schema, error) {
	return LoadFS(yangfiles.Files)
}

// LoadFS parses and resolves every *.yang file at the top of fsys.
func LoadFS(fsys fs.FS) (*Schema, error) {
	files, err := fs.Glob(fsys, "*.yang")
	if err != nil {
		return nil, fmt.Errorf("listing yang modules: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("no yang modules found")
	}
	ms := yang.NewModules()
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		if err := ms.Parse(string(data), f); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", f, err)
		}
	}
	if errs := ms.Process(); len(errs) > 0 {
		return nil, fmt.Errorf("resolving yang modules: %w", errors.Join(errs...))
	}

	b := &builder{patterns: map[string]*compiledPattern{}}
	root := &Node{Name: "", Kind: Container}
	names := make([]string, 0, len(ms.Modules))
	for name := range ms.Modules {
		// goyang files each module under its name and under
		// name@revision; one is enough.
		if !strings.Contains(name, "@") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		e := yang.ToEntry(ms.Modules[name])
		if errs := e.GetErrors(); len(errs) > 0 {
			return nil, fmt.Errorf("module %s: %w", name, errors.Join(errs...))
		}
		for _, c := range sortedDir(e) {
			if root.Child(c.Name) != nil {
				return nil, fmt.Errorf("module %s: top-level node %q is defined twice", name, c.Name)
			}
			n, err := b.node(c, root, name)
			if err != nil {
				return nil, fmt.Errorf("module %s: %w", name, err)
			}
			root.Children = append(root.Children, n)
			sortChildren(root)
		}
	}
	markMandatory(root)
	s := &Schema{root: root}
	s.MarshalJSON = s.JSON
	return s, nil
}

type builder struct {
	patterns map[string]*compiledPattern
}

func sortedDir(e *yang.Entry) []*yang.Entry {
	out := make([]*yang.Entry, 0, len(e.Dir))
	for _, c := range e.Dir {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func sortChildren(n *Node) {
	sort.Slice(n.Children, func(i, j int) bool { return n.Children[i].Name < n.Children[j].Name })
}

// node converts e, and everything under it, into a Node.
func (b *builder) node(e *yang.Entry, parent *Node, module string) (*Node, error) {
	n := &Node{
		Name:        e.Name,
		Description: oneLine(e.Description),
		Parent:      parent,
		Module:      module,
		Priority:    parent.Priority,
		NodeLocal:   parent.NodeLocal,
	}
	for _, x := range e.Exts {
		// The keyword is prefix:name; the prefix is the importing module's
		// choice, so only the name is compared.
		_, name, ok := strings.Cut(x.Keyword, ":")
		switch {
		case ok && name == priorityExt:
			p, err := strconv.Atoi(x.Argument)
			if err != nil {
				return nil, fmt.Errorf("%s: priority %q: %w", e.Path(), x.Argument, err)
			}
			n.Priority = p
		case ok && name == nodeLocalExt:
			n.NodeLocal = true
		}
	}
	switch {
	case e.IsChoice() || e.IsCase():
		return nil, fmt.Errorf("%s: choice and case are not supported", e.Path())
	case e.IsList():
		n.Kind = Tag
		if e.Key == "" || strings.Contains(e.Key, " ") {
			return nil, fmt.Errorf("%s: a tag node needs exactly one key", e.Path())
		}
		key := e.Dir[e.Key]
		if key == nil || key.Type == nil {
			return nil, fmt.Errorf("%s: key leaf %q missing", e.Path(), e.Key)
		}
		t, err := b.valueType(key.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key.Path(), err)
		}
		n.typ = t
		n.keyName = e.Key
		n.keyDescription = oneLine(key.Description)
		units, _ := leafStatement(key)
		n.TypeHelp = t.help(units)
		n.Mandatory = e.ListAttr != nil && e.ListAttr.MinElements > 0
		for _, c := range sortedDir(e) {
			if c.Name == e.Key {
				continue
			}
			cn, err := b.node(c, n, module)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, cn)
		}
	case e.IsDir():
		n.Kind = Container
		if c, ok := e.Node.(*yang.Container); ok && c.Presence != nil {
			n.presence = true
		}
		for _, c := range sortedDir(e) {
			cn, err := b.node(c, n, module)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, cn)
		}
	default:
		if e.Type == nil {
			return nil, fmt.Errorf("%s: leaf without a type", e.Path())
		}
		t, err := b.valueType(e.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Path(), err)
		}
		n.typ = t
		n.Kind = Leaf
		units, ts := leafStatement(e)
		if t.kind == yang.Yenum {
			t.enumHelp = enumDescriptions(ts)
		}
		if e.IsLeafList() {
			n.Kind = LeafList
			n.Mandatory = e.ListAttr.MinElements > 0
		} else {
			n.Mandatory = e.Mandatory == yang.TSTrue
		}
		n.Valueless = e.Type.Kind == yang.Yempty
		if n.Valueless && n.Kind == LeafList {
			return nil, fmt.Errorf("%s: a leaf-list of type empty is not supported", e.Path())
		}
		n.Default = slices.Clone(e.Default)
		for _, d := range n.Default {
			if err := t.validate(d); err != nil {
				return nil, fmt.Errorf("%s: default %q: %w", e.Path(), d, err)
			}
		}
		if !n.Valueless {
			n.TypeHelp = t.help(units)
		}
	}
	sortChildren(n)
	return n, nil
}

// leafStatement returns the units and type statement of a leaf or
// leaf-list: goyang keeps neither the units nor the descriptions of an
// inline enumeration's values in the resolved entry.
func leafStatement(e *yang.Entry) (units string, ts *yang.Type) {
	switch l := e.Node.(type) {
	case *yang.Leaf:
		ts = l.Type
		if l.Units != nil {
			units = l.Units.Name
		}
	case *yang.LeafList:
		ts = l.Type
		if l.Units != nil {
			units = l.Units.Name
		}
	}
	return units, ts
}

// enumDescriptions maps each value of an enumeration declared at ts (or
// in the typedef it names) to its description.
func enumDescriptions(ts *yang.Type) map[string]string {
	if ts == nil {
		return nil
	}
	enums := ts.Enum
	if len(enums) == 0 && ts.YangType != nil && ts.YangType.Base != nil {
		enums = ts.YangType.Base.Enum
	}
	m := map[string]string{}
	for _, en := range enums {
		if en.Description != nil {
			m[en.Name] = oneLine(en.Description.Name)
		}
	}
	return m
}

// markMandatory makes a non-presence container mandatory when it holds a
// mandatory node, as YANG does: `failover-mechanism` has to exist for
// its mandatory `vrrp sync-group` to.
func markMandatory(n *Node) bool {
	any := false
	for _, c := range n.Children {
		if markMandatory(c) {
			any = true
		}
	}
	if n.Kind == Container && !n.presence && n.Parent != nil && any {
		n.Mandatory = true
	}
	return n.Mandatory
}

// oneLine folds a YANG description (which may wrap) into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Lookup returns the schema node for a tree path (keys included), or nil.
func (s *Schema) Lookup(path []string) *Node {
	n := s.root
	for i := 0; i < len(path); i++ {
		n = n.Child(path[i])
		if n == nil {
			return nil
		}
		if n.Kind == Tag {
			if i+1 == len(path) {
				return n
			}
			// The key is part of the tree path, not of the schema.
			i++
		}
	}
	return n
}

// IsMulti reports whether the tree path (keys included) ends at a
// leaf-list; pass it to configtree.Node.ToMap.
func (s *Schema) IsMulti(path []string) bool {
	n := s.Lookup(path)
	return n != nil && n.Kind == LeafList
}
