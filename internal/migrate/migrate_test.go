package migrate

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/schema"
)

// TestGolden migrates every old config.boot in testdata/migrate
// (NAME.boot) and compares the imported tree and the report with
// NAME.golden. Each result must also validate against today's schema: what
// the import keeps can be committed.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob(golden.Dir("migrate", "*.boot"))
	if len(files) == 0 {
		t.Fatalf("no %s", golden.Dir("migrate", "*.boot"))
	}
	s := schema.Default()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			tree, r, err := Load(data, s)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString(tree.String())
			b.WriteString("\n// report\n")
			for _, l := range r.Lines() {
				b.WriteString("// " + l + "\n")
			}
			// What is left to fix by hand is part of the golden output.
			for _, e := range cfgerr.List(s.Validate(tree)) {
				b.WriteString("// invalid: " + e.Error() + "\n")
			}
			golden.Check(t, strings.TrimSuffix(f, ".boot")+".golden", []byte(b.String()))
			// Saved with today's footer and loaded again, nothing moves.
			again, r2, err := Load(saved(t, tree), s)
			if err != nil {
				t.Fatal(err)
			}
			if !configtree.Equal(tree, again) || len(r2.Lines()) != 0 {
				t.Errorf("reloading the migrated file changed it:\n%s%v", configtree.Diff(tree, again), r2.Lines())
			}
		})
	}
}

func saved(t testing.TB, tree *configtree.Node) []byte {
	var b bytes.Buffer
	if err := (&configtree.File{Root: tree, Footer: Footer()}).Format(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestCurrentFileIsUntouched(t *testing.T) {
	data, _ := os.ReadFile(golden.Dir("migrate", "ctsync-current.boot"))
	tree, r, err := Load(data, schema.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Lines()) != 0 || len(r.Applied) != 0 {
		t.Errorf("a current file was migrated: %v", r.Lines())
	}
	if diff := cmp.Diff(string(data[:bytes.Index(data, []byte("//"))]), tree.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestVersions(t *testing.T) {
	tests := []struct {
		name, src string
		want      map[string]int
	}{
		{"none", "service {\n}\n", nil},
		{"vyos footer", "// vyos-config-version: \"conntrack-sync@1:system@12:vrrp@2\"\n", map[string]int{"conntrack-sync": 1, "vrrp": 2}},
		{"vyatta comment", "/* === vyatta-config-version: \"conntrack-sync@1:vrrp@1:zone-policy@1\" === */\n", map[string]int{"conntrack-sync": 1, "vrrp": 1}},
		{"ours", strings.Join(Footer(), "\n") + "\n", Current},
		{"footer without ours", "// vyos-config-version: \"system@12\"\n", map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := configtree.ParseFile(strings.NewReader(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Versions(tt.src, f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// Each step is a small function: table-test each alone.
func TestSteps(t *testing.T) {
	tests := []struct {
		name     string
		step     func(*configtree.Node, *Report)
		in, want string
		warn     string
	}{
		{"accept-protocol comma list", conntrackSync1to2,
			"service {\n    conntrack-sync {\n        accept-protocol tcp,udp,,tcp\n    }\n}\n",
			"service {\n    conntrack-sync {\n        accept-protocol tcp\n        accept-protocol udp\n    }\n}\n", ""},
		{"interface leaf to entry", conntrackSync1to2,
			"service {\n    conntrack-sync {\n        interface eth1\n    }\n}\n",
			"service {\n    conntrack-sync {\n        interface eth1 {\n        }\n    }\n}\n", ""},
		{"ignore-address ipv4", conntrackSync1to2,
			"service {\n    conntrack-sync {\n        ignore-address {\n            ipv4 10.0.0.1\n            ipv6 2001:db8::1\n        }\n    }\n}\n",
			"service {\n    conntrack-sync {\n        ignore-address 10.0.0.1\n        ignore-address 2001:db8::1\n    }\n}\n", ""},
		{"cluster dropped", conntrackSync1to2,
			"service {\n    conntrack-sync {\n        failover-mechanism {\n            cluster {\n                group G\n            }\n        }\n    }\n}\n",
			"service {\n    conntrack-sync {\n    }\n}\n", "failover-mechanism cluster: ctsync fails over with VRRP only"},
		{"virtual-address-excluded to excluded-address, mode-force removed", vrrp2to3,
			"high-availability {\n    vrrp {\n        group g {\n            address 192.0.2.1/24\n            transition-script {\n                mode-force\n            }\n            virtual-address-excluded 2001:db8::5/64\n            virtual-address-excluded 192.0.2.5/24\n        }\n    }\n}\n",
			"high-availability {\n    vrrp {\n        group g {\n            address 192.0.2.1/24\n            excluded-address 192.0.2.5/24 {\n            }\n            excluded-address 2001:db8::5/64 {\n            }\n        }\n    }\n}\n", ""},
		{"cluster to vrrp, failover-mechanism to its sync-group", cluster1toVRRP,
			"cluster {\n    group G {\n        auto-failback true\n        monitor 192.0.2.254\n        primary a\n        secondary b\n        service 192.0.2.10/24\n        service 198.51.100.1/24/eth2\n        service apache2\n    }\n    interface eth1\n    keepalive-interval 100\n    pre-shared-secret qwertyuiop\n}\n" +
				"service {\n    conntrack-sync {\n        failover-mechanism {\n            cluster {\n                group G\n            }\n        }\n    }\n}\n",
			"high-availability {\n    vrrp {\n        group G {\n            address 192.0.2.10/24 {\n            }\n            address 198.51.100.1/24 {\n                interface eth2\n            }\n            advertise-interval 1\n            authentication {\n                password qwertyui\n                type plaintext-password\n            }\n            health-check {\n                ping 192.0.2.254\n            }\n            interface eth1\n            vrid 1\n        }\n        sync-group G {\n            member G\n        }\n    }\n}\n" +
				"service {\n    conntrack-sync {\n        failover-mechanism {\n            vrrp {\n                sync-group G\n            }\n        }\n    }\n}\n", "service apache2: dropped, not an IPv4 address service"},
		{"cluster VRID after the ones in use", cluster1toVRRP,
			"cluster {\n    group G {\n        service 192.0.2.10/24/eth0\n    }\n}\nhigh-availability {\n    vrrp {\n        group x {\n            vrid 1\n        }\n    }\n}\ninterfaces {\n    ethernet eth0 {\n        vrrp {\n            vrrp-group 2 {\n            }\n        }\n    }\n}\n",
			"high-availability {\n    vrrp {\n        group G {\n            address 192.0.2.10/24 {\n            }\n            advertise-interval 1\n            interface eth0\n            no-preempt\n            vrid 3\n        }\n        group x {\n            vrid 1\n        }\n    }\n}\ninterfaces {\n    ethernet eth0 {\n        vrrp {\n            vrrp-group 2 {\n            }\n        }\n    }\n}\n", "VRRP elects by priority"},
		{"vrrp-group out of interfaces", vrrp1to2,
			"interfaces {\n    ethernet eth0 {\n        address 192.0.2.2/24\n        vrrp {\n            vrrp-group 7 {\n                preempt false\n                priority 20\n                sync-group S\n                virtual-address 192.0.2.1\n            }\n        }\n    }\n}\n",
			"high-availability {\n    vrrp {\n        group eth0-7 {\n            interface eth0\n            no-preempt\n            priority 20\n            virtual-address 192.0.2.1\n            vrid 7\n        }\n        sync-group S {\n            member eth0-7\n        }\n    }\n}\ninterfaces {\n    ethernet eth0 {\n        address 192.0.2.2/24\n    }\n}\n", ""},
		{"virtual-address to address, prefix from interface", vrrp2to3,
			"high-availability {\n    vrrp {\n        group g {\n            interface eth0\n            virtual-address 192.0.2.1\n        }\n    }\n}\ninterfaces {\n    ethernet eth0 {\n        address 192.0.2.2/25\n    }\n}\n",
			"high-availability {\n    vrrp {\n        group g {\n            address 192.0.2.1/25 {\n            }\n            interface eth0\n        }\n    }\n}\ninterfaces {\n    ethernet eth0 {\n        address 192.0.2.2/25\n    }\n}\n", "no prefix length"},
		{"virtual-address tag with interface", vrrp2to3,
			"high-availability {\n    vrrp {\n        group g {\n            virtual-address 192.0.2.1/24 {\n                interface eth3\n            }\n        }\n    }\n}\n",
			"high-availability {\n    vrrp {\n        group g {\n            address 192.0.2.1/24 {\n                interface eth3\n            }\n        }\n    }\n}\n", ""},
		{"bare address without interface address", vrrp2to3,
			"high-availability {\n    vrrp {\n        group g {\n            virtual-address 2001:db8::1\n        }\n    }\n}\n",
			"high-availability {\n    vrrp {\n        group g {\n            address 2001:db8::1/128 {\n            }\n        }\n    }\n}\n", "2001:db8::1/128"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := configtree.Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var r Report
			tt.step(tree, &r)
			if diff := cmp.Diff(tt.want, tree.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got := strings.Join(append(slices.Clone(r.Warnings), r.Dropped...), "\n"); (tt.warn == "") != (got == "") || !strings.Contains(got, tt.warn) {
				t.Errorf("warnings %q, want one with %q", got, tt.warn)
			}
			// Run again: a step leaves a migrated tree alone.
			once := tree.Clone()
			var r2 Report
			tt.step(tree, &r2)
			if !configtree.Equal(once, tree) || len(r2.Changes)+len(r2.Warnings)+len(r2.Dropped) != 0 {
				t.Errorf("step is not idempotent:\n%s", configtree.Diff(once, tree))
			}
		})
	}
}

func TestNotConfig(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"empty", "  \n", "empty"},
		{"binary", "\x7fELF\x02\x01\x01\x00\x00", "not a text file"},
		{"passwd", "root:x:0:0:root:/root:/bin/bash\n", "top level"},
		{"yaml", "service:\n  conntrack-sync: {}\n", "not a config.boot"},
		{"unbalanced", "service {\n    conntrack-sync {\n", "line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Load([]byte(tt.src), schema.Default())
			if !errors.Is(err, ErrNotConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrNotConfig mentioning %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
		})
	}
}

// FuzzLoad feeds arbitrary text through the config.boot parser, the
// migrations and the import: no panic, and a second load of what the
// first produced (saved with today's footer) changes nothing.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob(golden.Dir("migrate", "*.boot"))
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte("interfaces { ethernet eth0 { vrrp { vrrp-group 1 { virtual-address 1.2.3.4 } } } }"))
	f.Add([]byte("service { conntrack-sync { accept-protocol , } }"))
	s := schema.Default()
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, _, err := Load(data, s)
		if err != nil {
			return
		}
		again, r2, err := Load(saved(t, tree), s)
		if err != nil {
			t.Fatalf("reloading the import failed: %v\n%s", err, tree)
		}
		if !configtree.Equal(tree, again) || len(r2.Lines()) != 0 {
			t.Fatalf("reload changed the import:\n%s%v", configtree.Diff(tree, again), r2.Lines())
		}
	})
}

// FuzzMigrate builds random trees from the fuzzer's bytes out of the words
// migrations look for, and checks that migrating never panics and that a
// second migration changes nothing.
func FuzzMigrate(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte("interfaces ethernet vrrp vrrp-group virtual-address"))
	f.Add([]byte{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31})
	f.Fuzz(func(t *testing.T, data []byte) {
		tree := randomTree(data)
		var r Report
		Migrate(tree, nil, &r)
		once := tree.Clone()
		var r2 Report
		Migrate(tree, nil, &r2)
		if !configtree.Equal(once, tree) {
			t.Fatalf("second migration changed the tree:\n%s", configtree.Diff(once, tree))
		}
		// What a migration builds is a tree the parser reads back.
		back, err := configtree.Parse(strings.NewReader(tree.String()))
		if err != nil {
			t.Fatalf("migrated tree does not parse back: %v\n%s", err, tree)
		}
		_ = back
	})
}

var words = []string{"interfaces", "ethernet", "eth0", "eth1", "vif", "100", "vrrp", "vrrp-group", "1", "virtual-address",
	"192.0.2.1", "192.0.2.1/24", "address", "192.0.2.2/24", "priority", "preempt", "false", "sync-group", "S",
	"service", "conntrack-sync", "accept-protocol", "tcp,udp", ",", "interface", "ignore-address", "ipv4", "10.0.0.1",
	"failover-mechanism", "cluster", "group", "high-availability", "authentication", "password", "run-transition-scripts",
	"master", "2001:db8::1", "member", "bogus", "pre-shared-secret", "keepalive-interval", "auto-failback", "true",
	"192.0.2.1/24/eth0", "virtual-address-excluded", "transition-script", "mode-force", "vrid", "monitor", "primary"}

// randomTree reads data as a little program: each byte picks a word and
// what to do with it (descend into a container or tag entry, add a leaf
// value, go up).
func randomTree(data []byte) *configtree.Node {
	root := configtree.New()
	var stack []configtree.Step
	for i := 0; i+1 < len(data); i += 2 {
		w := words[int(data[i])%len(words)]
		switch data[i+1] % 5 {
		case 0: // container
			if len(stack) < 8 {
				stack = append(stack, configtree.Step{Name: w})
			}
		case 1: // tag entry: this word names the tag, the next byte the key
			if len(stack) < 7 {
				key := words[int(data[i+1]/5)%len(words)]
				stack = append(stack, configtree.Step{Name: w, Tag: true}, configtree.Step{Name: key})
			}
		case 2: // leaf value
			v := words[int(data[i+1]/5)%len(words)]
			setSafe(root, append(stack, configtree.Step{Name: w}), true, true, v)
		case 3: // valueless leaf
			setSafe(root, append(stack, configtree.Step{Name: w}), false, false, "")
		case 4:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	return root
}

// setSafe sets a leaf unless the path crosses an existing leaf or names
// an existing non-leaf: the config.boot parser never builds such trees.
func setSafe(root *configtree.Node, st []configtree.Step, hasValue, multi bool, v string) {
	cur := root
	for i, s := range st {
		c := cur.Child(s.Name)
		if c == nil {
			break
		}
		last := i == len(st)-1
		if (!last && c.Leaf) || (last && !c.Leaf) || (!last && c.Tag != s.Tag && len(c.Children) > 0) {
			return
		}
		cur = c
	}
	for i, s := range st[:len(st)-1] {
		if c := nodeAt(root, st[:i+1]); c != nil && c.Tag != s.Tag {
			return
		}
	}
	root.Set(st, true, multi, hasValue, v)
}

func nodeAt(root *configtree.Node, st []configtree.Step) *configtree.Node {
	cur := root
	for _, s := range st {
		cur = cur.Child(s.Name)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// FuzzClusterService: whatever clusterService accepts is an IPv4 prefix
// in canonical form and an interface name without white space or
// structure characters, so it is safe to set as a config value.
func FuzzClusterService(f *testing.F) {
	for _, s := range []string{"192.0.2.10/24/eth1", "192.0.2.20/24", "apache2", "10.0.0.1/33", "1.2.3.4/8/eth0 {", "::1/64", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, iface, ok := clusterService(s)
		if !ok {
			return
		}
		p, err := netip.ParsePrefix(addr)
		if err != nil || !p.Addr().Is4() || p.String() != addr {
			t.Fatalf("clusterService(%q) address %q is not a canonical IPv4 prefix", s, addr)
		}
		if strings.ContainsAny(iface, " \t\n{}\"#;!/") {
			t.Fatalf("clusterService(%q) interface %q", s, iface)
		}
	})
}
