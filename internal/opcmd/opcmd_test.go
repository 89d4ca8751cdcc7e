package opcmd

import (
	"slices"
	"testing"
)

func TestLookupLongestPrefix(t *testing.T) {
	Register(Command{Path: []string{"show", "x"}})
	Register(Command{Path: []string{"show", "x", "y"}})
	c, rest, err := Lookup([]string{"show", "x", "y", "z"})
	if err != nil || !slices.Equal(c.Path, []string{"show", "x", "y"}) || !slices.Equal(rest, []string{"z"}) {
		t.Fatalf("Lookup = %v %q %v", c, rest, err)
	}
	if _, _, err := Lookup([]string{"show", "nothing"}); err != ErrUnknown {
		t.Fatalf("Lookup of an unknown command: %v", err)
	}
}
