package schema

import (
	"strings"

	"github.com/ctsync/ctsync/internal/cfgerr"
)

// TypeName is the name of a leaf's (or a tag node's key's) type: the
// typedef's name ("interface-name") or the built-in type's; "" for a
// container. The shell picks live completions by it.
func (n *Node) TypeName() string {
	if n == nil || n.typ == nil {
		return ""
	}
	return n.typ.name
}

// Match returns the choices that start with prefix: just the exact one
// when a choice equals prefix, so "interface" is never ambiguous with
// "interface-name".
func Match(choices []string, prefix string) []string {
	var out []string
	for _, c := range choices {
		if c == prefix {
			return []string{c}
		}
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// Expand replaces each unique abbreviation of a keyword in a `set` path
// (node names and enumeration values) by the keyword, as router shells
// do: "serv con int eth1" is "service conntrack-sync interface eth1".
// Tag keys and free values are never expanded: "eth" is a name of its
// own. An abbreviation that fits several keywords is a *cfgerr.Error
// listing them; a word that fits none is left for Resolve to refuse.
// Expand never fails for words that are already whole.
func (s *Schema) Expand(words []string) ([]string, error) {
	out := append([]string(nil), words...)
	n := s.root
	for i := 0; i < len(out); i++ {
		w, err := pick(out[:i+1], childNames(n), out[i])
		if err != nil {
			return nil, err
		}
		out[i] = w
		child := n.Child(w)
		if child == nil {
			return out, nil
		}
		switch child.Kind {
		case Container:
			n = child
		case Tag:
			i++ // the key, as typed
			n = child
		case Leaf, LeafList:
			if i+1 < len(out) && child.typ != nil && len(child.typ.enums) > 0 {
				v, err := pick(out[:i+2], child.typ.enums, out[i+1])
				if err != nil {
					return nil, err
				}
				out[i+1] = v
			}
			return out, nil
		}
	}
	return out, nil
}

// pick returns the keyword w abbreviates among choices, w itself when it
// abbreviates none.
func pick(path, choices []string, w string) (string, error) {
	if w == "" {
		return w, nil
	}
	m := Match(choices, w)
	switch len(m) {
	case 0:
		return w, nil
	case 1:
		return m[0], nil
	}
	return "", cfgerr.New(path, "ambiguous: %q could be %s", w, strings.Join(m, ", "))
}

func childNames(n *Node) []string {
	out := make([]string, len(n.Children))
	for i, c := range n.Children {
		out[i] = c.Name
	}
	return out
}
