package configtree

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestChanges(t *testing.T) {
	parse := func(s string) *Node {
		t.Helper()
		n, err := Parse(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a := parse("a {\n    l 1\n    list x\n    list y\n}\ntag \"k 1\" {\n    l 1\n}\ngone {\n    l 1\n}\n")
	b := parse("a {\n    l 2\n    list y\n    list z\n}\ntag \"k 1\" {\n    l 1\n    m 2\n}\nnew 1\n")
	multi := func(p []string) bool { return p[len(p)-1] == "list" }
	var got []string
	for _, c := range Changes(a, b, multi) {
		got = append(got, c.String())
	}
	// Deepest first-differing places, in path order; leaf-list values
	// one by one; a key with a space quoted as the shell reads it back.
	want := []string{"a l", "a list x", "a list z", "gone", "new", "tag 'k 1' m"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Changes (-want +got):\n%s", diff)
	}
	if c := Changes(a, a.Clone(), multi); len(c) != 0 {
		t.Errorf("Changes of equal trees: %v", c)
	}
	got = nil
	for _, c := range Changes(nil, b, multi) {
		got = append(got, c.String())
	}
	if diff := cmp.Diff([]string{"a", "new", "tag"}, got); diff != "" {
		t.Errorf("Changes from nothing (-want +got):\n%s", diff)
	}
}
