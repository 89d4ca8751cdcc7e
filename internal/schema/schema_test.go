package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

func TestLoad(t *testing.T) {
	s, err := Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// Default must not panic: the binaries call it at start.
	if Default().Root() == nil {
		t.Fatal("Default has no root")
	}
	cs := s.Lookup([]string{"service", "conntrack-sync"})
	vrrp := s.Lookup([]string{"high-availability", "vrrp"})
	if cs == nil || vrrp == nil {
		t.Fatalf("missing subtrees: conntrack-sync %v, vrrp %v", cs, vrrp)
	}
	if cs.Priority == 0 || vrrp.Priority == 0 || cs.Priority >= vrrp.Priority {
		t.Errorf("priorities: conntrack-sync %d, vrrp %d; conntrack-sync must run first", cs.Priority, vrrp.Priority)
	}
	if p := s.Lookup([]string{"service", "conntrack-sync", "interface", "eth1", "port"}).Priority; p != cs.Priority {
		t.Errorf("port priority %d, want inherited %d", p, cs.Priority)
	}
	if cs.Module != "ctsync-conntrack-sync" || vrrp.Module != "ctsync-vrrp" {
		t.Errorf("modules: %q %q", cs.Module, vrrp.Module)
	}
	if got := strings.Join(s.Lookup([]string{"service", "conntrack-sync", "interface", "eth1", "port"}).Path(), " "); got != "service conntrack-sync interface port" {
		t.Errorf("Path() = %q", got)
	}
}

func TestNodes(t *testing.T) {
	s := Default()
	tests := []struct {
		path      string
		kind      Kind
		valueless bool
		mandatory bool
		def       []string
		help      string
	}{
		{"service conntrack-sync accept-protocol", LeafList, false, false, nil, "tcp|udp|icmp|icmp6|sctp|dccp"},
		{"service conntrack-sync disable-external-cache", Leaf, true, false, nil, ""},
		{"service conntrack-sync event-listen-queue-size", Leaf, false, false, []string{"8"}, "u32 1-2047 MB"},
		{"service conntrack-sync failover-mechanism", Container, false, true, nil, ""},
		{"service conntrack-sync failover-mechanism vrrp sync-group", Leaf, false, true, nil, "name"},
		{"service conntrack-sync interface", Tag, false, true, nil, "interface name"},
		{"service conntrack-sync interface eth1 port", Leaf, false, false, []string{"3780"}, "u32 1-65535"},
		{"service conntrack-sync mcast-group", Leaf, false, false, []string{"225.0.0.50"}, "IPv4 multicast address"},
		{"service conntrack-sync sync-queue-size", Leaf, false, false, []string{"1"}, "u32 1-2047 MB"},
		{"high-availability vrrp group", Tag, false, false, nil, "name"},
		{"high-availability vrrp group g vrid", Leaf, false, true, nil, "u32 1-255"},
		{"high-availability vrrp group g priority", Leaf, false, false, []string{"100"}, "u32 1-255"},
		{"high-availability vrrp group g address", Tag, false, true, nil, "IPv4 or IPv6 address/prefix length"},
		{"high-availability vrrp sync-group s member", LeafList, false, true, nil, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			n := s.Lookup(strings.Fields(tt.path))
			if n == nil {
				t.Fatal("not found")
			}
			got := []any{n.Kind, n.Valueless, n.Mandatory, n.Default, n.TypeHelp}
			want := []any{tt.kind, tt.valueless, tt.mandatory, tt.def, tt.help}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	if !s.IsMulti([]string{"service", "conntrack-sync", "accept-protocol"}) || s.IsMulti([]string{"service", "conntrack-sync", "mcast-group"}) {
		t.Error("IsMulti wrong")
	}
	if s.Lookup([]string{"service", "nope"}) != nil {
		t.Error("Lookup of an unknown node")
	}
}

// injections are values that would break or inject into a generated
// file; no free-text node may accept any of them.
var injections = []string{
	"a b", "a\tb", "a\nb", "a\rb", "a{b", "a}b", "}", `a"b`, "a'b", "a#b", "a;b", `a\b`, "a\x00b", "a\x7fb", "",
	"x\n}\nGeneral {", "a\u2028b", "é",
}

func TestInjection(t *testing.T) {
	s := Default()
	// Every free-text value: names, keys, description, scripts, password.
	nodes := []string{
		"service conntrack-sync failover-mechanism vrrp sync-group",
		"service conntrack-sync interface",
		"high-availability vrrp group",
		"high-availability vrrp group g interface",
		"high-availability vrrp group g address x interface",
		"high-availability vrrp group g track interface",
		"high-availability vrrp group g description",
		"high-availability vrrp group g authentication password",
		"high-availability vrrp group g health-check script",
		"high-availability vrrp group g transition-script master",
		"high-availability vrrp group g transition-script backup",
		"high-availability vrrp group g transition-script fault",
		"high-availability vrrp group g transition-script stop",
		"high-availability vrrp sync-group",
		"high-availability vrrp sync-group s member",
		"high-availability vrrp sync-group s health-check script",
		"high-availability vrrp sync-group s transition-script master",
	}
	for _, path := range nodes {
		n := s.Lookup(strings.Fields(path))
		if n == nil {
			t.Fatalf("%s: not in schema", path)
		}
		for _, v := range injections {
			if strings.HasSuffix(path, "description") && (v == "a b") {
				continue // the one free text that may hold spaces
			}
			if err := n.ValidateValue(v); err == nil {
				t.Errorf("%s accepted %q", path, v)
			}
			// The same through Resolve, as `set` sees it.
			words := strings.Fields(path)
			if n.Kind == Tag {
				words = append(words, v)
			} else {
				words = append(words, v)
			}
			if _, err := s.Resolve(words); err == nil {
				t.Errorf("Resolve(%q) accepted", words)
			}
		}
	}
	if err := s.Lookup(strings.Fields("high-availability vrrp group g description")).ValidateValue("uplink to ISP-1 (primary) & backup"); err != nil {
		t.Errorf("description with spaces refused: %v", err)
	}
}

func TestValidateValue(t *testing.T) {
	s := Default()
	tests := []struct {
		path, value, err string // err "" means valid
	}{
		{"service conntrack-sync mcast-group", "225.0.0.50", ""},
		{"service conntrack-sync mcast-group", "239.255.255.255", ""},
		{"service conntrack-sync mcast-group", "198.18.0.5", "must be an IPv4 multicast address (224.0.0.0/4)"},
		{"service conntrack-sync mcast-group", "240.0.0.1", "must be an IPv4 multicast address (224.0.0.0/4)"},
		{"service conntrack-sync mcast-group", "225.0.0.256", "must be an IPv4 multicast address (224.0.0.0/4)"},
		{"service conntrack-sync interface x peer", "192.0.2.1", ""},
		{"service conntrack-sync interface x peer", "192.0.2", "must be an IPv4 address"},
		{"service conntrack-sync interface x peer", "192.0.2.01", "must be an IPv4 address"},
		{"service conntrack-sync interface x peer", "2001:db8::1", "must be an IPv4 address"},
		{"service conntrack-sync interface x peer", "192.0.2.1 ", "must be an IPv4 address"},
		{"service conntrack-sync interface x port", "3780", ""},
		{"service conntrack-sync interface x port", "65535", ""},
		{"service conntrack-sync interface x port", "70000", "must be a number between 1 and 65535"},
		{"service conntrack-sync interface x port", "0", "must be a number between 1 and 65535"},
		{"service conntrack-sync interface x port", "-1", "must be a number between 1 and 65535"},
		{"service conntrack-sync interface x port", "080", "must be a number between 1 and 65535"},
		{"service conntrack-sync interface x port", "+80", "must be a number between 1 and 65535"},
		{"service conntrack-sync interface x port", "http", "must be a number between 1 and 65535"},
		{"service conntrack-sync event-listen-queue-size", "2048", "must be a number between 1 and 2047"},
		{"service conntrack-sync sync-queue-size", "99999999999999999999", "must be a number between 1 and 2047"},
		{"service conntrack-sync accept-protocol", "sctp", ""},
		{"service conntrack-sync accept-protocol", "gre", "must be one of: tcp, udp, icmp, icmp6, sctp, dccp"},
		{"service conntrack-sync accept-protocol", "TCP", "must be one of: tcp, udp, icmp, icmp6, sctp, dccp"},
		{"service conntrack-sync expect-sync", "h323", ""},
		{"service conntrack-sync expect-sync", "tftp", "must be one of: all, ftp, sip, h323, nfs, sqlnet"},
		{"service conntrack-sync ignore-address", "192.0.2.0/24", ""},
		{"service conntrack-sync ignore-address", "2001:db8::/32", ""},
		{"service conntrack-sync ignore-address", "::ffff:192.0.2.1", ""},
		{"service conntrack-sync ignore-address", "192.0.2.0/33", "must be an IPv4 or IPv6 address or prefix"},
		{"service conntrack-sync ignore-address", "2001:db8::/129", "must be an IPv4 or IPv6 address or prefix"},
		{"service conntrack-sync ignore-address", "2001:db8:::1", "must be an IPv4 or IPv6 address or prefix"},
		{"service conntrack-sync ignore-address", "fe80::1%eth0", "must be an IPv4 or IPv6 address or prefix"},
		{"service conntrack-sync listen-address", "198.18.10.2", ""},
		{"service conntrack-sync purge-timeout", "0", "must be a number between 1 and 86400"},
		{"service conntrack-sync interface", "eth1", ""},
		{"service conntrack-sync interface", "eth0.100", ""},
		{"service conntrack-sync interface", "veth-r1@if2", ""},
		{"service conntrack-sync interface", "a23456789012345", ""},
		{"service conntrack-sync interface", "a234567890123456", "must be an interface name: 1-15 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"},
		{"service conntrack-sync interface", "..", "must be an interface name: 1-15 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"},
		{"service conntrack-sync interface", "eth/1", "must be an interface name: 1-15 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"},
		{"high-availability vrrp group g vrid", "255", ""},
		{"high-availability vrrp group g vrid", "256", "must be a number between 1 and 255"},
		{"high-availability vrrp group g vrid", "0", "must be a number between 1 and 255"},
		{"high-availability vrrp group g preempt-delay", "1001", "must be a number between 0 and 1000"},
		{"high-availability vrrp group g preempt-delay", "0", ""},
		{"high-availability vrrp global-parameters version", "2", ""},
		{"high-availability vrrp global-parameters version", "4", "must be a number between 2 and 3"},
		{"high-availability vrrp global-parameters garp interval", "0.125", ""},
		{"high-availability vrrp global-parameters garp interval", "0.1234", "must be a decimal number with at most 3 fraction digits"},
		{"high-availability vrrp global-parameters garp interval", "1000.001", "must be a number between 0.000 and 1000.000"},
		{"high-availability vrrp global-parameters garp interval", "1e3", "must be a decimal number with at most 3 fraction digits"},
		{"high-availability vrrp group g address", "198.18.0.101/24", ""},
		{"high-availability vrrp group g address", "2001:db8::1/64", ""},
		{"high-availability vrrp group g address", "198.18.0.101", "must be an IPv4 or IPv6 address with a prefix length (192.0.2.1/24, 2001:db8::1/64)"},
		{"high-availability vrrp group g authentication type", "ah", ""},
		{"high-availability vrrp group g authentication type", "md5", "must be one of: plaintext-password, ah"},
		{"high-availability vrrp group g authentication password", "12345678", ""},
		{"high-availability vrrp group g authentication password", "123456789", "must be 1-8 printable characters without spaces, quotes, braces, '#', ';' or backslashes"},
		{"high-availability vrrp group g health-check script", "/usr/lib/check-v2+x.sh", ""},
		{"high-availability vrrp group g health-check script", "check.sh", "must be an absolute path of letters, digits, '.', '_', '+', '/' and '-'"},
		{"high-availability vrrp group g health-check script", "/bin/sh -c reboot", "must be an absolute path of letters, digits, '.', '_', '+', '/' and '-'"},
		{"high-availability vrrp group g health-check script", "/bin/$(reboot)", "must be an absolute path of letters, digits, '.', '_', '+', '/' and '-'"},
		{"high-availability vrrp group g health-check ping", "198.18.0.1", ""},
		{"high-availability vrrp group g peer-address", "2001:db8::2", ""},
		{"high-availability vrrp group g peer-address", "2001:db8::2/64", "must be an IPv4 or IPv6 address"},
		{"high-availability vrrp sync-group", "MAIN-GW", ""},
		{"high-availability vrrp sync-group", "-x", "must be a name: 1-64 letters, digits, '.', '_' or '-', starting with a letter, digit or '_'"},
	}
	for _, tt := range tests {
		t.Run(tt.path+"="+tt.value, func(t *testing.T) {
			n := s.Lookup(strings.Fields(tt.path))
			if n == nil {
				t.Fatal("not in schema")
			}
			err := n.ValidateValue(tt.value)
			if got := errText(err); got != tt.err {
				t.Errorf("ValidateValue(%q) = %q, want %q", tt.value, got, tt.err)
			}
		})
	}
	if err := s.Lookup([]string{"service"}).ValidateValue("x"); err == nil {
		t.Error("a container accepted a value")
	}
	if err := s.Lookup(strings.Fields("service conntrack-sync startup-resync")).ValidateValue("x"); err == nil {
		t.Error("a valueless leaf accepted a value")
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestResolve(t *testing.T) {
	s := Default()
	tests := []struct {
		line  string
		steps []configtree.Step
		path  string
		node  string
		value string
		has   bool
		err   string
	}{
		{
			line:  "service conntrack-sync interface eth1 peer 198.18.10.3",
			steps: []configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "interface", Tag: true}, {Name: "eth1"}, {Name: "peer"}},
			path:  "service conntrack-sync interface eth1 peer 198.18.10.3",
			node:  "service conntrack-sync interface peer", value: "198.18.10.3", has: true,
		},
		{
			line:  "service conntrack-sync interface eth1",
			steps: []configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "interface", Tag: true}, {Name: "eth1"}},
			path:  "service conntrack-sync interface eth1",
			node:  "service conntrack-sync interface",
		},
		{
			line:  "service conntrack-sync",
			steps: []configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}},
			path:  "service conntrack-sync", node: "service conntrack-sync",
		},
		{
			line:  "service conntrack-sync startup-resync",
			steps: []configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "startup-resync"}},
			path:  "service conntrack-sync startup-resync", node: "service conntrack-sync startup-resync",
		},
		{
			line:  "service conntrack-sync accept-protocol tcp",
			steps: []configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "accept-protocol"}},
			path:  "service conntrack-sync accept-protocol tcp", node: "service conntrack-sync accept-protocol", value: "tcp", has: true,
		},
		{line: "service conntrack-sync mcast-group 198.18.0.5", err: "service conntrack-sync mcast-group 198.18.0.5: must be an IPv4 multicast address (224.0.0.0/4)"},
		{line: "service conntrack-sync foo", err: "service conntrack-sync foo: unknown node (expected one of: accept-protocol, disable-external-cache, disable-syslog, event-listen-queue-size, expect-sync, failover-mechanism, ignore-address, interface, listen-address, mcast-group, purge-timeout, startup-resync, sync-queue-size)"},
		{line: "servic", err: "servic: unknown node (expected one of: high-availability, service)"},
		{line: "service conntrack-sync interface eth1 port", err: "service conntrack-sync interface eth1 port: value required (u32 1-65535)"},
		{line: "service conntrack-sync interface eth1 port 70000", err: "service conntrack-sync interface eth1 port 70000: must be a number between 1 and 65535"},
		{line: "service conntrack-sync interface", err: "service conntrack-sync interface: value required (interface name)"},
		{line: "service conntrack-sync interface eth1 peer 198.18.10", err: "service conntrack-sync interface eth1 peer 198.18.10: must be an IPv4 address"},
		{line: "service conntrack-sync interface eth1{ peer", err: "service conntrack-sync interface eth1{: must be an interface name: 1-15 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"},
		{line: "service conntrack-sync accept-protocol gre", err: "service conntrack-sync accept-protocol gre: must be one of: tcp, udp, icmp, icmp6, sctp, dccp"},
		{line: "service conntrack-sync startup-resync yes", err: "service conntrack-sync startup-resync yes: startup-resync takes no value"},
		{line: "service conntrack-sync mcast-group 225.0.0.1 extra", err: "service conntrack-sync mcast-group 225.0.0.1 extra: unexpected word after the value of mcast-group (quote a value that contains spaces)"},
		{line: "service conntrack-sync sync-queue-size 0", err: "service conntrack-sync sync-queue-size 0: must be a number between 1 and 2047"},
		{line: "high-availability vrrp group wan vrid 300", err: "high-availability vrrp group wan vrid 300: must be a number between 1 and 255"},
		{line: "high-availability vrrp group wan bogus 1", err: "high-availability vrrp group wan bogus: unknown node (expected one of: address, advertise-interval, authentication, description, disable, excluded-address, garp, health-check, hello-source-address, interface, no-preempt, peer-address, preempt-delay, priority, rfc3768-compatibility, track, transition-script, vrid)"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			r, err := s.Resolve(strings.Fields(tt.line))
			if tt.err != "" {
				var ce *cfgerr.Error
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v (%T), want *cfgerr.Error", err, err)
				}
				if err.Error() != tt.err {
					t.Errorf("err =\n %s\nwant\n %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []any{r.Steps, strings.Join(r.Path, " "), strings.Join(r.Node.Path(), " "), r.Value, r.HasValue}
			want := []any{tt.steps, tt.path, tt.node, tt.value, tt.has}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	s := Default()
	base := []string{
		"service conntrack-sync interface eth1",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
	}
	group := []string{
		"high-availability vrrp group wan interface eth0",
		"high-availability vrrp group wan vrid 1",
		"high-availability vrrp group wan address 198.18.0.101/24",
	}
	tests := []struct {
		name  string
		lines []string
		edit  func(*configtree.Node) // raw changes a loaded file could carry
		want  []string
	}{
		{name: "empty"},
		{name: "full", lines: fullConfig},
		{name: "minimal conntrack-sync", lines: base},
		{
			name:  "conntrack-sync without failover-mechanism",
			lines: base[:1],
			want:  []string{"service conntrack-sync failover-mechanism: required node missing (set service conntrack-sync failover-mechanism vrrp sync-group <name>)"},
		},
		{
			name:  "conntrack-sync without interface",
			lines: base[1:],
			want:  []string{"service conntrack-sync interface: required node missing (set service conntrack-sync interface <interface name>)"},
		},
		{
			name:  "bare conntrack-sync",
			lines: []string{"service conntrack-sync"},
			want: []string{
				"service conntrack-sync failover-mechanism: required node missing (set service conntrack-sync failover-mechanism vrrp sync-group <name>)",
				"service conntrack-sync interface: required node missing (set service conntrack-sync interface <interface name>)",
			},
		},
		{
			name:  "failover-mechanism without vrrp",
			lines: base[:1],
			edit: func(n *configtree.Node) {
				n.Set([]configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "failover-mechanism"}}, false, false, false, "")
			},
			want: []string{"service conntrack-sync failover-mechanism vrrp: required node missing (set service conntrack-sync failover-mechanism vrrp sync-group <name>)"},
		},
		{name: "vrrp group complete", lines: group},
		{
			name:  "vrrp group missing vrid and address",
			lines: group[:1],
			want: []string{
				"high-availability vrrp group wan address: required node missing (set high-availability vrrp group wan address <IPv4 or IPv6 address/prefix length>)",
				"high-availability vrrp group wan vrid: required node missing (set high-availability vrrp group wan vrid <u32 1-255>)",
			},
		},
		{
			name:  "sync-group without member",
			lines: []string{"high-availability vrrp sync-group MAIN-GW"},
			want:  []string{"high-availability vrrp sync-group MAIN-GW member: required node missing (set high-availability vrrp sync-group MAIN-GW member <name>)"},
		},
		{
			name:  "bad values from a file",
			lines: base,
			edit: func(n *configtree.Node) {
				cs := n.Get("service", "conntrack-sync")
				cs.Set([]configtree.Step{{Name: "mcast-group"}}, true, false, true, "198.18.0.5")
				cs.Set([]configtree.Step{{Name: "accept-protocol"}}, true, true, true, "gre")
				cs.Set([]configtree.Step{{Name: "bogus"}}, true, false, true, "1")
				cs.Set([]configtree.Step{{Name: "interface", Tag: true}, {Name: "eth 1"}}, false, false, false, "")
				cs.Set([]configtree.Step{{Name: "startup-resync"}}, true, false, true, "yes")
				cs.Set([]configtree.Step{{Name: "sync-queue-size"}}, true, false, false, "")
				cs.Get("interface", "eth1").Set([]configtree.Step{{Name: "port"}}, true, false, true, "70000")
			},
			want: []string{
				"service conntrack-sync accept-protocol gre: must be one of: tcp, udp, icmp, icmp6, sctp, dccp",
				"service conntrack-sync bogus: unknown node (expected one of: accept-protocol, disable-external-cache, disable-syslog, event-listen-queue-size, expect-sync, failover-mechanism, ignore-address, interface, listen-address, mcast-group, purge-timeout, startup-resync, sync-queue-size)",
				"service conntrack-sync interface 'eth 1': must be an interface name: 1-15 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
				"service conntrack-sync interface eth1 port 70000: must be a number between 1 and 65535",
				"service conntrack-sync mcast-group 198.18.0.5: must be an IPv4 multicast address (224.0.0.0/4)",
				"service conntrack-sync startup-resync yes: startup-resync takes no value",
				"service conntrack-sync sync-queue-size: value required (u32 1-2047 MB)",
			},
		},
		{
			name:  "wrong shapes",
			lines: base,
			edit: func(n *configtree.Node) {
				n.Set([]configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "mcast-group"}, {Name: "x"}}, false, false, false, "")
				n.Get("service", "conntrack-sync", "failover-mechanism").Leaf = true
			},
			want: []string{
				"service conntrack-sync failover-mechanism: is a container and takes no value",
				"service conntrack-sync mcast-group: is a leaf and has no children",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := build(t, s, tt.lines...)
			if tt.edit != nil {
				tt.edit(tree)
			}
			err := s.Validate(tree)
			var got []string
			for _, e := range cfgerr.List(err) {
				var ce *cfgerr.Error
				if !errors.As(e, &ce) {
					t.Errorf("%v is %T, want *cfgerr.Error", e, e)
				}
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	s := Default()
	tree := build(t, s,
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync interface eth2",
		"service conntrack-sync sync-queue-size 4",
		"service conntrack-sync failover-mechanism vrrp sync-group G",
		"high-availability vrrp group wan vrid 1",
	)
	before := tree.Clone()
	got := s.WithDefaults(tree)
	if !configtree.Equal(tree, before) {
		t.Error("WithDefaults changed its input")
	}
	want := build(t, s,
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync interface eth1 port 3780",
		"service conntrack-sync interface eth2 port 3780",
		"service conntrack-sync sync-queue-size 4",
		"service conntrack-sync event-listen-queue-size 8",
		"service conntrack-sync mcast-group 225.0.0.50",
		"service conntrack-sync failover-mechanism vrrp sync-group G",
		"high-availability vrrp group wan vrid 1",
		"high-availability vrrp group wan advertise-interval 1",
		"high-availability vrrp group wan preempt-delay 0",
		"high-availability vrrp group wan priority 100",
	)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if got := s.WithDefaults(configtree.New()); len(got.Children) != 0 {
		t.Errorf("defaults added to an empty tree: %+v", got.Children)
	}
}

func TestComplete(t *testing.T) {
	s := Default()
	words := func(cs []Completion) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Word)
		}
		return out
	}
	tests := []struct {
		line string
		want []string
	}{
		{"", []string{"high-availability", "service"}},
		{"service", []string{"conntrack-sync", "ctsync"}},
		{"service ctsync metrics", []string{"listen-address", "port"}},
		{"service conntrack-sync failover-mechanism", []string{"vrrp"}},
		{"service conntrack-sync accept-protocol", []string{"tcp", "udp", "icmp", "icmp6", "sctp", "dccp"}},
		{"service conntrack-sync interface", []string{"<interface name>"}},
		{"service conntrack-sync interface eth1", []string{"peer", "port"}},
		{"service conntrack-sync interface eth1 port", []string{"<u32 1-65535>"}},
		{"service conntrack-sync mcast-group", []string{"<IPv4 multicast address>"}},
		{"service conntrack-sync startup-resync", nil},
		{"service conntrack-sync mcast-group 225.0.0.1", nil},
		{"service nope", nil},
		{"service conntrack-sync interface a{", nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got := words(s.Complete(strings.Fields(tt.line)))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	for _, c := range s.Complete([]string{"service", "conntrack-sync"}) {
		if c.Help == "" {
			t.Errorf("%s has no help", c.Word)
		}
	}
	if c := s.Complete(strings.Fields("service conntrack-sync accept-protocol")); c[0].Help != "Sync Transmission Control Protocol entries" {
		t.Errorf("enum help = %q", c[0].Help)
	}
}

func TestValueRequiredIsASentinel(t *testing.T) {
	for _, line := range []string{"service conntrack-sync interface eth1 port", "service conntrack-sync interface"} {
		_, err := Default().Resolve(strings.Fields(line))
		if !errors.Is(err, ErrValueRequired) {
			t.Errorf("Resolve(%q) = %v; want an error that is ErrValueRequired", line, err)
		}
	}
	if _, err := Default().Resolve(strings.Fields("service conntrack-sync bogus")); errors.Is(err, ErrValueRequired) {
		t.Errorf("an unknown node reports ErrValueRequired: %v", err)
	}
}
