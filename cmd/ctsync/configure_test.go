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

// TestParseGlobals: --json and --root may stand anywhere on the line, as
// operators type them at the end as often as at the front; op-mode
// commands never see them.
func TestParseGlobals(t *testing.T) {
	tests := []struct {
		args  []string
		words []string
		json  bool
		root  string
	}{
		{[]string{"show", "conntrack", "table", "ipv4", "--json", "protocol", "tcp"}, []string{"show", "conntrack", "table", "ipv4", "protocol", "tcp"}, true, "/"},
		{[]string{"--json"}, nil, true, "/"},
		{[]string{"--root", "/srv/r1", "show", "conntrack-sync", "status"}, []string{"show", "conntrack-sync", "status"}, false, "/srv/r1"},
		{[]string{"show", "conntrack-sync", "statistics", "--root=/srv/r2", "-j"}, []string{"show", "conntrack-sync", "statistics"}, true, "/srv/r2"},
	}
	t.Setenv("CTSYNC_ROOT", "")
	for _, tt := range tests {
		g, words, err := parseGlobals(tt.args)
		if err != nil {
			t.Fatalf("parseGlobals(%q): %v", tt.args, err)
		}
		if diff := cmp.Diff(tt.words, words); diff != "" || g.json != tt.json || g.root.Dir != tt.root {
			t.Errorf("parseGlobals(%q) = %q json %v root %q; want json %v root %q (-want +got words):\n%s", tt.args, words, g.json, g.root.Dir, tt.json, tt.root, diff)
		}
	}
	if _, _, err := parseGlobals([]string{"show", "--root"}); err == nil {
		t.Error("--root without a directory was accepted")
	}
}
