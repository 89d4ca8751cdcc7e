package session

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
)

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
	eachSecret(out, func(_ []string, n *configtree.Node) {
		for i := range n.Values {
			n.Values[i] = Masked
		}
	})
	return out
}

// Secrets lists the paths of t's secrets that hold a value.
func Secrets(t *configtree.Node) [][]string {
	var out [][]string
	eachSecret(t, func(p []string, n *configtree.Node) {
		if len(n.Values) > 0 {
			out = append(out, p)
		}
	})
	return out
}

// MaskedSecrets lists the paths of t's secrets whose value is Masked: a
// file written for someone who may not see them (save FILE by a user
// other than root, running.boot, a copied `show configuration`).
// Loaded, the mask would become the password.
func MaskedSecrets(t *configtree.Node) [][]string {
	var out [][]string
	eachSecret(t, func(p []string, n *configtree.Node) {
		for _, v := range n.Values {
			if v == Masked {
				out = append(out, p)
				return
			}
		}
	})
	return out
}

// eachSecret calls f with the path (tag keys included) and node of every
// secret leaf in t.
func eachSecret(t *configtree.Node, f func(path []string, n *configtree.Node)) {
	for _, p := range secretPaths {
		walkSecret(t, p, nil, f)
	}
}

func walkSecret(n *configtree.Node, p, at []string, f func([]string, *configtree.Node)) {
	if n == nil {
		return
	}
	if len(p) == 0 {
		f(at, n)
		return
	}
	if p[0] == "*" {
		for _, c := range n.Children {
			walkSecret(c, p[1:], append(slices.Clip(at), c.Name), f)
		}
		return
	}
	walkSecret(n.Child(p[0]), p[1:], append(slices.Clip(at), p[0]), f)
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

// diff is configtree.Diff from a to b as this session may print it.
// Masked on both sides, a secret that changed would vanish from the
// diff: each one is shown changed, its values masked.
func (s *Session) diff(a, b *configtree.Node) string {
	d := configtree.Diff(s.view(a), s.view(b))
	if !s.hide {
		return d
	}
	old := map[string][]string{}
	eachSecret(a, func(p []string, n *configtree.Node) { old[strings.Join(p, "\x00")] = n.Values })
	var out strings.Builder
	out.WriteString(d)
	eachSecret(b, func(p []string, n *configtree.Node) {
		v, ok := old[strings.Join(p, "\x00")]
		if !ok || slices.Equal(v, n.Values) {
			return
		}
		var at []string
		for _, w := range p[:len(p)-1] {
			at = append(at, configtree.Quote(w))
		}
		name := p[len(p)-1]
		fmt.Fprintf(&out, "[edit %s]\n-%s %s\n+%s %s\n", strings.Join(at, " "), name, Masked, name, Masked)
	})
	return out.String()
}

// CandidateShown is the candidate as this session may print it (secrets
// masked for a user other than root).
func (s *Session) CandidateShown() *configtree.Node { return s.view(s.candidate.Clone()) }
