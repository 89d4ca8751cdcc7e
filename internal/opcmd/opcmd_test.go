package opcmd

import (
	"slices"
	"testing"
)

func TestStripJSON(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want []string
		json bool
	}{
		{[]string{"ipv4", "--json", "protocol", "tcp"}, []string{"ipv4", "protocol", "tcp"}, true},
		{[]string{"ipv4"}, []string{"ipv4"}, false},
		{[]string{"--json"}, []string{}, true},
	} {
		got, j := StripJSON(tt.in)
		if j != tt.json || !slices.Equal(got, tt.want) {
			t.Errorf("StripJSON(%q) = %q, %v; want %q, %v", tt.in, got, j, tt.want, tt.json)
		}
	}
}

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
