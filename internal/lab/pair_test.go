package lab

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDetectionTimeFor(t *testing.T) {
	tests := []struct {
		advert time.Duration
		prio   int
		want   time.Duration
	}{
		{time.Second, 100, DetectionTime(100)},
		// 0.3 s of adverts plus 156/256 of one.
		{100 * time.Millisecond, 100, 300*time.Millisecond + 60937500*time.Nanosecond},
		{10 * time.Millisecond, 200, 30*time.Millisecond + 2187500*time.Nanosecond},
	}
	for _, tc := range tests {
		if got := DetectionTimeFor(tc.advert, tc.prio); got != tc.want {
			t.Errorf("DetectionTimeFor(%v, %d) = %v, want %v", tc.advert, tc.prio, got, tc.want)
		}
	}
}

func TestVRRPLines(t *testing.T) {
	tests := []struct {
		o    PairOptions
		want []string
	}{
		{PairOptions{}, nil},
		{PairOptions{VRRPVersion: 3, AdvertInterval: 100 * time.Millisecond}, []string{
			"set high-availability vrrp global-parameters version 3",
			"set high-availability vrrp group lan advertise-interval 0.1",
			"set high-availability vrrp group wan advertise-interval 0.1",
		}},
		{PairOptions{AdvertInterval: 2 * time.Second}, []string{
			"set high-availability vrrp group lan advertise-interval 2",
			"set high-availability vrrp group wan advertise-interval 2",
		}},
	}
	for _, tc := range tests {
		tc.o.defaults()
		if diff := cmp.Diff(tc.want, tc.o.vrrpLines()); diff != "" {
			t.Errorf("%+v: (-want +got)\n%s", tc.o, diff)
		}
	}
}

func TestSnmpValue(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 2 64\n" +
		"Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens OutRsts InCsumErrors\n" +
		"Tcp: 1 200 120000 -1 542 209 0\nUdp: InDatagrams\nUdp: 5\n"
	got, err := snmpValue([]byte(snmp), "Tcp", "OutRsts")
	if err != nil || got != 209 {
		t.Errorf("OutRsts = %d, %v; want 209", got, err)
	}
	if _, err := snmpValue([]byte(snmp), "Tcp", "Nope"); err == nil {
		t.Error("a missing counter was found")
	}
	if _, err := snmpValue([]byte("Tcp: OutRsts\n"), "Tcp", "OutRsts"); err == nil {
		t.Error("a header without values was read")
	}
}

func TestDropRuleset(t *testing.T) {
	if got := string(dropRuleset(nil)); got != "table inet ctlab_drop\ndelete table inet ctlab_drop\n" {
		t.Errorf("no drops: %q, want only the table's removal", got)
	}
	rs := string(dropRuleset(map[string][]DropRule{"sync": {
		{Match: `iifname "sync0" meta l4proto udp`},
		{Output: true, Match: `oifname "sync0" meta l4proto udp`},
	}}))
	for _, want := range []string{
		"type filter hook input priority -400; policy accept;\n\t\tiifname \"sync0\" meta l4proto udp counter drop comment \"sync\"\n",
		"type filter hook output priority -400; policy accept;\n\t\toifname \"sync0\" meta l4proto udp counter drop comment \"sync\"\n",
	} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
}
