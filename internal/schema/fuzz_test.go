package schema

import (
	"strings"
	"testing"
	"unicode"

	"github.com/ctsync/ctsync/internal/configtree"
)

// FuzzResolve feeds arbitrary `set` paths to Resolve. It must not panic,
// and whatever it accepts must be safe to write into a daemon config:
// no quote, brace, '#', ';', backslash or control character anywhere,
// and whitespace only in a description.
func FuzzResolve(f *testing.F) {
	for _, seed := range []string{
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync mcast-group 225.0.0.50",
		"service conntrack-sync accept-protocol tcp",
		"service conntrack-sync startup-resync",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
		"service conntrack-sync ignore-address 2001:db8::/32",
		"high-availability vrrp group wan description\x1fuplink to ISP",
		"high-availability vrrp group wan authentication password s3cr3t!",
		"high-availability vrrp group wan transition-script master\x1f/config/scripts/m.sh",
		"high-availability vrrp global-parameters garp interval 0.5",
		"service conntrack-sync interface eth1{ peer 1.2.3.4",
	} {
		f.Add(seed)
	}
	s := Default()
	f.Fuzz(func(t *testing.T, line string) {
		// Words are split on spaces; \x1f stands for a space inside a
		// word, so the fuzzer can reach values that contain one.
		words := strings.Split(line, " ")
		for i, w := range words {
			words[i] = strings.ReplaceAll(w, "\x1f", " ")
		}
		r, err := s.Resolve(words)
		if err != nil {
			return
		}
		isDescription := r.Node.Name == "description"
		for _, w := range r.Path {
			for _, c := range w {
				if strings.ContainsRune("\"'{}#;\\", c) || unicode.IsControl(c) || c > unicode.MaxASCII {
					t.Fatalf("accepted %q in %q", c, r.Path)
				}
				if unicode.IsSpace(c) && !(isDescription && w == r.Value) {
					t.Fatalf("accepted whitespace in %q", r.Path)
				}
			}
		}
		// What Resolve accepts, Validate and JSON must accept too.
		tree := configtree.New()
		r.SetIn(tree)
		if r.Node.Kind == Container || r.Node.Kind == Tag {
			return // mandatory children may be missing; values were checked above
		}
		if _, err := s.MarshalJSON(tree); err != nil {
			t.Fatalf("JSON of an accepted path %q: %v", r.Path, err)
		}
	})
}
