package transition

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSyncGroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    syncGroup
		wantErr string
	}{
		{"empty", "", syncGroup{}, ""},
		{"configured", `service {
    conntrack-sync {
        failover-mechanism {
            vrrp {
                sync-group MAIN-GW
            }
        }
        interface eth1 {
            peer 192.0.2.2
        }
    }
}`, syncGroup{Configured: true, Group: "MAIN-GW"}, ""},
		{"quoted and commented", `/* saved by ctsync */
service {
    /* the pair's link */ conntrack-sync {
        failover-mechanism { vrrp { sync-group "MAIN GW" } }
    }
}`, syncGroup{Configured: true, Group: "MAIN GW"}, ""},
		{"sync-group elsewhere is not ours", `high-availability {
    vrrp {
        sync-group OTHER {
            member wan
        }
    }
}`, syncGroup{}, ""},
		{"no failover mechanism", "service {\n conntrack-sync {\n  interface eth1 {\n  }\n }\n}\n", syncGroup{Configured: true}, ""},
		{"unbalanced", "service {\n}\n}\n", syncGroup{}, "unbalanced"},
		{"unterminated", "service {\n conntrack-sync {\n", syncGroup{}, "unterminated"},
		{"open quote", "service {\n x 'abc\n}\n", syncGroup{}, "quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSyncGroup(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
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

func FuzzParseSyncGroup(f *testing.F) {
	f.Add("service {\n conntrack-sync {\n  failover-mechanism {\n   vrrp {\n    sync-group A\n   }\n  }\n }\n}\n")
	f.Add("/* c */ a 'b c' {\n}\n")
	f.Add("}")
	f.Fuzz(func(t *testing.T, s string) {
		sg, err := parseSyncGroup(strings.NewReader(s))
		if err == nil && sg.Group != "" && !sg.Configured {
			t.Errorf("group %q without conntrack-sync", sg.Group)
		}
	})
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
