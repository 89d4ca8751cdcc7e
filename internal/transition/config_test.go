package transition

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadSyncGroupFromFacts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "failover.json")
	if sg, err := readSyncGroup(path); err != nil || sg.Configured {
		t.Fatalf("missing facts file: %+v, %v; want not configured", sg, err)
	}
	if err := os.WriteFile(path, EncodeFacts(Facts{SyncGroup: "MAIN-GW"}), 0o644); err != nil {
		t.Fatal(err)
	}
	sg, err := readSyncGroup(path)
	if err != nil || !sg.Configured || sg.Group != "MAIN-GW" {
		t.Fatalf("readSyncGroup = %+v, %v; want MAIN-GW", sg, err)
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readSyncGroup(path); err == nil {
		t.Fatal("a corrupt facts file was accepted: the hook must not guess")
	}
}

func TestParseDaemonConf(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want daemonConf
	}{
		{"defaults", "Sync {\n Mode FTFW {\n }\n}\nGeneral {\n}\n", daemonConf{}},
		{"vyos-like", `# Generated
Sync {
	Mode FTFW {
		DisableExternalCache on
		StartupResync off
	}
	UDP {
		IPv4_address 192.0.2.1
		Port 3780
	}
	Options {
		ExpectationSync on
	}
}
General {
	LockFile /r/run/ctsync/conntrackd.lock
	UNIX {
		Path /r/run/ctsync/conntrackd.ctl
	}
	Filter From Userspace {
		Address Ignore {
			IPv4_address 127.0.0.1
		}
	}
}`, daemonConf{Socket: "/r/run/ctsync/conntrackd.ctl", LockFile: "/r/run/ctsync/conntrackd.lock", DisableExternalCache: true, ExpectSync: true}},
		{"expectation helpers", "Sync {\n Options {\n  ExpectationSync {\n   ftp\n   sip\n  }\n }\n}\n", daemonConf{ExpectSync: true}},
		{"one line", "General { UNIX { Path /x } LockFile /l }", daemonConf{Socket: "/x", LockFile: "/l"}},
		{"keys outside their block are ignored", "Path /x\nDisableExternalCache on\n", daemonConf{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDaemonConf(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStats(t *testing.T) {
	real := "cache internal:\ncurrent active connections:\t         500\nconnections created:\t\t         500\tfailed:\t           0\n\n" +
		"cache external:\ncurrent active connections:\t        1234\nconnections created:\t\t        1234\tfailed:\t           0\n\n" +
		"traffic processed:\n                   0 Bytes                         0 Pckts\n"
	tests := []struct {
		name    string
		in      string
		want    cacheCounts
		wantErr bool
	}{
		{"both caches", real, cacheCounts{Internal: 500, External: 1234, HasExternal: true}, false},
		{"no external cache", "cache internal:\ncurrent active connections:\t 3\n", cacheCounts{Internal: 3}, false},
		{"empty reply", "", cacheCounts{}, true},
		{"garbage count", "cache external:\ncurrent active connections: lots\n", cacheCounts{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStats([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseDaemonConf(f *testing.F) {
	f.Add("General {\n UNIX {\n  Path /x\n }\n}\n")
	f.Add("Sync { Mode FTFW { DisableExternalCache on } Options { ExpectationSync { ftp } } }")
	f.Add("{")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseDaemonConf(strings.NewReader(s))
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add([]byte("cache internal:\ncurrent active connections:\t 1\n\ncache external:\ncurrent active connections:\t 2\n"))
	f.Add([]byte("current active connections: -1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cc, err := parseStats(b)
		if err == nil && (cc.Internal < 0 || cc.External < 0) {
			t.Errorf("negative count %+v", cc)
		}
	})
}
