//go:build integration

package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/proc"
)

// Excluded addresses of the lab's groups: one per family, neither in the
// adverts.
var (
	excludedV4 = "198.19.0.150/24"
	excludedV6 = "2001:db8:19::150/64"
)

// keepalivedIn lists the keepalived processes running in a namespace.
func keepalivedIn(ns string) []int {
	var out []int
	for _, pid := range proc.NetnsPids(ns) {
		if argv := proc.Argv(pid); len(argv) > 0 && filepath.Base(argv[0]) == "keepalived" {
			out = append(out, pid)
		}
	}
	return out
}

// holds reports whether a router has addr (ADDR/LEN) on dev.
func holds(ctx context.Context, p *Pair, router, dev, addr string) (bool, error) {
	out, err := p.run.Run(ctx, nil, "ip", "-n", p.NS(router), "-o", "addr", "show", "dev", dev)
	if err != nil {
		return false, err
	}
	return strings.Contains(string(out), " "+addr+" "), nil
}

// vyos13Boot is r's lab configuration as VyOS 1.3 saves it, with
// virtual-address-excluded and, if disabled, high-availability disable.
func vyos13Boot(r *Router, disabled bool) string {
	dis := ""
	if disabled {
		dis = "    disable\n"
	}
	return fmt.Sprintf(`high-availability {
%s    vrrp {
        group lan {
            interface lan0
            priority %[2]d
            virtual-address %[3]s/%[4]d
            vrid 10
        }
        group wan {
            interface wan0
            priority %[2]d
            virtual-address %[5]s/%[6]d
            virtual-address-excluded %[7]s
            virtual-address-excluded %[8]s
            vrid 20
        }
        sync-group MAIN {
            member lan
            member wan
        }
    }
}
service {
    conntrack-sync {
        accept-protocol tcp
        failover-mechanism {
            vrrp {
                sync-group MAIN
            }
        }
        interface sync0 {
            peer %[9]s
        }
    }
}
// Warning: Do not remove the following line.
// vyos-config-version: "conntrack-sync@2:vrrp@2"
// Release version: 1.3.4
`, dis, r.Priority, LANVIP, LANPrefix.Bits(), WANVIP, WANPrefix.Bits(), excludedV4, excludedV6, r.Peer)
}

// TestVyOSNodesThatChangeBehaviour is issue 11's claim for the two VyOS
// nodes a quiet import used to drop, on one lab pair with real engines:
// a VyOS 1.3 config.boot loaded on r2 with high-availability disable
// commits, keeps the configuration and runs no keepalived (r1 stays
// master, nothing fails over to r2); loaded without it, keepalived runs
// again, and the excluded addresses (virtual-address-excluded, one of
// each family) move with the group at failover and back.
func TestVyOSNodesThatChangeBehaviour(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := startPair(t, ctx, PairOptions{})
	r1, r2 := p.Router("r1"), p.Router("r2")

	load := func(r *Router, disabled bool) string {
		t.Helper()
		f := filepath.Join(t.TempDir(), fmt.Sprintf("vyos13-%s-%v.boot", r.Name, disabled))
		if err := os.WriteFile(f, []byte(vyos13Boot(r, disabled)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := r.LoadConfig(ctx, f)
		if err != nil {
			t.Fatalf("%s: load + commit: %v\n%s", r.Name, err, out)
		}
		t.Logf("%s: load + commit:\n%s", r.Name, out)
		return out
	}

	t.Run("disable", func(t *testing.T) {
		out := load(r2, true)
		if !strings.Contains(out, "keepalived stopped: high-availability disable") {
			t.Errorf("commit does not say keepalived stopped for high-availability disable:\n%s", out)
		}
		if pids := keepalivedIn(r2.NS); len(pids) != 0 {
			t.Errorf("keepalived runs on r2 with high-availability disable: pids %v", pids)
		}
		if _, err := os.Stat(r2.Root.KeepalivedConf()); !os.IsNotExist(err) {
			t.Errorf("keepalived.conf is there with high-availability disable: %v", err)
		}
		show, err := r2.Show(ctx, "configuration")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"disable", "group wan", "excluded-address " + excludedV4} {
			if !strings.Contains(show, want) {
				t.Errorf("running configuration lacks %q:\n%s", want, show)
			}
		}
		// A backup that runs no VRRP never takes the addresses, even
		// after longer than a detection time.
		time.Sleep(DetectionTime(R2Priority) + time.Second)
		if err := p.WaitMaster(ctx, "r1", time.Second); err != nil {
			t.Error(err)
		}
	})

	t.Run("excluded addresses move", func(t *testing.T) {
		load(r2, false)
		if pids := keepalivedIn(r2.NS); len(pids) == 0 {
			t.Fatal("keepalived does not run on r2 once high-availability disable is gone")
		}
		load(r1, false)
		if err := p.WaitMaster(ctx, "r1", 20*time.Second); err != nil {
			t.Fatal(err)
		}
		check := func(master string) {
			t.Helper()
			for _, a := range []string{excludedV4, excludedV6} {
				deadline := time.Now().Add(5 * time.Second)
				for {
					on, err := holds(ctx, p, master, "wan0", a)
					if err != nil {
						t.Fatal(err)
					}
					off, err := holds(ctx, p, Other(master), "wan0", a)
					if err != nil {
						t.Fatal(err)
					}
					if on && !off {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("excluded address %s: on %s %v, on %s %v; want only on the master %s", a, master, on, Other(master), off, master)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		check("r1")
		if _, err := p.Failover(ctx); err != nil {
			t.Fatal(err)
		}
		check("r2")
		if _, err := p.Failback(ctx); err != nil {
			t.Fatal(err)
		}
		check("r1")
	})
}
