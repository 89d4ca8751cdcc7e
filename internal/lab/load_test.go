package lab

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/migrate"
	"github.com/ctsync/ctsync/internal/schema"
)

// TestVyattaPairImports migrates the lab's Vyatta 6.x pair as `load`
// does and checks, without namespaces, that each import is valid, is the
// golden one, and configures what the lab's set commands configure: the
// same groups (named the migration's way), priorities, addresses and
// sync-group, conntrack-sync over sync0 (multicast, as Vyatta had it).
func TestVyattaPairImports(t *testing.T) {
	s := schema.Default()
	for name, file := range VyattaPair(golden.Dir("lab")) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tree, rep, err := migrate.Load(data, s)
			if err != nil {
				t.Fatal(err)
			}
			if errs := cfgerr.List(s.Validate(tree)); len(errs) > 0 {
				t.Errorf("the import does not validate: %v", errs)
			}
			var b strings.Builder
			b.WriteString(tree.String())
			b.WriteString("\n// report\n")
			for _, l := range rep.Lines() {
				b.WriteString("// " + l + "\n")
			}
			golden.Check(t, strings.TrimSuffix(file, ".boot")+".golden", []byte(b.String()))

			prio := map[string]int{"r1": R1Priority, "r2": R2Priority}[name]
			want := []string{
				"set high-availability vrrp group lan0-10 interface lan0",
				"set high-availability vrrp group lan0-10 vrid 10",
				fmt.Sprintf("set high-availability vrrp group lan0-10 address %s/%d", LANVIP, LANPrefix.Bits()),
				fmt.Sprintf("set high-availability vrrp group lan0-10 priority %d", prio),
				"set high-availability vrrp group lan0-10 advertise-interval 1",
				"set high-availability vrrp group wan0-20 interface wan0",
				"set high-availability vrrp group wan0-20 vrid 20",
				fmt.Sprintf("set high-availability vrrp group wan0-20 address %s/%d", WANVIP, WANPrefix.Bits()),
				fmt.Sprintf("set high-availability vrrp group wan0-20 priority %d", prio),
				"set high-availability vrrp group wan0-20 advertise-interval 1",
				"set high-availability vrrp sync-group MAIN member lan0-10",
				"set high-availability vrrp sync-group MAIN member wan0-20",
				"set service conntrack-sync interface sync0",
				"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
				"set service conntrack-sync accept-protocol tcp",
			}
			got := tree.Commands()
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Errorf("the import lacks %q; it holds:\n%s", w, strings.Join(got, "\n"))
				}
			}
			for _, c := range got {
				if strings.Contains(c, " no-preempt") || strings.Contains(c, " peer ") {
					t.Errorf("unexpected %q: r1 must preempt on return, and Vyatta 6.x synced by multicast", c)
				}
			}
			for _, sk := range []string{"firewall", "nat source", "service ssh", "system", "interfaces ethernet lan0"} {
				if !slices.Contains(rep.Skipped, sk) {
					t.Errorf("the report does not list %q as skipped: %v", sk, rep.Skipped)
				}
			}
		})
	}
}

// TestVyattaPairMatchesTopology: the addresses the files give each
// interface are the ones the lab assigns, so the files describe the lab's
// routers and not some other pair.
func TestVyattaPairMatchesTopology(t *testing.T) {
	for name, file := range VyattaPair(golden.Dir("lab")) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		f, err := configtree.ParseFile(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		a := routerAddrs[name]
		for dev, want := range map[string]string{"lan0": a.LAN.String(), "wan0": a.WAN.String(), "sync0": a.Sync.String()} {
			n := f.Root.Get("interfaces", "ethernet", dev, "address")
			if n == nil || !slices.Equal(n.Values, []string{want}) {
				t.Errorf("%s: interfaces ethernet %s address = %v, want %s", file, dev, n, want)
			}
		}
	}
}

func TestCheckConfigFiles(t *testing.T) {
	ok := VyattaPair(golden.Dir("lab"))
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error; "" for none
	}{
		{"pair", ok, ""},
		{"r2 missing", map[string]string{"r1": ok["r1"]}, "none for r2"},
		{"no such file", map[string]string{"r1": ok["r1"], "r2": golden.Dir("lab", "nonexistent.boot")}, "config file of r2"},
		{"a directory", map[string]string{"r1": golden.Dir("lab"), "r2": ok["r2"]}, "not a regular file"},
		{"unknown router", map[string]string{"r1": ok["r1"], "r2": ok["r2"], "r3": ok["r1"]}, `no router "r3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkConfigFiles(tt.files)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
