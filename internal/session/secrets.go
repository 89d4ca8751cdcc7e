package session

import "github.com/ctsync/ctsync/internal/configtree"

// Masked is what a secret reads as for a user who may not see it.
const Masked = "********"

// secretPaths are the leaves whose values are secrets ("*" matches any
// tag). VRRP's plaintext password is the only one today.
var secretPaths = [][]string{
	{"high-availability", "vrrp", "group", "*", "authentication", "password"},
}

// MaskSecrets returns a copy of t with every secret's value replaced by
// Masked: what running.boot (readable by op-mode) and a session of a
// user other than root show.
func MaskSecrets(t *configtree.Node) *configtree.Node {
	out := t.Clone()
	for _, p := range secretPaths {
		maskAt(out, p)
	}
	return out
}

func maskAt(n *configtree.Node, p []string) {
	if n == nil {
		return
	}
	if len(p) == 0 {
		for i := range n.Values {
			n.Values[i] = Masked
		}
		return
	}
	if p[0] == "*" {
		for _, c := range n.Children {
			maskAt(c, p[1:])
		}
		return
	}
	maskAt(n.Get(p[0]), p[1:])
}

// SetHideSecrets makes show and compare print secrets as Masked: for a
// session of a user other than root. The candidate keeps the values.
func (s *Session) SetHideSecrets(hide bool) { s.hide = hide }

// view is t as this session may print it.
func (s *Session) view(t *configtree.Node) *configtree.Node {
	if !s.hide || t == nil {
		return t
	}
	return MaskSecrets(t)
}

// CandidateShown is the candidate as this session may print it (secrets
// masked for a user other than root).
func (s *Session) CandidateShown() *configtree.Node { return s.view(s.candidate.Clone()) }
