package conntracksync

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
	"github.com/google/go-cmp/cmp"
)

func TestConfigFromTree(t *testing.T) {
	tests := []struct {
		name, boot string
		want       *Config
		err        error
	}{
		{"absent", "system {\n    host-name r1\n}\n", nil, ErrNotConfigured},
		{"unicast", `service {
    conntrack-sync {
        expect-sync all
        failover-mechanism {
            vrrp {
                sync-group MAIN-GW
            }
        }
        interface eth1 {
            peer 198.18.10.3
            port 3781
        }
    }
}
`, &Config{Interfaces: []Iface{{Name: "eth1", Peer: "198.18.10.3", Port: 3781}}, Mode: "unicast", SyncGroup: "MAIN-GW", ExpectSync: true}, nil},
		{"multicast", `service {
    conntrack-sync {
        disable-external-cache
        failover-mechanism {
            vrrp {
                sync-group G
            }
        }
        interface eth1 {
        }
        interface eth2 {
        }
    }
}
`, &Config{Interfaces: []Iface{{Name: "eth1", Port: 3780}, {Name: "eth2", Port: 3780}}, Mode: "multicast", McastGroup: "225.0.0.50", SyncGroup: "G", DisableExternalCache: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree, err := configtree.Parse(strings.NewReader(tt.boot))
			if err != nil {
				t.Fatal(err)
			}
			got, err := configFromTree(tree)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoRunningConfig(t *testing.T) {
	if _, err := LoadConfig(paths.Root{Dir: t.TempDir()}); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("err = %v, want ErrNotConfigured", err)
	}
}

func TestEngineNotRunning(t *testing.T) {
	if _, err := engine(paths.Root{Dir: t.TempDir()}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("err = %v, want ErrNotRunning", err)
	}
}

func TestCacheCode(t *testing.T) {
	tests := []struct {
		args []string
		want int32
	}{
		{[]string{"internal"}, conntrackd.DumpInternalXML},
		{[]string{"external", "main"}, conntrackd.DumpExternalXML},
		{[]string{"internal", "expect"}, conntrackd.DumpInternalExpXML},
		{[]string{"external", "expect"}, conntrackd.DumpExternalExpXML},
		{[]string{"both"}, -1},
		{nil, -1},
		{[]string{"internal", "main", "x"}, -1},
	}
	for _, tt := range tests {
		got, err := CacheCode(tt.args)
		if tt.want < 0 {
			if !errors.Is(err, ErrUsage) {
				t.Errorf("CacheCode(%q) err = %v", tt.args, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CacheCode(%q) = %d, %v; want %d", tt.args, got, err, tt.want)
		}
	}
}

func TestWriteStatusGolden(t *testing.T) {
	started := time.Date(2026, 11, 22, 10, 14, 3, 0, time.UTC)
	since := time.Date(2026, 11, 22, 10, 12, 51, 0, time.UTC)
	heard := 0.4
	st := &Status{
		Config:     &Config{Interfaces: []Iface{{Name: "eth1", Peer: "198.18.10.3", Port: 3780}}, Mode: "unicast", SyncGroup: "MAIN-GW"},
		VRRPState:  "MASTER",
		Transition: &transition.Record{Seq: 3, State: "master", Group: "MAIN-GW", Started: started, Duration: 1130 * time.Millisecond, Committed: 1208, OK: true},
		Conntrackd: Daemon{Running: true, Pid: 4242, Since: &since},
		Replication: Replication{Verdict: "healthy", Healthy: true, Detail: "peer heard within 0.4 s, 0 lost, 0 malformed since conntrackd started",
			PeerHeardSeconds: &heard, Internal: 1208},
	}
	t.Setenv("TZ", "UTC")
	time.Local = time.UTC
	for _, tc := range []struct {
		json bool
		file string
	}{{false, "status.txt"}, {true, "status.json"}} {
		var b bytes.Buffer
		if err := WriteStatus(&b, st, tc.json); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, golden.Dir("op-mode", "conntrack-sync", tc.file), b.Bytes())
	}
}
