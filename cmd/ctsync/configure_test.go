package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/schema"
)

func TestCompletions(t *testing.T) {
	s := schema.Default()
	words := func(cs []schema.Completion) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Word)
		}
		return out
	}
	tests := []struct {
		head    string
		partial string
		want    []string
		ok      bool
	}{
		{head: "", want: words(shellCommands), ok: true},
		{head: "comm", partial: "comm", want: []string{"commit", "commit-confirm"}, ok: true},
		{head: "set serv", partial: "serv", want: []string{"service"}, ok: true},
		{head: "set service conntrack-sync interface eth1 p", partial: "p", want: []string{"peer", "port"}, ok: true},
		{head: "commit ", want: []string{"check", "comment"}, ok: true},
		{head: "rollback ", want: []string{"<N>"}, ok: true},
		{head: "discard ", ok: false},
		{head: `set 'unterminated`, ok: false},
	}
	for _, tt := range tests {
		partial, got, ok := completions(s, tt.head)
		if ok != tt.ok || partial != tt.partial {
			t.Errorf("completions(%q) partial %q ok %v; want %q %v", tt.head, partial, ok, tt.partial, tt.ok)
			continue
		}
		if diff := cmp.Diff(tt.want, words(got)); diff != "" {
			t.Errorf("completions(%q) (-want +got):\n%s", tt.head, diff)
		}
	}
}
