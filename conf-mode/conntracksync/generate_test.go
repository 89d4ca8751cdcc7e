package conntracksync

import (
	"context"
	"encoding/json"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
)

// goldenCases are the configs whose conntrackd.conf is kept in
// testdata/conntrackd; the integration test runs the real conntrackd on
// some of them.
var goldenCases = []struct {
	name  string
	lines []string
}{
	{
		name:  "defaults-only",
		lines: baseLines,
	},
	{
		name: "unicast",
		lines: append([]string{
			"service conntrack-sync interface eth1 port 3781",
			"service conntrack-sync accept-protocol tcp",
			"service conntrack-sync accept-protocol udp",
			"service conntrack-sync accept-protocol icmp6",
			"service conntrack-sync sync-queue-size 8",
			"service conntrack-sync event-listen-queue-size 16",
		}, baseLines...),
	},
	{
		name: "multicast",
		lines: []string{
			"service conntrack-sync interface eth1",
			"service conntrack-sync interface eth2",
			"service conntrack-sync mcast-group 239.0.0.50",
			"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
			"high-availability vrrp sync-group MAIN-GW member wan",
		},
	},
	{
		name:  "expect-sync-all",
		lines: append([]string{"service conntrack-sync expect-sync all"}, baseLines...),
	},
	{
		name: "expect-sync-list",
		lines: append([]string{
			"service conntrack-sync expect-sync ftp",
			"service conntrack-sync expect-sync h323",
			"service conntrack-sync expect-sync nfs",
			"service conntrack-sync expect-sync sqlnet",
			"service conntrack-sync expect-sync sip",
		}, baseLines...),
	},
	{
		name: "ignore-address",
		lines: append([]string{
			"service conntrack-sync ignore-address 192.0.2.1",
			"service conntrack-sync ignore-address 198.51.100.0/24",
			"service conntrack-sync ignore-address 2001:db8:1::1",
			"service conntrack-sync ignore-address 2001:db8:2::/48",
			"service conntrack-sync ignore-address 127.0.0.1",
		}, baseLines...),
	},
	{
		name: "options",
		lines: append([]string{
			"service conntrack-sync disable-external-cache",
			"service conntrack-sync startup-resync",
			"service conntrack-sync disable-syslog",
			"service conntrack-sync purge-timeout 30",
			"service conntrack-sync listen-address 198.18.10.4",
		}, baseLines...),
	},
}

// goldenSystem gives eth1 two addresses so listen-address picks one.
func goldenSystem() *fakeSystem {
	return newFakeSystem("eth1 198.18.10.2/24 198.18.10.4/24 2001:db8:10::2/64", "eth2 198.18.20.2/24")
}

func TestGenerateGolden(t *testing.T) {
	root := paths.Root{Dir: "/"}
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.lines, goldenSystem(), root)
			golden.Check(t, golden.Dir("conntrackd", tc.name+".conf"), got)
		})
	}
}

// render runs Load, Verify and Generate as a commit does.
func render(t testing.TB, lines []string, sys handler.System, root paths.Root) []byte {
	t.Helper()
	h := testHandler()
	cfg, _, err := h.Load(handlertest.Tree(t, lines...))
	if err != nil {
		t.Fatal(err)
	}
	facts, err := h.Verify(context.Background(), cfg, sys)
	if err != nil {
		t.Fatal(err)
	}
	files, err := h.Generate(handler.Present(cfg, facts), &handler.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != root.ConntrackdConf() || files[0].Data == nil {
		t.Fatalf("Generate() = %+v, want conntrackd.conf and the failover facts", files)
	}
	var ff transition.Facts
	if files[1].Path != root.FailoverFacts() || json.Unmarshal(files[1].Data, &ff) != nil || ff.SyncGroup == "" {
		t.Fatalf("failover facts = %s at %s, want the sync-group at %s", files[1].Data, files[1].Path, root.FailoverFacts())
	}
	// The hook acts on the facts; they must say what conntrackd.conf says.
	conf := string(files[0].Data)
	if ff.DisableExternalCache != strings.Contains(conf, "DisableExternalCache on") ||
		ff.ExpectSync != strings.Contains(conf, "ExpectationSync") {
		t.Fatalf("failover facts %+v disagree with conntrackd.conf:\n%s", ff, conf)
	}
	return files[0].Data
}

func TestGenerateDeleted(t *testing.T) {
	root := paths.Root{Dir: "/tmp/r1"}
	files, err := testHandler().Generate(State{}, &handler.Env{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	// Both go, so the hook sees conntrack-sync as not configured.
	want := []handler.File{{Path: "/tmp/r1/etc/ctsync/conntrackd.conf"}, {Path: "/tmp/r1/etc/ctsync/failover.json"}}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("Generate(absent) (-want +got):\n%s", diff)
	}
}

func TestGenerateNeedsVerify(t *testing.T) {
	h := testHandler()
	cfg, _, err := h.Load(buildTree(t, baseLines...))
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.Generate(handler.Present(cfg, Facts{}), &handler.Env{Root: paths.Root{Dir: "/"}})
	if err == nil || !strings.Contains(err.Error(), "Verify did not run") {
		t.Fatalf("Generate() before Verify = %v, want an error", err)
	}
}

// TestRenderRefusesUnsafe checks the last line of defence: a Config that
// skipped Verify's checks still cannot put a second word into the file.
func TestRenderRefusesUnsafe(t *testing.T) {
	for name, mutate := range map[string]func(c *Config, f *Facts){
		"peer": func(c *Config, _ *Facts) { c.Interface["eth1"] = Interface{Peer: "198.18.10.3\n}", Port: 1} },
		"interface": func(c *Config, f *Facts) {
			c.Interface["eth1 x"] = c.Interface["eth1"]
			f.Local["eth1 x"] = "198.18.10.2"
		},
		"local":          func(_ *Config, f *Facts) { f.Local["eth1"] = "" },
		"ignore-address": func(c *Config, _ *Facts) { c.IgnoreAddress = []string{"1.2.3.4 }"} },
		"root":           func(*Config, *Facts) {},
	} {
		t.Run(name, func(t *testing.T) {
			c := &Config{
				EventListenQueueSize: 8, SyncQueueSize: 1, McastGroup: "225.0.0.50",
				Interface: map[string]Interface{"eth1": {Peer: "198.18.10.3", Port: 3780}},
			}
			f := Facts{Local: map[string]string{"eth1": "198.18.10.2"}, Kernel: testKernel}
			mutate(c, &f)
			root := paths.Root{Dir: "/"}
			if name == "root" {
				root.Dir = "/tmp/a b"
			}
			if _, err := Render(c, f, root); err == nil {
				t.Fatal("Render accepted an unsafe value")
			}
		})
	}
}

// FuzzVerifyRender puts arbitrary values where the user's free text goes.
// Whatever Verify accepts must render, and the file must keep its shape:
// the same lines and braces as with a plain value.
func FuzzVerifyRender(f *testing.F) {
	for _, s := range []string{"198.18.10.3", "eth1", "x }", "a\nb", "192.0.2.0/24", "2001:db8::1", "#", "MAIN-GW"} {
		f.Add(s, s, s)
	}
	root := paths.Root{Dir: "/"}
	baseline := strings.Count(string(render(f, baseLines, baseSystem(), root)), "\n")
	f.Fuzz(func(t *testing.T, peer, ignore, group string) {
		tree := handlertest.Tree(t, baseLines...)
		h := testHandler()
		set := func(v string, leaf string, steps ...string) {
			var s []stepSpec
			for _, n := range steps {
				s = append(s, stepSpec{n, n == "interface" || (n == "sync-group" && steps[0] == "high-availability")})
			}
			setSpec(tree, s, leaf == "multi", v)
		}
		set(peer, "", "service", "conntrack-sync", "interface", "eth1", "peer")
		set(ignore, "multi", "service", "conntrack-sync", "ignore-address")
		set(group, "", "service", "conntrack-sync", "failover-mechanism", "vrrp", "sync-group")
		set("wan", "multi", "high-availability", "vrrp", "sync-group", group, "member")
		cfg, _, err := h.Load(tree)
		if err != nil {
			return
		}
		facts, err := h.Verify(context.Background(), cfg, baseSystem())
		if err != nil {
			return
		}
		files, err := h.Generate(handler.Present(cfg, facts), &handler.Env{Root: root})
		if err != nil {
			t.Fatalf("Verify accepted peer %q ignore %q group %q but Generate failed: %v", peer, ignore, group, err)
		}
		out := string(files[0].Data)
		// Ignoring one more address adds at most one line.
		if n := strings.Count(out, "\n"); n < baseline || n > baseline+1 {
			t.Fatalf("peer %q ignore %q: %d lines, want %d or %d:\n%s", peer, ignore, n, baseline, baseline+1, out)
		}
		if strings.Count(out, "{") != strings.Count(out, "}") {
			t.Fatalf("unbalanced braces:\n%s", out)
		}
	})
}
