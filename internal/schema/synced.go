package schema

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/ctsync/ctsync/internal/configtree"
)

// SyncedRoots are the subtrees the two routers of a pair keep identical,
// node-local nodes aside: VyOS's config-sync cannot sync them, and they
// are exactly what a pair must agree on.
var SyncedRoots = [][]string{{"high-availability"}, {"service", "conntrack-sync"}}

// SyncedPart returns a copy of the parts of tree under SyncedRoots with
// every node-local node left out: what must be identical on both routers
// of a pair. A tree with none of it gives an empty root.
func (s *Schema) SyncedPart(tree *configtree.Node) *configtree.Node {
	out := configtree.New()
	if tree == nil {
		return out
	}
	for _, root := range SyncedRoots {
		src := tree.Get(root...)
		if src == nil {
			continue
		}
		c := s.stripLocal(src, root, false)
		if c == nil {
			continue
		}
		// Rebuild the path from the tree's root down to the subtree.
		parent := out
		for i, name := range root[:len(root)-1] {
			p := parent.Child(name)
			if p == nil {
				p = &configtree.Node{Name: name, Tag: tree.Get(root[:i+1]...).Tag}
				parent.Children = append(parent.Children, p)
				sortNodes(parent)
			}
			parent = p
		}
		parent.Children = append(parent.Children, c)
		sortNodes(parent)
	}
	return out
}

// stripLocal copies n (at tree path p) without its node-local
// descendants; nil when n itself is node-local or nothing is left of a
// container that held only node-local nodes. An entry of a list (entry
// set) stays even when emptied: that the entry exists is shared.
func (s *Schema) stripLocal(n *configtree.Node, p []string, entry bool) *configtree.Node {
	sn := s.Lookup(p)
	if sn != nil && sn.NodeLocal {
		return nil
	}
	c := &configtree.Node{Name: n.Name, Tag: n.Tag, Leaf: n.Leaf}
	if n.Leaf {
		c.Values = append([]string(nil), n.Values...)
		return c
	}
	for _, ch := range n.Children {
		cp := append(append([]string(nil), p...), ch.Name)
		if x := s.stripLocal(ch, cp, n.Tag); x != nil {
			c.Children = append(c.Children, x)
		}
	}
	if len(c.Children) == 0 && len(n.Children) > 0 && !entry && (sn == nil || !sn.presence) {
		// Everything under it was node-local: a container that exists
		// only to hold local values is itself local. A presence
		// container's existence means something, and is shared.
		return nil
	}
	return c
}

// SyncedHash is the SHA-256 of the synced part of tree in config.boot
// form: two routers whose hashes match agree on everything they must.
func (s *Schema) SyncedHash(tree *configtree.Node) string {
	sum := sha256.Sum256([]byte(s.SyncedPart(tree).String()))
	return hex.EncodeToString(sum[:])
}

func sortNodes(n *configtree.Node) {
	// Children are few; insertion keeps the tree's sorted invariant.
	for i := len(n.Children) - 1; i > 0 && n.Children[i].Name < n.Children[i-1].Name; i-- {
		n.Children[i], n.Children[i-1] = n.Children[i-1], n.Children[i]
	}
}
