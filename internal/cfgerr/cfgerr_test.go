package cfgerr

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
)

func TestError(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"no path", &Error{Msg: "broken"}, "broken"},
		{"path and hint", New([]string{"service", "conntrack-sync", "interface", "eth9"}, "interface does not exist").WithHint("check %s", "ip link"),
			"service conntrack-sync interface eth9: interface does not exist (check ip link)"},
		// A key holding a space is quoted as the shell quotes it, so the
		// path reads back as the words it is.
		{"key with a space", New([]string{"high-availability", "vrrp", "group", "bad name"}, "invalid group name"),
			"high-availability vrrp group 'bad name': invalid group name"},
		{"key with a quote", New([]string{"group", "it's here"}, "x"), `group "it's here": x`},
		{"empty key", New([]string{"group", ""}, "x"), "group '': x"},
		// Words the shell would quote for other reasons stay as typed:
		// they read back as one word anyway.
		{"brace", New([]string{"interface", "eth1}"}, "x"), "interface eth1}: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// The displayed path tokenizes back to the path whenever its words do
// not themselves hold quotes or braces.
func TestJoinPathTokenizes(t *testing.T) {
	for _, p := range [][]string{
		{"service", "conntrack-sync", "interface", "eth 1"},
		{"a", "", "b\tc"},
		{"plain"},
	} {
		got, err := configtree.Tokenize(JoinPath(p))
		if err != nil || !slices.Equal(got, p) {
			t.Errorf("Tokenize(JoinPath(%q)) = %q, %v", p, got, err)
		}
	}
}

func TestNewCopiesPath(t *testing.T) {
	base := make([]string, 2, 8)
	base[0], base[1] = "high-availability", "vrrp"
	e := New(append(base, "group"), "x")
	_ = append(base, "sync-group") // would overwrite e.Path[2] if New kept the slice
	if want := []string{"high-availability", "vrrp", "group"}; !slices.Equal(e.Path, want) {
		t.Errorf("Path = %q, want %q", e.Path, want)
	}
}

func TestPathOf(t *testing.T) {
	e := New([]string{"service", "ctsync", "metrics"}, "x")
	wrapped := fmt.Errorf("apply: %w", errors.Join(errors.New("other"), e))
	if got := PathOf(wrapped); !slices.Equal(got, e.Path) {
		t.Errorf("PathOf = %q, want %q", got, e.Path)
	}
	if got := PathOf(errors.New("plain")); got != nil {
		t.Errorf("PathOf(plain error) = %q, want nil", got)
	}
}
