package conntracksync

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
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
			tree, err := schema.Default().ParseConfig(strings.NewReader(tt.boot))
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
	kaSince := time.Date(2026, 11, 22, 10, 12, 50, 0, time.UTC)
	heard := 0.4
	cfg := &Config{Interfaces: []Iface{{Name: "eth1", Peer: "198.18.10.3", Port: 3780}}, Mode: "unicast", SyncGroup: "MAIN-GW"}
	master := &Status{
		Ready:      true,
		Config:     cfg,
		VRRPState:  "MASTER",
		Transition: &transition.Record{Seq: 3, State: "master", Group: "MAIN-GW", Started: started, Duration: 1130 * time.Millisecond, Committed: 1208, OK: true},
		Conntrackd: Daemon{Running: true, Pid: 4242, Since: &since},
		Keepalived: Daemon{Running: true, Pid: 4240, Since: &kaSince},
		Refill: &transition.RefillRecord{Pid: 4242, StartTicks: 77, Started: since, By: "ctsyncd", Role: transition.RoleMaster,
			Mode: "external-cache", State: transition.RefillDone, Requested: since.Add(time.Second), Attempts: 0,
			Internal: 1208, Finished: since.Add(time.Second)},
		Replication: Replication{Verdict: "healthy", Healthy: true, Detail: "peer heard 0.4 s ago, 0 lost, 0 malformed since conntrackd started",
			PeerHeardSecondsAgo: &heard, Internal: 1208},
	}
	// A backup whose conntrackd was restarted and whose resync the peer
	// has not answered (the sync link drops it): never "healthy".
	restarted := time.Date(2026, 11, 22, 21, 36, 35, 0, time.UTC)
	silent := 4.0
	backup := &Status{
		ReadyReason: "external cache emptied by a conntrackd restart at 21:36:35; resync requested at 21:36:36, 0 entries received (asked 2 times); peer silent: nothing received over the sync link for 4 s",
		Config:      cfg,
		VRRPState:   "BACKUP",
		Transition:  &transition.Record{Seq: 2, State: "backup", Group: "MAIN-GW", Started: started, Duration: 12 * time.Millisecond, OK: true},
		Conntrackd:  Daemon{Running: true, Pid: 5151, Since: &restarted},
		Keepalived:  Daemon{Running: true, Pid: 4240, Since: &kaSince},
		Refill: &transition.RefillRecord{Pid: 5151, StartTicks: 99, Started: restarted, By: "ctsyncd", Role: transition.RoleBackup,
			Mode: "external-cache", State: transition.RefillPending, Requested: restarted.Add(time.Second), Attempts: 2, BaseCreated: 0, BaseRecv: 3},
		Replication: Replication{Verdict: "peer silent", Detail: "nothing received from the peer for 4 s; 0 lost, 0 malformed since conntrackd started",
			PeerHeardSecondsAgo: &silent},
	}
	t.Setenv("TZ", "UTC")
	time.Local = time.UTC
	for _, tc := range []struct {
		st   *Status
		json bool
		file string
	}{{master, false, "status.txt"}, {master, true, "status.json"}, {backup, false, "status-not-ready.txt"}, {backup, true, "status-not-ready.json"}} {
		var b bytes.Buffer
		if err := WriteStatus(&b, tc.st, tc.json); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, golden.Dir("op-mode", "conntrack-sync", tc.file), b.Bytes())
	}
}
