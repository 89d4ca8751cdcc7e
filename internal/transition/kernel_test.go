package transition

import "testing"

func TestParseNetlinkBacklog(t *testing.T) {
	const table = `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
0000000000000001 0   0          00000000 0        0        0     2        0        4
0000000000000002 12  1234       00000007 212992   0        0     2        0        5001
0000000000000003 12  2345       00000000 4096     0        0     2        0        5002
0000000000000004 12  3456       00000007 999      0        0     2        0        5003
0000000000000005 9   4567       00000001 777      0        0     2        0        5004
`
	tests := []struct {
		name   string
		inodes map[string]bool
		want   int
	}{
		{"conntrackd's event socket", map[string]bool{"5001": true}, 212992},
		{"all of its netfilter sockets", map[string]bool{"5001": true, "5002": true}, 217088},
		{"another process's socket is not counted", map[string]bool{"5002": true}, 4096},
		{"audit sockets are not netfilter", map[string]bool{"5004": true}, 0},
		{"none", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetlinkBacklog(table, tt.inodes)
			if err != nil || got != tt.want {
				t.Errorf("parseNetlinkBacklog = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	if _, err := parseNetlinkBacklog("sk Pid\n1 2\n", nil); err == nil {
		t.Error("an unknown header parsed without error")
	}
}

func TestNetlinkBacklogOfThisProcess(t *testing.T) {
	// Any process can read its own table; the test process holds no
	// netfilter socket, so nothing is pending.
	n, err := netlinkBacklog("/proc/self")
	if err != nil || n != 0 {
		t.Errorf("netlinkBacklog(/proc/self) = %d, %v; want 0, nil", n, err)
	}
}
