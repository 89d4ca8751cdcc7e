package vrrp

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
)

const wan = "high-availability vrrp group wan"

// goldenCases are the configurations whose keepalived.conf is kept in
// testdata/keepalived. The integration test feeds the same cases to
// keepalived -t.
var goldenCases = []struct {
	name  string
	lines []string
}{
	{"defaults", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
	}},
	{"unicast-peers", []string{
		wan + " interface eth0",
		wan + " vrid 7",
		wan + " address 198.18.0.101/24",
		wan + " priority 200",
		wan + " advertise-interval 2",
		wan + " hello-source-address 198.18.0.2",
		wan + " peer-address 198.18.0.3",
		wan + " peer-address 198.18.0.4",
		wan + " preempt-delay 30",
	}},
	{"auth", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		wan + " authentication type plaintext-password",
		wan + " authentication password s3cr!t",
		wan + " no-preempt",
		"high-availability vrrp global-parameters version 2",
	}},
	{"health-check", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		wan + " health-check ping 198.18.0.1",
		wan + " health-check interval 5",
		wan + " health-check failure-count 2",
		"high-availability vrrp group lan interface eth1",
		"high-availability vrrp group lan vrid 2",
		"high-availability vrrp group lan address 192.0.2.1/24",
		"high-availability vrrp group lan health-check script /usr/bin/true",
	}},
	{"sync-group", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		"high-availability vrrp group lan interface eth1",
		"high-availability vrrp group lan vrid 2",
		"high-availability vrrp group lan address 192.0.2.1/24",
		"high-availability vrrp group lan transition-script master /usr/bin/true",
		"high-availability vrrp sync-group MAIN-GW member wan",
		"high-availability vrrp sync-group MAIN-GW member lan",
		"high-availability vrrp sync-group MAIN-GW health-check script /usr/bin/true",
		"high-availability vrrp sync-group MAIN-GW transition-script master /usr/bin/true",
		"high-availability vrrp sync-group MAIN-GW transition-script backup /usr/bin/true",
	}},
	{"sync-group-conntrack", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		"high-availability vrrp sync-group MAIN-GW member wan",
		"high-availability vrrp sync-group MAIN-GW transition-script stop /usr/bin/true",
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
	}},
	{"garp", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		wan + " garp interval 0.5",
		wan + " garp master-delay 2",
		wan + " garp master-refresh 60",
		wan + " garp master-refresh-repeat 2",
		wan + " garp master-repeat 3",
		"high-availability vrrp global-parameters garp master-repeat 1",
		"high-availability vrrp global-parameters garp interval 0.01",
		"high-availability vrrp global-parameters startup-delay 10",
	}},
	{"track", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		wan + " address 198.18.1.101/24 interface eth2",
		wan + " track interface eth1",
		wan + " track interface eth2",
		wan + " track exclude-vrrp-interface",
	}},
	{"advert-v3-fraction", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		wan + " advertise-interval 0.1",
		"high-availability vrrp group lan interface eth1",
		"high-availability vrrp group lan vrid 2",
		"high-availability vrrp group lan address 192.0.2.1/24",
		"high-availability vrrp group lan advertise-interval 0.25",
		"high-availability vrrp sync-group MAIN member wan",
		"high-availability vrrp sync-group MAIN member lan",
		"high-availability vrrp global-parameters version 3",
	}},
	{"excluded-address", []string{
		wan + " interface eth0",
		wan + " vrid 1",
		wan + " address 198.18.0.101/24",
		wan + " excluded-address 198.18.0.102/24",
		wan + " excluded-address 2001:db8::101/64",
		wan + " excluded-address 198.18.1.101/24 interface eth2",
	}},
	{"ipv6-rfc3768-disabled", []string{
		"high-availability vrrp group v6 interface eth0",
		"high-availability vrrp group v6 vrid 3",
		"high-availability vrrp group v6 address 2001:db8::1/64",
		"high-availability vrrp group v6 rfc3768-compatibility",
		"high-availability vrrp group off interface eth1",
		"high-availability vrrp group off vrid 4",
		"high-availability vrrp group off address 192.0.2.9/24",
		"high-availability vrrp group off disable",
		"high-availability vrrp global-parameters version 3",
	}},
}

func testEnv() *handler.Env {
	return &handler.Env{Root: paths.Root{Dir: "/srv/r1"}, Self: "/usr/bin/ctsync"}
}

func TestGenerateGolden(t *testing.T) {
	executable = func(string) bool { return true }
	scriptSafe = func(string) error { return nil }
	t.Cleanup(func() { executable, scriptSafe = defaultExecutable, defaultScriptSafe })
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configOf(t, tc.lines...)
			if err := verify(cfg, fakeSystem{"eth0": true, "eth1": true, "eth2": true}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			files, err := New().Generate(stateOf(cfg), testEnv())
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 1 || files[0].Path != "/srv/r1/etc/ctsync/keepalived.conf" || files[0].Mode != 0o600 {
				t.Fatalf("files = %+v", files)
			}
			golden.Check(t, golden.Dir("keepalived", tc.name+".conf"), files[0].Data)
		})
	}
}

func TestGenerateDeleted(t *testing.T) {
	files, err := New().Generate(State{}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := []handler.File{{Path: "/srv/r1/etc/ctsync/keepalived.conf"}}
	if d := cmp.Diff(want, files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
}

// The hook command is split on spaces by keepalived: paths that would
// break it are refused, not written.
func TestGenerateRefusesUnsafeHookPaths(t *testing.T) {
	cfg := configOf(t,
		wan+" interface eth0", wan+" vrid 1", wan+" address 198.18.0.101/24",
		"high-availability vrrp sync-group S member wan",
		"service conntrack-sync failover-mechanism vrrp sync-group S",
	)
	for _, env := range []*handler.Env{
		{Root: paths.Root{Dir: "/srv/r 1"}, Self: "/usr/bin/ctsync"},
		{Root: paths.Root{Dir: "/srv/r1"}, Self: "/opt/my ctsync/ctsync"},
		{Root: paths.Root{Dir: "/srv/r1"}, Self: "ctsync"},
		{Root: paths.Root{Dir: `/srv/"r1`}, Self: "/usr/bin/ctsync"},
	} {
		if _, err := Render(cfg, env); err == nil {
			t.Errorf("Render with root %q self %q: no error", env.Root.Dir, env.Self)
		}
	}
	// Without conntrack-sync no hook is written, and the binary path does
	// not matter.
	cfg.ConntrackSync = false
	if _, err := Render(cfg, &handler.Env{Root: paths.Root{Dir: "/srv/r1"}, Self: "ctsync"}); err != nil {
		t.Errorf("Render without hooks: %v", err)
	}
}

// Adding conntrack-sync is what turns the hooks on: the same vrrp subtree
// renders differently, which is why Reads() lists service conntrack-sync.
func TestConntrackSyncTogglesHooks(t *testing.T) {
	base := []string{wan + " interface eth0", wan + " vrid 1", wan + " address 198.18.0.101/24",
		"high-availability vrrp sync-group MAIN-GW member wan"}
	without, err := Render(configOf(t, base...), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	with, err := Render(configOf(t, append(base, "service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW")...), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	hook := `notify_master "/usr/bin/ctsync --root /srv/r1 vrrp-transition master MAIN-GW"`
	if strings.Contains(string(without), "notify_") {
		t.Errorf("hooks without conntrack-sync:\n%s", without)
	}
	if !strings.Contains(string(with), hook) {
		t.Errorf("no %s in:\n%s", hook, with)
	}
	// conntrack-sync naming another sync-group: no hooks anywhere.
	other, err := Render(configOf(t, append(base, "service conntrack-sync failover-mechanism vrrp sync-group OTHER")...), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(other), "notify_") {
		t.Errorf("hooks for a sync-group conntrack-sync does not name:\n%s", other)
	}
}

func TestReadsIncludesConntrackSync(t *testing.T) {
	want := [][]string{{"high-availability", "vrrp"}, {"service", "conntrack-sync"}, {"high-availability", "disable"}}
	if d := cmp.Diff(want, New().Reads()); d != "" {
		t.Errorf("Reads (-want +got):\n%s", d)
	}
}

func BenchmarkRender(b *testing.B) {
	cfg := configOf(b, goldenCases[4].lines...)
	env := testEnv()
	for b.Loop() {
		if _, err := Render(cfg, env); err != nil {
			b.Fatal(err)
		}
	}
}
