package vrrp

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/schema"
)

func TestVerifyRules(t *testing.T) {
	executable = func(p string) bool { return p == "/usr/bin/true" || p == PingPath }
	t.Cleanup(func() { executable = defaultExecutable })

	ok := []string{wan + " interface eth0", wan + " vrid 1", wan + " address 198.18.0.101/24"}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	lan := func(extra ...string) []string {
		return append([]string{
			"high-availability vrrp group lan interface eth0",
			"high-availability vrrp group lan vrid 2",
			"high-availability vrrp group lan address 198.18.0.102/24",
		}, extra...)
	}

	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"valid", ok, nil},
		{"vrid required", []string{wan + " interface eth0", wan + " address 198.18.0.101/24"}, []string{
			"high-availability vrrp group wan: vrid is required (set high-availability vrrp group wan vrid <1-255>)",
		}},
		{"interface required", []string{wan + " vrid 1", wan + " address 198.18.0.101/24"}, []string{
			"high-availability vrrp group wan: interface is required (set high-availability vrrp group wan interface <name>)",
		}},
		{"address required", []string{wan + " vrid 1", wan + " interface eth0"}, []string{
			"high-availability vrrp group wan: at least one address is required (set high-availability vrrp group wan address <ip/len>)",
		}},
		{"interface exists", []string{wan + " interface eth9", wan + " vrid 1", wan + " address 198.18.0.101/24"}, []string{
			"high-availability vrrp group wan interface: interface eth9 does not exist",
		}},
		{"address interface exists", with(wan + " address 198.18.1.1/24 interface eth9"), []string{
			"high-availability vrrp group wan address 198.18.1.1/24 interface: interface eth9 does not exist",
		}},
		{"track interface exists", with(wan + " track interface eth9"), []string{
			"high-availability vrrp group wan track interface eth9: interface eth9 does not exist",
		}},
		{"disabled group is not checked against the system", []string{
			wan + " interface eth9", wan + " vrid 1", wan + " address 198.18.0.101/24", wan + " disable",
		}, nil},
		{"vrid unique per interface and family", append(ok,
			"high-availability vrrp group lan interface eth0",
			"high-availability vrrp group lan vrid 1",
			"high-availability vrrp group lan address 198.18.0.102/24",
		), []string{
			"high-availability vrrp group wan vrid: vrid 1 is already used by group lan on eth0 for IPv4",
		}},
		{"same vrid on another interface", append(ok,
			"high-availability vrrp group lan interface eth1",
			"high-availability vrrp group lan vrid 1",
			"high-availability vrrp group lan address 198.18.0.102/24",
		), nil},
		{"same vrid on another family", append(ok,
			"high-availability vrrp group lan interface eth0",
			"high-availability vrrp group lan vrid 1",
			"high-availability vrrp group lan address 2001:db8::1/64",
		), nil},
		{"no v4/v6 mix", with(wan + " address 2001:db8::1/64"), []string{
			"high-availability vrrp group wan address: IPv4 and IPv6 addresses cannot be mixed in one group (use one group per address family)",
		}},
		{"peer family", with(wan+" peer-address 2001:db8::2", wan+" hello-source-address 2001:db8::3"), []string{
			"high-availability vrrp group wan peer-address 2001:db8::2: must be an IPv4 address, like the group's addresses",
			"high-availability vrrp group wan hello-source-address: must be an IPv4 address, like the group's addresses",
		}},
		{"sync-group member exists", with("high-availability vrrp sync-group S member nope"), []string{
			"high-availability vrrp sync-group S member nope: group nope is not configured",
		}},
		{"member of two sync-groups", with(
			"high-availability vrrp sync-group A member wan",
			"high-availability vrrp sync-group B member wan",
		), []string{
			"high-availability vrrp sync-group B member wan: group wan is already a member of sync-group A",
		}},
		{"sync-group member without its own health-check", with(
			wan+" health-check ping 198.18.0.1",
			"high-availability vrrp sync-group S member wan",
		), []string{
			"high-availability vrrp group wan health-check: group wan is a member of sync-group S and cannot have its own health-check (set it on the sync-group: set high-availability vrrp sync-group S health-check ...)",
		}},
		{"health-check defaults alone are no health-check", with(
			wan+" health-check interval 10",
			"high-availability vrrp sync-group S member wan",
		), nil},
		{"health-check ping or script", with(wan+" health-check ping 198.18.0.1", wan+" health-check script /usr/bin/true"), []string{
			"high-availability vrrp group wan health-check: ping and script cannot both be set",
		}},
		{"health-check script exists", with(wan + " health-check script /nonexistent/check"), []string{
			"high-availability vrrp group wan health-check script: /nonexistent/check does not exist or is not executable",
		}},
		{"transition-script exists", with(wan + " transition-script master /nonexistent/up"), []string{
			"high-availability vrrp group wan transition-script master: /nonexistent/up does not exist or is not executable",
		}},
		{"authentication needs type", with(wan + " authentication password abc"), []string{
			"high-availability vrrp group wan authentication: type and password are both required",
		}},
		{"authentication needs password", with(wan + " authentication type ah"), []string{
			"high-availability vrrp group wan authentication: type and password are both required",
		}},
		{"authentication not with version 3", with(
			wan+" authentication type plaintext-password",
			wan+" authentication password abc",
			"high-availability vrrp global-parameters version 3",
		), []string{
			"high-availability vrrp group wan authentication: VRRP version 3 has no authentication (IPv6 groups always run version 3)",
		}},
		{"rfc3768 vmac name length", []string{
			"high-availability vrrp group wan interface eth0.1000.200",
			wan + " vrid 100", wan + " address 198.18.0.101/24", wan + " rfc3768-compatibility",
		}, []string{
			"high-availability vrrp group wan rfc3768-compatibility: the virtual MAC interface name eth0.1000.200v100 is longer than 15 characters (use a shorter interface name)",
		}},
		{"one garp interval per interface", lan(with(wan+" garp interval 0.5", "high-availability vrrp group lan garp interval 1")...), []string{
			"high-availability vrrp group wan garp interval: group lan on eth0 uses garp interval 1: one interval applies per interface",
		}},
		{"conntrack-sync sync-group keeps its hooks", with(
			"high-availability vrrp sync-group S member wan",
			"high-availability vrrp sync-group S transition-script master /usr/bin/true",
			"service conntrack-sync failover-mechanism vrrp sync-group S",
		), []string{
			"high-availability vrrp sync-group S transition-script master: this sync-group runs the conntrack-sync failover hook on master (set the script on a member group instead, or use transition-script stop)",
		}},
		{"advert fraction needs version 3", with(wan + " advertise-interval 0.1"), []string{
			"high-availability vrrp group wan advertise-interval: 0.1: fractions of a second need VRRP version 3 (version 2 adverts are whole seconds, 1-255) (set high-availability vrrp global-parameters version 3)",
		}},
		{"advert fraction with version 2", with(wan+" advertise-interval 2.5", "high-availability vrrp global-parameters version 2"), []string{
			"high-availability vrrp group wan advertise-interval: 2.5: fractions of a second need VRRP version 3 (version 2 adverts are whole seconds, 1-255) (set high-availability vrrp global-parameters version 3)",
		}},
		{"advert fraction with version 3", with(wan+" advertise-interval 0.01", "high-availability vrrp global-parameters version 3"), nil},
		{"advert whole seconds with version 3", with(wan+" advertise-interval 255", "high-availability vrrp global-parameters version 3"), nil},
		{"advert fraction on an IPv6 group", []string{
			"high-availability vrrp group v6 interface eth0", "high-availability vrrp group v6 vrid 3",
			"high-availability vrrp group v6 address 2001:db8::1/64", "high-availability vrrp group v6 advertise-interval 0.25",
		}, nil},
		{"excluded-address of either family", with(wan+" excluded-address 2001:db8::5/64", wan+" excluded-address 198.18.0.5/24 interface eth1"), nil},
		{"excluded-address not also an address", with(wan + " excluded-address 198.18.0.101/24"), []string{
			"high-availability vrrp group wan excluded-address 198.18.0.101/24: is also an address of the group (keep it in one of address and excluded-address)",
		}},
		{"excluded-address interface exists", with(wan + " excluded-address 198.18.0.5/24 interface eth9"), []string{
			"high-availability vrrp group wan excluded-address 198.18.0.5/24 interface: interface eth9 does not exist",
		}},
		{"disabled is still verified", with("high-availability disable", wan+" advertise-interval 0.5"), []string{
			"high-availability vrrp group wan advertise-interval: 0.5: fractions of a second need VRRP version 3 (version 2 adverts are whole seconds, 1-255) (set high-availability vrrp global-parameters version 3)",
		}},
		// The conntrack-sync handler reports a missing sync-group; here it
		// must merely not get in the way.
		{"conntrack-sync names a missing sync-group", with("service conntrack-sync failover-mechanism vrrp sync-group NOPE"), nil},
	}
	sys := fakeSystem{"eth0": true, "eth1": true, "eth0.1000.200": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configOf(t, tt.lines...)
			err := New().Verify(context.Background(), cfg, sys)
			var got []string
			for _, e := range cfgerr.List(err) {
				var ce *cfgerr.Error
				if !errors.As(e, &ce) {
					t.Errorf("error %v is not a *cfgerr.Error", e)
				}
				got = append(got, e.Error())
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

// Values the schema would refuse still do not reach the file: Verify and
// Render check them again, on a Config built by hand.
func TestVerifyDefensive(t *testing.T) {
	executable = func(string) bool { return true }
	t.Cleanup(func() { executable = defaultExecutable })
	cfg := &Config{Group: map[string]*Group{
		"bad name": {
			Interface: "eth0 {", VRID: 300, Priority: 0, AdvertiseInterval: "1",
			Address:        map[string]*Address{"10.0.0.1": {}},
			Authentication: &Authentication{Type: "plaintext-password", Password: `a"b`},
		},
	}}
	want := []string{
		"high-availability vrrp group 'bad name': invalid group name (letters, digits, '.', '_' and '-', at most 64 characters)",
		"high-availability vrrp group 'bad name' vrid: must be 1-255",
		"high-availability vrrp group 'bad name' interface: invalid interface name",
		"high-availability vrrp group 'bad name' priority: must be 1-255",
		"high-availability vrrp group 'bad name' address 10.0.0.1: not an IP address with a prefix length",
		"high-availability vrrp group 'bad name' authentication password: printable characters only, without spaces, quotes, braces, '#', ';' or backslashes",
	}
	var got []string
	for _, e := range cfgerr.List(verify(cfg, fakeSystem{})) {
		got = append(got, e.Error())
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
	if _, err := Render(cfg, testEnv()); err == nil {
		t.Error("Render accepted an unsafe group")
	}
}

// The schema refuses advertise-intervals outside 0.01-255 s or with more
// than two decimals at `set`, before any handler sees them; Verify and
// Render refuse them again on a Config built by hand.
func TestAdvertiseIntervalBounds(t *testing.T) {
	for _, v := range []string{"0", "0.001", "255.01", "256", "-1", "1e2", "0x10"} {
		if err := schema.Default().Set(configtree.New(), strings.Fields(wan+" advertise-interval "+v)); err == nil {
			t.Errorf("set advertise-interval %s: accepted", v)
		}
		cfg := &Config{Group: map[string]*Group{"wan": {
			Interface: "eth0", VRID: 1, Priority: 100, AdvertiseInterval: v,
			Address: map[string]*Address{"198.18.0.101/24": {}},
		}}, GlobalParameters: &GlobalParameters{Version: 3}}
		want := "high-availability vrrp group wan advertise-interval: must be 1-255 seconds, or 0.01-255 with VRRP version 3"
		if err := verify(cfg, nil); err == nil || err.Error() != want {
			t.Errorf("verify advertise-interval %s: %v, want %q", v, err, want)
		}
		if _, err := Render(cfg, testEnv()); err == nil {
			t.Errorf("Render advertise-interval %s: accepted", v)
		}
	}
	// A fraction on a version 2 group never reaches the file either.
	cfg := &Config{Group: map[string]*Group{"wan": {
		Interface: "eth0", VRID: 1, Priority: 100, AdvertiseInterval: "0.5",
		Address: map[string]*Address{"198.18.0.101/24": {}},
	}}}
	if _, err := Render(cfg, testEnv()); err == nil {
		t.Error("Render wrote a fractional advert_int for VRRP version 2")
	}
}

func TestAdvertCentis(t *testing.T) {
	tests := []struct {
		in   string
		want int
		out  string
	}{
		{"1", 100, "1"}, {"255", 25500, "255"}, {"0.01", 1, "0.01"}, {"0.1", 10, "0.1"},
		{"0.10", 10, "0.1"}, {"2.5", 250, "2.5"}, {"01", 100, "1"}, {"254.99", 25499, "254.99"},
	}
	for _, tc := range tests {
		got, err := advertCentis(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("advertCentis(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			continue
		}
		if s := formatCentis(got); s != tc.out {
			t.Errorf("formatCentis(%d) = %q, want %q", got, s, tc.out)
		}
	}
	for _, bad := range []string{"", "0", "0.00", "0.001", ".5", "5.", "256", "255.01", "1e2", " 1", "1 ", "+1"} {
		if c, err := advertCentis(bad); err == nil {
			t.Errorf("advertCentis(%q) = %d, want an error", bad, c)
		}
	}
}

func TestGetConfig(t *testing.T) {
	h := New()
	got, err := h.GetConfig(handlertest.Tree(t, "service conntrack-sync interface eth1 peer 192.0.2.2"))
	if err != nil || got != nil {
		t.Fatalf("GetConfig without vrrp = %v, %v; want untyped nil", got, err)
	}
	cfg := configOf(t, wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24",
		wan+" peer-address 198.18.0.3",
		"high-availability vrrp sync-group S member wan",
		"service conntrack-sync failover-mechanism vrrp sync-group S")
	g := cfg.Group["wan"]
	if g.Priority != 100 || g.AdvertiseInterval != "1" || g.VRID != 1 {
		t.Errorf("defaults: %+v", g)
	}
	if d := cmp.Diff([]string{"198.18.0.3"}, g.PeerAddress); d != "" {
		t.Errorf("peer-address (-want +got):\n%s", d)
	}
	if !cfg.ConntrackSync || cfg.HookGroup != "S" || !cfg.Hooked("S") {
		t.Errorf("conntrack-sync: %v %q", cfg.ConntrackSync, cfg.HookGroup)
	}

	// A node the handler does not know is refused, not dropped.
	tree := handlertest.Tree(t, wan+" interface eth0")
	vrrp := tree.Get("high-availability", "vrrp")
	vrrp.Children = append(vrrp.Children, &configtree.Node{Name: "zzz-unknown", Leaf: true, Values: []string{"x"}})
	if _, err := h.GetConfig(tree); err == nil {
		t.Error("GetConfig accepted an unknown node")
	}
}

func TestScriptSafe(t *testing.T) {
	dir := t.TempDir() // under /tmp, which anyone may write
	script := filepath.Join(dir, "check")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := defaultScriptSafe(script); err == nil {
		t.Errorf("a script under %s passed", dir)
	}
	if err := os.Chmod(script, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := defaultScriptSafe(script); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("group-writable script: %v", err)
	}
	if os.Geteuid() == 0 {
		if err := defaultScriptSafe("/bin/sh"); err != nil {
			t.Errorf("/bin/sh: %v", err)
		}
	}
}
