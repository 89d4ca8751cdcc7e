package conntracksync

import (
	"context"
	"errors"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/schema"
)

func TestGetConfig(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		want    *Config
		wantErr string
	}{
		{
			name:  "absent",
			lines: []string{"high-availability vrrp sync-group MAIN-GW member wan"},
		},
		{
			name:  "unicast with defaults filled",
			lines: baseLines,
			want: &Config{
				EventListenQueueSize: 8, McastGroup: "225.0.0.50", SyncQueueSize: 1,
				Interface:         map[string]Interface{"eth1": {Peer: "198.18.10.3", Port: 3780}},
				FailoverMechanism: syncGroup("MAIN-GW"),
				SyncGroupExists:   true,
			},
		},
		{
			name: "everything",
			lines: []string{
				"service conntrack-sync accept-protocol tcp",
				"service conntrack-sync accept-protocol udp",
				"service conntrack-sync disable-external-cache",
				"service conntrack-sync disable-syslog",
				"service conntrack-sync startup-resync",
				"service conntrack-sync event-listen-queue-size 16",
				"service conntrack-sync sync-queue-size 4",
				"service conntrack-sync expect-sync ftp",
				"service conntrack-sync ignore-address 192.0.2.0/24",
				"service conntrack-sync listen-address 198.18.20.2",
				"service conntrack-sync mcast-group 239.1.1.1",
				"service conntrack-sync purge-timeout 30",
				"service conntrack-sync interface eth2 port 3781",
				"service conntrack-sync failover-mechanism vrrp sync-group OTHER",
			},
			want: &Config{
				AcceptProtocol: []string{"tcp", "udp"}, DisableExternalCache: true, DisableSyslog: true, StartupResync: true,
				EventListenQueueSize: 16, SyncQueueSize: 4, ExpectSync: []string{"ftp"}, IgnoreAddress: []string{"192.0.2.0/24"},
				ListenAddress: []string{"198.18.20.2"}, McastGroup: "239.1.1.1", PurgeTimeout: 30,
				Interface:         map[string]Interface{"eth2": {Port: 3781}},
				FailoverMechanism: syncGroup("OTHER"),
			},
		},
		{
			name:    "unknown node",
			lines:   append([]string{"service conntrack-sync frobnicate yes"}, baseLines...),
			wantErr: "service conntrack-sync: cannot decode: '' has invalid keys: frobnicate",
		},
		{
			name:    "port not a number",
			lines:   append([]string{"service conntrack-sync interface eth1 port 37x"}, baseLines...),
			wantErr: "service conntrack-sync: cannot decode",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testHandler().GetConfig(buildTree(t, tt.lines...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("GetConfig() error = %v, want %q", err, tt.wantErr)
				}
				if p := cfgerr.PathOf(err); !slices.Equal(p, Owned) {
					t.Errorf("error path = %q", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if got != nil {
					t.Fatalf("GetConfig() = %#v, want nil", got)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GetConfig() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigCoversSchema keeps Config in step with the YANG module: a
// node the schema has and Config lacks would fail every commit that sets
// it (ErrorUnused), so find it here first.
func TestConfigCoversSchema(t *testing.T) {
	n := schema.Default().Lookup(Owned)
	if n == nil {
		t.Fatal("schema has no service conntrack-sync")
	}
	tags := map[string]bool{}
	ct := reflect.TypeOf(Config{})
	for i := range ct.NumField() {
		tags[ct.Field(i).Tag.Get("mapstructure")] = true
	}
	for _, c := range n.Children {
		if !tags[c.Name] {
			t.Errorf("schema node %q has no field in Config", c.Name)
		}
	}
}

// TestGetConfigFromSchemaTree decodes a tree as the commit engine hands it
// over: built by the schema, defaults applied.
func TestGetConfigFromSchemaTree(t *testing.T) {
	tree := handlertest.Tree(t,
		"service conntrack-sync accept-protocol tcp",
		"service conntrack-sync accept-protocol udp",
		"service conntrack-sync expect-sync ftp",
		"service conntrack-sync ignore-address 192.0.2.0/24",
		"service conntrack-sync listen-address 198.18.10.2",
		"service conntrack-sync interface eth1 peer 198.18.10.3",
		"service conntrack-sync interface eth2 peer 198.18.20.3",
		"service conntrack-sync interface eth2 port 3790",
		"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
		"high-availability vrrp sync-group MAIN-GW member wan",
	)
	got, err := testHandler().GetConfig(tree)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		AcceptProtocol: []string{"tcp", "udp"}, ExpectSync: []string{"ftp"}, IgnoreAddress: []string{"192.0.2.0/24"},
		ListenAddress:        []string{"198.18.10.2"},
		EventListenQueueSize: 8, McastGroup: "225.0.0.50", SyncQueueSize: 1,
		Interface:         map[string]Interface{"eth1": {Peer: "198.18.10.3", Port: 3780}, "eth2": {Peer: "198.18.20.3", Port: 3790}},
		FailoverMechanism: syncGroup("MAIN-GW"),
		SyncGroupExists:   true,
	}
	// Defaults the schema may add beyond VyOS's are not this test's
	// business: compare what VyOS defines.
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(Config{}, "PurgeTimeout")); diff != "" {
		t.Errorf("GetConfig() (-want +got):\n%s", diff)
	}
}

func syncGroup(name string) FailoverMechanism {
	var f FailoverMechanism
	f.VRRP.SyncGroup = name
	return f
}

func TestVerify(t *testing.T) {
	const p = "service conntrack-sync "
	tests := []struct {
		name  string
		lines []string // on top of baseLines unless replace is set
		// replace drops baseLines: the test builds the whole tree.
		replace bool
		sys     *fakeSystem
		want    []string // every error, in order
	}{
		{name: "valid unicast"},
		{
			name:    "valid multicast on two links",
			replace: true,
			lines: []string{
				"service conntrack-sync interface eth1",
				"service conntrack-sync interface eth2",
				"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
				"high-availability vrrp sync-group MAIN-GW member wan",
			},
		},
		{
			name:    "interface required",
			replace: true,
			lines: []string{
				"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
				"high-availability vrrp sync-group MAIN-GW member wan",
			},
			want: []string{p + "interface: at least one interface is required (set service conntrack-sync interface <name> [peer <address>])"},
		},
		{
			name:  "interface does not exist",
			lines: []string{"service conntrack-sync interface eth9 peer 198.18.10.3"},
			want:  []string{p + "interface eth9: interface does not exist"},
		},
		{
			name:  "interface without IPv4",
			lines: []string{"service conntrack-sync interface eth3 peer 198.18.10.3"},
			want:  []string{p + "interface eth3: interface has no IPv4 address"},
		},
		{
			name:  "unicast and multicast mixed",
			lines: []string{"service conntrack-sync interface eth2"},
			want: []string{p + "interface: unicast (peer) and multicast interfaces cannot be mixed: eth1 with peer, eth2 without " +
				"(conntrackd cannot use UDP with other dedicated link protocols)"},
		},
		{
			name:  "expect-sync all with another",
			lines: []string{"service conntrack-sync expect-sync all", "service conntrack-sync expect-sync ftp"},
			want:  []string{p + "expect-sync: all cannot be combined with other protocols (delete service conntrack-sync expect-sync, then set only all)"},
		},
		{
			name:  "expect-sync all alone",
			lines: []string{"service conntrack-sync expect-sync all"},
		},
		{
			name:  "expect-sync unknown",
			lines: []string{"service conntrack-sync expect-sync tftp"},
			want:  []string{p + "expect-sync tftp: unknown protocol (one of all, ftp, sip, h323, nfs, sqlnet)"},
		},
		{
			name:  "accept-protocol unknown",
			lines: []string{"service conntrack-sync accept-protocol gre"},
			want:  []string{p + "accept-protocol gre: unknown protocol (one of tcp, udp, icmp, icmp6, sctp, dccp)"},
		},
		{
			name:  "listen-address not local",
			lines: []string{"service conntrack-sync listen-address 198.18.10.9"},
			want:  []string{p + "listen-address 198.18.10.9: address is not assigned to a local interface"},
		},
		{
			name:  "listen-address local",
			lines: []string{"service conntrack-sync listen-address 198.18.10.2"},
		},
		{
			name:  "listen-address not an address",
			lines: []string{"service conntrack-sync listen-address 198.18.10"},
			want:  []string{p + "listen-address 198.18.10: not an IP address"},
		},
		{
			name:    "sync-group missing",
			replace: true,
			lines:   []string{"service conntrack-sync interface eth1 peer 198.18.10.3"},
			want:    []string{p + "failover-mechanism: a failover mechanism is required (set service conntrack-sync failover-mechanism vrrp sync-group <name>)"},
		},
		{
			name:    "sync-group not configured",
			replace: true,
			lines: []string{
				"service conntrack-sync interface eth1 peer 198.18.10.3",
				"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
				"high-availability vrrp sync-group OTHER member wan",
			},
			want: []string{p + "failover-mechanism vrrp sync-group MAIN-GW: VRRP sync-group MAIN-GW is not configured " +
				"(set high-availability vrrp sync-group MAIN-GW member <group>)"},
		},
		{
			name:    "mcast-group not multicast",
			replace: true,
			lines: []string{
				"service conntrack-sync interface eth1",
				"service conntrack-sync mcast-group 198.18.0.5",
				"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
				"high-availability vrrp sync-group MAIN-GW member wan",
			},
			want: []string{p + "mcast-group 198.18.0.5: not an IPv4 multicast address (224.0.0.0/4)"},
		},
		{
			name:  "peer is local",
			lines: []string{"service conntrack-sync interface eth2 peer 198.18.20.2"},
			want: []string{p + "interface eth2 peer 198.18.20.2: peer address is assigned to this system " +
				"(the peer is the other router's address on the sync link)"},
		},
		{
			name:  "peer not IPv4",
			lines: []string{"service conntrack-sync interface eth2 peer 2001:db8::1"},
			want:  []string{p + "interface eth2 peer 2001:db8::1: not an IPv4 address"},
		},
		{
			name:  "port out of range",
			lines: []string{"service conntrack-sync interface eth1 port 70000"},
			want:  []string{p + "interface eth1 port 70000: must be 1-65535"},
		},
		{
			name:  "queue sizes out of range",
			lines: []string{"service conntrack-sync sync-queue-size 0", "service conntrack-sync event-listen-queue-size 4096"},
			want: []string{
				p + "sync-queue-size 0: must be 1-2047 (MB)",
				p + "event-listen-queue-size 4096: must be 1-2047 (MB)",
			},
		},
		{
			name:  "ignore-address bad",
			lines: []string{"service conntrack-sync ignore-address 192.0.2.300"},
			want:  []string{p + "ignore-address 192.0.2.300: not an IPv4 or IPv6 address or prefix"},
		},
		{
			name:  "ignore-address v4 and v6 fine",
			lines: []string{"service conntrack-sync ignore-address 192.0.2.1", "service conntrack-sync ignore-address 2001:db8::/48"},
		},
		{
			name:  "every problem reported",
			lines: []string{"service conntrack-sync interface eth9", "service conntrack-sync expect-sync all", "service conntrack-sync expect-sync sip"},
			want: []string{
				p + "interface: unicast (peer) and multicast interfaces cannot be mixed: eth1 with peer, eth9 without " +
					"(conntrackd cannot use UDP with other dedicated link protocols)",
				p + "expect-sync: all cannot be combined with other protocols (delete service conntrack-sync expect-sync, then set only all)",
				p + "interface eth9: interface does not exist",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := tt.lines
			if !tt.replace {
				lines = append(append([]string{}, baseLines...), tt.lines...)
			}
			sys := tt.sys
			if sys == nil {
				sys = baseSystem()
			}
			h := testHandler()
			cfg, err := h.GetConfig(buildTree(t, lines...))
			if err != nil {
				t.Fatal(err)
			}
			err = h.Verify(context.Background(), cfg, sys)
			var got []string
			for _, e := range cfgerr.List(err) {
				var ce *cfgerr.Error
				if !errors.As(e, &ce) {
					t.Errorf("error %q is not a *cfgerr.Error", e)
				}
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify() errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestVerifyInjection feeds the values that reach conntrackd.conf with
// what would break or extend the file, bypassing the schema (a
// hand-edited config.boot): Verify must refuse each with its path.
func TestVerifyInjection(t *testing.T) {
	bad := []string{"eth1 }", "eth1\nGeneral {", `"eth1"`, "eth1#", "a b", "{", "", "x/y", "very-long-name-16"}
	for _, v := range bad {
		t.Run("interface "+v, func(t *testing.T) {
			tree := buildTree(t, baseLines...)
			tree.Set([]configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "interface", Tag: true}, {Name: v}, {Name: "peer"}},
				true, false, true, "198.18.10.3")
			expectRefused(t, tree, path("interface", v))
		})
		t.Run("sync-group "+v, func(t *testing.T) {
			tree := buildTree(t, baseLines[0])
			tree.Set([]configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "failover-mechanism"}, {Name: "vrrp"}, {Name: "sync-group"}},
				true, false, true, v)
			if v == "" || v == "x/y" || v == "very-long-name-16" {
				// Empty is "required", covered by TestVerify; the others are
				// only bad as interface names.
				return
			}
			tree.Set([]configtree.Step{{Name: "high-availability"}, {Name: "vrrp"}, {Name: "sync-group", Tag: true}, {Name: v}, {Name: "member"}},
				true, true, true, "wan")
			expectRefused(t, tree, path("failover-mechanism", "vrrp", "sync-group", v))
		})
	}
	for _, leaf := range []string{"peer", "mcast-group", "listen-address", "ignore-address"} {
		for _, v := range []string{"198.18.10.3 }", "198.18.10.3\n}", "225.0.0.50#", `"198.18.10.3"`} {
			t.Run(leaf+" "+v, func(t *testing.T) {
				tree := buildTree(t, baseLines...)
				steps := []configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}}
				if leaf == "peer" {
					steps = append(steps, configtree.Step{Name: "interface", Tag: true}, configtree.Step{Name: "eth1"})
				}
				steps = append(steps, configtree.Step{Name: leaf})
				tree.Set(steps, true, schema.Default().IsMulti(append(Owned[:2:2], leaf)), true, v)
				h := testHandler()
				cfg, err := h.GetConfig(tree)
				if err != nil {
					t.Fatal(err)
				}
				err = h.Verify(context.Background(), cfg, baseSystem())
				if err == nil {
					t.Fatalf("Verify accepted %s %q", leaf, v)
				}
				named := false
				for _, e := range cfgerr.List(err) {
					p := cfgerr.PathOf(e)
					named = named || (len(p) >= 2 && p[len(p)-2] == leaf && p[len(p)-1] == v)
				}
				if !named {
					t.Errorf("error %q does not name %s %q", err, leaf, v)
				}
			})
		}
	}
}

func expectRefused(t *testing.T, tree *configtree.Node, path []string) {
	t.Helper()
	h := testHandler()
	cfg, err := h.GetConfig(tree)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Verify(context.Background(), cfg, baseSystem())
	if err == nil {
		t.Fatalf("Verify accepted %q", path)
	}
	if !slices.Equal(cfgerr.PathOf(err), path) {
		t.Errorf("Verify() = %q, want an error about %q", err, path)
	}
}

func TestVerifySystemError(t *testing.T) {
	sys := baseSystem()
	sys.err = errors.New("netlink: permission denied")
	h := testHandler()
	cfg, _ := h.GetConfig(buildTree(t, baseLines...))
	err := h.Verify(context.Background(), cfg, sys)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Verify() = %v, want the system error", err)
	}
}

func TestHandlerRegistered(t *testing.T) {
	for _, h := range handler.All() {
		if h.Name() == "conntrack-sync" {
			return
		}
	}
	t.Fatal("conntrack-sync handler is not registered")
}
