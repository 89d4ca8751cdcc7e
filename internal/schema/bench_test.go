package schema

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
)

// BenchmarkResolveValidate is what a commit of a full config costs the
// schema: every `set` line resolved, the tree validated, defaults added.
func BenchmarkResolveValidate(b *testing.B) {
	s := Default()
	lines := make([][]string, len(fullConfig))
	for i, l := range fullConfig {
		lines[i] = strings.Fields(l)
	}
	b.ReportAllocs()
	for b.Loop() {
		tree := configtree.New()
		for _, w := range lines {
			r, err := s.Resolve(w)
			if err != nil {
				b.Fatal(err)
			}
			r.SetIn(tree)
		}
		if err := s.Validate(tree); err != nil {
			b.Fatal(err)
		}
		s.WithDefaults(tree)
	}
}

func BenchmarkJSON(b *testing.B) {
	s := Default()
	tree := s.WithDefaults(build(b, s, fullConfig...))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.MarshalJSON(tree); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := Load(); err != nil {
			b.Fatal(err)
		}
	}
}
