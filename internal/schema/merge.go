package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

// MergeSynced returns local with its synced part replaced by synced, a
// synced part as SyncedPart gives it on the peer: what this router
// commits when its peer commits a change of the synced part. Everything
// under SyncedRoots that is not node-local comes from synced; every
// node-local node of local stays where its place still exists. A
// node-local value under a list entry or a presence container that
// synced no longer holds goes with it (the peer deleted the VRRP group,
// and with it this router's priority for it); plain containers that
// only held node-local values are kept. Comments stay as local has them:
// they are an operator's notes on one router. Nothing outside
// SyncedRoots changes, so SyncedPart of the result is synced again.
func (s *Schema) MergeSynced(local, synced *configtree.Node) *configtree.Node {
	if local == nil {
		local = configtree.New()
	}
	out := local.Clone()
	for _, root := range SyncedRoots {
		out.Delete(root, nil)
		if src := synced.Get(root...); src != nil {
			s.graft(out, root, src.Clone(), true)
		}
	}
	for _, root := range SyncedRoots {
		if src := local.Get(root...); src != nil {
			s.keepLocal(out, src, slices.Clone(root))
		}
	}
	configtree.CopyComments(out, local)
	return out
}

// keepLocal puts every node-local node of n (at tree path p) into out.
func (s *Schema) keepLocal(out, n *configtree.Node, p []string) {
	if sn := s.Lookup(p); sn != nil && sn.NodeLocal {
		s.graft(out, p, n.Clone(), false)
		return
	}
	if n.Leaf {
		return
	}
	for _, c := range n.Children {
		s.keepLocal(out, c, append(slices.Clip(p), c.Name))
	}
}

// graft inserts n at tree path p of out. Missing containers on the way
// are made when they are plain containers (or always, with any set: a
// synced subtree's root); a missing list entry or presence container
// means the place is gone, and n is dropped.
func (s *Schema) graft(out *configtree.Node, p []string, n *configtree.Node, any bool) {
	cur, i := out, 0
	for ; i < len(p)-1; i++ {
		next := cur.Child(p[i])
		if next == nil {
			break
		}
		cur = next
	}
	// Everything from p[i] down is missing: check it may all be made
	// before making any of it, so a dropped value leaves no empty
	// container behind.
	if !any {
		if cur.Tag && i < len(p)-1 {
			return
		}
		for j := i; j < len(p)-1; j++ {
			if sn := s.Lookup(p[:j+1]); sn == nil || sn.Kind != Container || sn.presence {
				return
			}
		}
	}
	for ; i < len(p)-1; i++ {
		sn := s.Lookup(p[:i+1])
		next := &configtree.Node{Name: p[i], Tag: !cur.Tag && sn != nil && sn.Kind == Tag}
		cur.Insert(next)
		cur = next
	}
	cur.Insert(n)
}

// ErrNotSynced is a tree given as a synced part that holds more than
// one.
var ErrNotSynced = errors.New("not a synced part")

// ParseSynced reads a synced part sent by the peer (config.boot form)
// and checks it is one: nothing outside SyncedRoots, nothing node-local,
// every node known to the schema. Validation of the values is the
// commit's.
func (s *Schema) ParseSynced(text string) (*configtree.Node, error) {
	t, err := configtree.Parse(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotSynced, err)
	}
	var bad []string
	var first []string
	var walk func(n *configtree.Node, p []string)
	walk = func(n *configtree.Node, p []string) {
		for _, c := range n.Children {
			cp := append(slices.Clip(p), c.Name)
			if why := s.notSynced(c, cp, n.Tag); why != "" {
				if first == nil {
					first = slices.Clone(cp)
				}
				bad = append(bad, strings.Join(cp, " ")+": "+why)
				continue
			}
			walk(c, cp)
		}
	}
	walk(t, nil)
	if len(bad) > 0 {
		return nil, &cfgerr.Error{Path: first, Msg: fmt.Sprintf("%v (%s)", ErrNotSynced, strings.Join(bad, "; ")), Cause: ErrNotSynced}
	}
	return t, nil
}

// notSynced says why node c at tree path p (an entry of a list when
// entry is set) may not be part of a synced part; "" when it may.
func (s *Schema) notSynced(c *configtree.Node, p []string, entry bool) string {
	sn := s.Lookup(p)
	switch {
	case sn == nil:
		return "not in the schema"
	case !underSynced(p):
		return "outside the synced subtrees"
	case sn.NodeLocal:
		return "node-local"
	case entry && (c.Leaf || c.Tag):
		return "a list entry that is not one"
	case !entry && c.Tag != (sn.Kind == Tag):
		return "the list does not match the schema"
	case !entry && c.Leaf != (sn.Kind == Leaf || sn.Kind == LeafList):
		return "the leaf does not match the schema"
	case !entry && !c.Leaf && len(c.Children) == 0 && !sn.presence:
		// A tree never holds one; the merge would add it.
		return "empty"
	}
	return ""
}

// underSynced says whether tree path p lies on the way to, on or under
// one of SyncedRoots.
func underSynced(p []string) bool {
	for _, r := range SyncedRoots {
		n := min(len(p), len(r))
		if slices.Equal(p[:n], r[:n]) {
			return true
		}
	}
	return false
}
