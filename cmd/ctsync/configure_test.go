package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/session"
)

func TestCompletions(t *testing.T) {
	s := schema.Default()
	cand := configtree.New()
	for _, l := range []string{
		"high-availability vrrp group wan interface eth0",
		"high-availability vrrp group lan interface eth2",
		"high-availability vrrp sync-group MAIN member wan",
		"service conntrack-sync interface eth1",
	} {
		if err := s.Set(cand, strings.Fields(l)); err != nil {
			t.Fatal(err)
		}
	}
	words := func(cs []schema.Completion) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Word)
		}
		return out
	}
	tests := []struct {
		level   string
		head    string
		partial string
		want    []string
		ok      bool
	}{
		{head: "", want: words(session.Commands), ok: true},
		{head: "comm", partial: "comm", want: []string{"comment", "commit", "commit-confirm"}, ok: true},
		{head: "set serv", partial: "serv", want: []string{"service"}, ok: true},
		// Abbreviated words before the one being completed count.
		{head: "set serv con interface eth1 p", partial: "p", want: []string{"peer", "port"}, ok: true},
		// A tag key: existing entries, the router's interfaces, the hint.
		{head: "set service conntrack-sync interface ", want: []string{"eth1", "lo", "veth-a", "<interface name>"}, ok: true},
		{head: "set service conntrack-sync interface v", partial: "v", want: []string{"veth-a", "<interface name>"}, ok: true},
		// References offer the names that exist.
		{head: "set high-availability vrrp sync-group MAIN member ", want: []string{"lan", "wan", "<name>"}, ok: true},
		{head: "set service conntrack-sync failover-mechanism vrrp sync-group ", want: []string{"MAIN", "<name>"}, ok: true},
		{head: "set service conntrack-sync accept-protocol u", partial: "u", want: []string{"udp"}, ok: true},
		// Relative to the level.
		{level: "high-availability vrrp group wan", head: "set interface ", want: []string{"lo", "veth-a", "<interface name>"}, ok: true},
		{level: "high-availability vrrp", head: "rename group wan ", want: []string{"to"}, ok: true},
		{level: "high-availability vrrp", head: "rename group wan to gr", partial: "gr", want: []string{"group"}, ok: true},
		// delete, show and comment offer only what exists.
		{head: "delete high-availability vrrp group ", want: []string{"lan", "wan"}, ok: true},
		{head: "delete service conntrack-sync ", want: []string{"interface"}, ok: true},
		{head: "del serv con interface ", want: []string{"eth1"}, ok: true},
		{head: "delete high-availability vrrp sync-group MAIN member ", want: []string{"wan"}, ok: true},
		{head: "show ", want: []string{"high-availability", "service", "commands"}, ok: true},
		{head: "comment high-availability vrrp ", want: []string{"group", "sync-group", `<"text">`}, ok: true},
		{level: "high-availability vrrp", head: "copy ", want: []string{"group", "sync-group"}, ok: true},
		{head: "run sh", partial: "sh", want: []string{"show"}, ok: true},
		{head: "run show conf", partial: "conf", want: []string{"configuration"}, ok: true},
		{head: "commit ", want: []string{"check", "comment", "confirmed", "local"}, ok: true},
		{head: "compare ", want: []string{"saved", "<N>"}, ok: true},
		{head: "rollback ", want: []string{"<N>"}, ok: true},
		{head: "discard ", ok: false},
		{head: `set 'unterminated`, ok: false},
	}
	for _, tt := range tests {
		c := &completer{
			schema:     s,
			candidate:  func() *configtree.Node { return cand },
			interfaces: func() []string { return []string{"lo", "veth-a"} },
		}
		if tt.level != "" {
			c.level = strings.Fields(tt.level)
		}
		partial, got, ok := c.complete(tt.head)
		if ok != tt.ok || partial != tt.partial {
			t.Errorf("complete(%q) partial %q ok %v; want %q %v", tt.head, partial, ok, tt.partial, tt.ok)
			continue
		}
		if diff := cmp.Diff(tt.want, words(got)); diff != "" {
			t.Errorf("complete(%q) (-want +got):\n%s", tt.head, diff)
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

// BenchmarkComplete is one TAB's work in the shell, the candidate fetch
// over the socket aside: expanding abbreviations, resolving the path
// relative to the level and gathering live values.
func BenchmarkComplete(b *testing.B) {
	s := schema.Default()
	cand := configtree.New()
	for i := range 50 {
		if err := s.Set(cand, strings.Fields(fmt.Sprintf("high-availability vrrp group g%d vrid %d", i, i+1))); err != nil {
			b.Fatal(err)
		}
	}
	c := &completer{schema: s, candidate: func() *configtree.Node { return cand }, interfaces: func() []string { return []string{"lo", "eth0", "eth1"} }}
	heads := []string{"set serv con int eth1 p", "set high-availability vrrp sync-group MAIN member ", "delete high vrrp group ", "run show conn"}
	b.ReportAllocs()
	for b.Loop() {
		for _, h := range heads {
			c.complete(h)
		}
	}
}

// TestExpandOp: op-mode words take unique abbreviations; arguments are
// kept as typed.
func TestExpandOp(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "sh conf comm", want: "show configuration commands"},
		{in: "sh conntrack-sync statu", want: "show conntrack-sync status"},
		{in: "sh conntrack-sync stat", err: `ambiguous: "stat" could be statistics, status`},
		{in: "show conntrack table ipv4 protocol tcp", want: "show conntrack table ipv4 protocol tcp"},
		{in: "re conntrack", err: `ambiguous: "re" could be request, reset, restart`},
		{in: "bogus words", want: "bogus words"},
	}
	for _, tt := range tests {
		got, err := expandOp(strings.Fields(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expandOp(%q) error %v; want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("expandOp(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
