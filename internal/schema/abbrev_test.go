package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/cfgerr"
)

func TestExpand(t *testing.T) {
	s := Default()
	tests := []struct {
		in, want string
		err      string // substring of the error; "" for none
	}{
		{in: "serv con int eth1", want: "service conntrack-sync interface eth1"},
		{in: "service conntrack-sync interface eth1 peer 192.0.2.2", want: "service conntrack-sync interface eth1 peer 192.0.2.2"},
		// A tag key is a name of its own, never expanded.
		{in: "high vrrp gr wa vr 1", want: "high-availability vrrp group wa vrid 1"},
		// Enumeration values are keywords too.
		{in: "serv con accept-protocol ud", want: "service conntrack-sync accept-protocol udp"},
		// A free value is kept as typed.
		{in: "serv con interface eth1 peer 192", want: "service conntrack-sync interface eth1 peer 192"},
		// Unknown words are left for Resolve to explain.
		{in: "serv bogus x", want: "service bogus x"},
		{in: "serv con i", err: `ambiguous: "i" could be ignore-address, interface`},
		{in: "", want: ""},
	}
	for _, tt := range tests {
		got, err := s.Expand(strings.Fields(tt.in))
		if tt.err != "" {
			var ce *cfgerr.Error
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ce) {
				t.Errorf("Expand(%q) error %v; want a *cfgerr.Error containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Expand(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, strings.Join(got, " ")); diff != "" {
			t.Errorf("Expand(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// FuzzExpand: whatever the words, Expand does not panic, keeps their
// number, and a path it returns expands to itself.
func FuzzExpand(f *testing.F) {
	f.Add("serv con int eth1 peer 192.0.2.2")
	f.Add("high vrrp gr wan")
	f.Fuzz(func(t *testing.T, line string) {
		s := Default()
		words := strings.Fields(line)
		got, err := s.Expand(words)
		if err != nil {
			return
		}
		if len(got) != len(words) {
			t.Fatalf("Expand(%q) = %q: %d words for %d", words, got, len(got), len(words))
		}
		again, err := s.Expand(got)
		if err != nil || !cmp.Equal(again, got) {
			t.Fatalf("Expand(Expand(%q)) = %q, %v; want %q", words, again, err, got)
		}
	})
}
