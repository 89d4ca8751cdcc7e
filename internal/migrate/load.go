package migrate

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/schema"
)

// ErrNotConfig is a file that is not a config.boot at all.
var ErrNotConfig = errors.New("not a config.boot file")

// Load parses a config.boot from anywhere ctsync may meet one, migrates it
// to today's schema and keeps only what ctsync manages: every other
// subtree (firewall, nat, system, service ssh, interface addresses) is
// removed and listed in the report. It does not validate values; the
// caller does, against the same schema.
func Load(data []byte, s *schema.Schema) (*configtree.Node, *Report, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fmt.Errorf("%w: the file is empty", ErrNotConfig)
	}
	f, err := configtree.ParseFile(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotConfig, err)
	}
	for _, c := range f.Root.Children {
		// Every top-level node of a config.boot is a block; a bare word or
		// "key value" line up there is some other kind of file.
		if c.Leaf {
			return nil, nil, fmt.Errorf("%w: %q at the top level is not a configuration block", ErrNotConfig, c.Name)
		}
	}
	versions, err := Versions(string(data), f)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNotConfig, err)
	}
	r := &Report{From: versions}
	Migrate(f.Root, versions, r)
	Prune(f.Root, s, r)
	return f.Root, r, nil
}

// Prune removes, in place, every node the schema does not know, and lists
// each removed subtree in r.Skipped. Nodes of a known name but the wrong
// shape stay, for validation to name.
func Prune(t *configtree.Node, s *schema.Schema, r *Report) {
	prune(t, s.Root(), nil, r)
}

func prune(tn *configtree.Node, sn *schema.Node, at []string, r *Report) {
	var keep []*configtree.Node
	for _, c := range tn.Children {
		sc := sn.Child(c.Name)
		if sc == nil {
			if inManaged(path(append(slices.Clip(at), c.Name)...)) {
				// Under high-availability or service conntrack-sync:
				// leaving it behind changes how the pair fails over.
				r.drop("%s", path(append(slices.Clip(at), c.Name)...))
			} else {
				skipped(at, c, &r.Skipped)
			}
			continue
		}
		switch {
		case sc.Kind == schema.Tag && c.Leaf && len(c.Values) > 0:
			// "address 198.18.0.101/24" written without "{ }": the syntax
			// cannot tell a tag entry from a leaf, the schema can.
			c.Leaf, c.Tag = false, true
			for _, v := range c.Values {
				if c.Child(v) == nil {
					c.Children = append(c.Children, &configtree.Node{Name: v})
				}
			}
			c.Values = nil
			slices.SortFunc(c.Children, func(a, b *configtree.Node) int { return strings.Compare(a.Name, b.Name) })
		case (sc.Kind == schema.Leaf || sc.Kind == schema.LeafList) && c.Tag && !slices.ContainsFunc(c.Children, func(e *configtree.Node) bool { return len(e.Children) > 0 }):
			// And the other way: "member wan { }".
			c.Tag, c.Leaf = false, true
			for _, e := range c.Children {
				c.Values = append(c.Values, e.Name)
			}
			c.Children = nil
		case sc.Kind == schema.Container && container(c):
			prune(c, sc, append(slices.Clip(at), c.Name), r)
		case sc.Kind == schema.Tag && c.Tag:
			for _, e := range c.Children {
				prune(e, sc, append(slices.Clip(at), c.Name, e.Name), r)
			}
		}
		keep = append(keep, c)
	}
	tn.Children = keep
	// A block that held only unmanaged settings ("service { ssh { } }")
	// is gone too, so nothing empty is imported.
	tn.Children = slices.DeleteFunc(tn.Children, func(c *configtree.Node) bool {
		sc := sn.Child(c.Name)
		return container(c) && len(c.Children) == 0 && sc != nil && sc.Kind == schema.Container && !hasOwnMeaning(sc)
	})
}

// hasOwnMeaning tells containers whose mere presence is configuration
// (service conntrack-sync) from those that only group (service).
func hasOwnMeaning(sc *schema.Node) bool {
	return sc.Parent != nil && sc.Parent.Parent != nil
}

// skipped records a removed subtree: as one path for a block holding
// settings, as its entries for a top-level group of lists (interfaces
// ethernet eth0, interfaces ethernet eth1), so the list says what was
// left behind without printing every line of it.
func skipped(at []string, c *configtree.Node, out *[]string) {
	p := append(slices.Clip(at), c.Name)
	switch {
	case c.Tag && len(p) < 3:
		for _, e := range c.Children {
			*out = append(*out, path(append(slices.Clip(p), e.Name)...))
		}
	case container(c) && len(p) < 2 && len(c.Children) > 0 && !slices.ContainsFunc(c.Children, func(x *configtree.Node) bool { return x.Leaf }):
		for _, x := range c.Children {
			skipped(p, x, out)
		}
	default:
		*out = append(*out, path(p...))
	}
}
