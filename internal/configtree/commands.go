package configtree

import (
	"io"
	"strings"
)

// Paths lists the node's configuration as word paths relative to n, one
// per leaf value (the value is the last word), one per valueless leaf,
// and one per empty container or tag entry, which exists by itself. The
// order is the tree's. Session merges replay these as set commands.
func (n *Node) Paths() [][]string {
	var out [][]string
	var walk func(n *Node, prefix []string)
	walk = func(n *Node, prefix []string) {
		for _, c := range n.Children {
			p := append(prefix[:len(prefix):len(prefix)], c.Name)
			switch {
			case c.Leaf && len(c.Values) == 0:
				out = append(out, p)
			case c.Leaf:
				for _, v := range c.Values {
					out = append(out, append(p[:len(p):len(p)], v))
				}
			case c.Tag:
				for _, e := range c.Children {
					ep := append(p[:len(p):len(p)], e.Name)
					if len(e.Children) == 0 {
						out = append(out, ep)
					} else {
						walk(e, ep)
					}
				}
			case len(c.Children) == 0:
				out = append(out, p)
			default:
				walk(c, p)
			}
		}
	}
	if n != nil {
		walk(n, nil)
	}
	return out
}

// Commands returns the node's configuration as set commands, for `show
// configuration commands`: "set service conntrack-sync interface eth1
// peer 192.0.2.2". Words are quoted (see Quote) only when needed, so
// each line tokenizes back to its path.
func (n *Node) Commands() []string {
	paths := n.Paths()
	out := make([]string, len(paths))
	for i, p := range paths {
		var b strings.Builder
		b.WriteString("set")
		for _, w := range p {
			b.WriteByte(' ')
			b.WriteString(Quote(w))
		}
		out[i] = b.String()
	}
	return out
}

// WriteCommands writes Commands, one a line: `show commands`.
func (n *Node) WriteCommands(w io.Writer) {
	for _, c := range n.Commands() {
		io.WriteString(w, c+"\n")
	}
}
