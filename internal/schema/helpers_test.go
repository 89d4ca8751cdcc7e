package schema

import (
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
)

// set applies one `set` path (words split on spaces) to tree, failing the
// test when it does not resolve.
func set(t testing.TB, s *Schema, tree *configtree.Node, words ...string) {
	t.Helper()
	r, err := s.Resolve(words)
	if err != nil {
		t.Fatalf("set %s: %v", strings.Join(words, " "), err)
	}
	r.SetIn(tree)
}

// build makes a tree from `set` lines, one path per line.
func build(t testing.TB, s *Schema, lines ...string) *configtree.Node {
	t.Helper()
	tree := configtree.New()
	for _, l := range lines {
		set(t, s, tree, strings.Fields(l)...)
	}
	return tree
}

// fullConfig is every node of the schema set once, the way a real pair of
// firewalls would be configured.
var fullConfig = []string{
	"service conntrack-sync accept-protocol tcp",
	"service conntrack-sync accept-protocol udp",
	"service conntrack-sync accept-protocol icmp",
	"service conntrack-sync disable-external-cache",
	"service conntrack-sync disable-syslog",
	"service conntrack-sync event-listen-queue-size 16",
	"service conntrack-sync expect-sync ftp",
	"service conntrack-sync expect-sync sip",
	"service conntrack-sync startup-resync",
	"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
	"service conntrack-sync ignore-address 192.0.2.0/24",
	"service conntrack-sync ignore-address 2001:db8::/32",
	"service conntrack-sync ignore-address 198.51.100.7",
	"service conntrack-sync interface eth1 peer 198.18.10.3",
	"service conntrack-sync interface eth1 port 3781",
	"service conntrack-sync listen-address 198.18.10.2",
	"service conntrack-sync mcast-group 225.0.0.51",
	"service conntrack-sync purge-timeout 30",
	"service conntrack-sync sync-queue-size 8",
	"high-availability vrrp global-parameters startup-delay 10",
	"high-availability vrrp global-parameters version 3",
	"high-availability vrrp global-parameters garp interval 0.5",
	"high-availability vrrp group wan interface eth0",
	"high-availability vrrp group wan vrid 1",
	"high-availability vrrp group wan address 198.18.0.101/24",
	"high-availability vrrp group wan address 198.18.1.101/24 interface eth0.10",
	"high-availability vrrp group wan priority 200",
	"high-availability vrrp group wan advertise-interval 2",
	"high-availability vrrp group wan preempt-delay 30",
	"high-availability vrrp group wan peer-address 198.18.0.3",
	"high-availability vrrp group wan hello-source-address 198.18.0.2",
	"high-availability vrrp group wan authentication type plaintext-password",
	"high-availability vrrp group wan authentication password s3cr3t!",
	"high-availability vrrp group wan rfc3768-compatibility",
	"high-availability vrrp group wan track interface eth2",
	"high-availability vrrp group wan track exclude-vrrp-interface",
	"high-availability vrrp group wan garp master-delay 2",
	"high-availability vrrp group wan transition-script master /config/scripts/master.sh",
	"high-availability vrrp group wan description uplink",
	"high-availability vrrp group lan interface eth3",
	"high-availability vrrp group lan vrid 2",
	"high-availability vrrp group lan address 2001:db8:1::1/64",
	"high-availability vrrp group lan no-preempt",
	"high-availability vrrp group lan health-check ping 2001:db8:1::254",
	"high-availability vrrp group lan disable",
	"high-availability vrrp sync-group MAIN-GW member wan",
	"high-availability vrrp sync-group MAIN-GW member lan",
	"high-availability vrrp sync-group MAIN-GW health-check script /usr/local/bin/check-uplink",
	"high-availability vrrp sync-group MAIN-GW health-check interval 5",
	"high-availability vrrp sync-group MAIN-GW transition-script backup /config/scripts/backup.sh",
}
