package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/openconfig/goyang/pkg/yang"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

// JSON renders tree as RFC 7951 JSON, indented: top-level names
// qualified with their module, tag nodes as arrays of objects holding
// their key, 8-, 16- and 32-bit integers as numbers, 64-bit integers and
// decimals as strings, a valueless leaf as [null]. Members keep the
// tree's (sorted) order, so the output is deterministic.
func (s *Schema) JSON(tree *configtree.Node) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	if tree != nil {
		if err := s.writeMembers(&b, s.root, tree, nil, true); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("indenting json: %w", err)
	}
	return out.Bytes(), nil
}

// writeMembers writes the children of tn as object members (without the
// braces). first says whether no member precedes them in the object.
func (s *Schema) writeMembers(b *bytes.Buffer, sn *Node, tn *configtree.Node, path []string, first bool) error {
	for _, c := range tn.Children {
		p := append(slices.Clip(path), c.Name)
		sc := sn.Child(c.Name)
		if sc == nil {
			return unknownNode(p, sn)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		name := sc.Name
		// RFC 7951 section 4: a member is qualified where its module
		// differs from its parent's, which at the top level is always.
		if sn.Parent == nil || sn.Module != sc.Module {
			name = sc.Module + ":" + name
		}
		writeString(b, name)
		b.WriteByte(':')
		if err := s.writeValue(b, sc, c, p); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schema) writeValue(b *bytes.Buffer, sc *Node, c *configtree.Node, p []string) error {
	switch sc.Kind {
	case Container:
		b.WriteByte('{')
		if err := s.writeMembers(b, sc, c, p, true); err != nil {
			return err
		}
		b.WriteByte('}')
	case Tag:
		b.WriteByte('[')
		for i, entry := range c.Children {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			writeString(b, sc.keyName)
			b.WriteByte(':')
			if err := writeScalar(b, sc.typ, entry.Name, append(slices.Clip(p), entry.Name)); err != nil {
				return err
			}
			if err := s.writeMembers(b, sc, entry, append(slices.Clip(p), entry.Name), false); err != nil {
				return err
			}
			b.WriteByte('}')
		}
		b.WriteByte(']')
	case Leaf:
		switch {
		case sc.Valueless:
			b.WriteString("[null]")
		case len(c.Values) != 1:
			return cfgerr.New(p, "takes one value, has %d", len(c.Values))
		default:
			return writeScalar(b, sc.typ, c.Values[0], p)
		}
	case LeafList:
		b.WriteByte('[')
		for i, v := range c.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeScalar(b, sc.typ, v, p); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	}
	return nil
}

// writeScalar writes v per its type. The value is validated first: JSON
// numbers are written as the digits the user typed, so only a checked
// value may go out unquoted.
func writeScalar(b *bytes.Buffer, t *valueType, v string, p []string) error {
	if err := t.validate(v); err != nil {
		return cfgerr.New(append(slices.Clip(p), v), "%s", err.Error())
	}
	for t.kind == yang.Yunion {
		var member *valueType
		for _, u := range t.union {
			if u.validate(v) == nil {
				member = u
				break
			}
		}
		t = member
	}
	switch t.kind {
	case yang.Yint8, yang.Yint16, yang.Yint32, yang.Yuint8, yang.Yuint16, yang.Yuint32, yang.Ybool:
		b.WriteString(v)
	default:
		writeString(b, v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	data, _ := json.Marshal(s) // a string always marshals
	b.Write(data)
}
