package conntrack

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/google/go-cmp/cmp"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		args    []string
		want    ctflow.Query
		wantErr bool
	}{
		{args: []string{"ipv4"}, want: ctflow.Query{Family: ctflow.FamilyIPv4}},
		{args: []string{"ipv6", "protocol", "tcp", "source", "2001:db8::/32"}, want: ctflow.Query{
			Family: ctflow.FamilyIPv6, Proto: 6, HasProto: true, Src: netip.MustParsePrefix("2001:db8::/32")}},
		{args: []string{"ipv4", "destination", "198.18.0.1", "port", "7000", "state", "established", "mark", "0x10", "zone", "2"},
			want: ctflow.Query{Family: ctflow.FamilyIPv4, Dst: netip.MustParsePrefix("198.18.0.1/32"), Port: 7000, HasPort: true,
				State: "ESTABLISHED", Mark: 16, HasMark: true, Zone: 2, HasZone: true}},
		{args: []string{"ipv4", "source", "10.1.2.3/8"}, want: ctflow.Query{Family: ctflow.FamilyIPv4, Src: netip.MustParsePrefix("10.0.0.0/8")}},
		{args: nil, wantErr: true},
		{args: []string{"ipx"}, wantErr: true},
		{args: []string{"ipv4", "protocol"}, wantErr: true},
		{args: []string{"ipv4", "protocol", "bogus"}, wantErr: true},
		{args: []string{"ipv4", "source", "2001:db8::1"}, wantErr: true},
		{args: []string{"ipv4", "port", "0"}, wantErr: true},
		{args: []string{"ipv4", "colour", "red"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseQuery(tt.args)
		if tt.wantErr {
			if !errors.Is(err, ErrUsage) {
				t.Errorf("ParseQuery(%q) err = %v, want ErrUsage", tt.args, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tt.args, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("ParseQuery(%q) (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestWriteStatisticsGolden(t *testing.T) {
	st := Statistics{Entries: 41, MaxEntries: 262144, CPUs: []ctflow.CPUStats{
		{CPU: 0, Found: 3, Invalid: 1, Insert: 0, SearchRestart: 12},
		{CPU: 1, Found: 0, Drop: 2, EarlyDrop: 1, ClashResolve: 4},
	}}
	for _, tc := range []struct {
		json bool
		file string
	}{{false, "statistics.txt"}, {true, "statistics.json"}} {
		var b bytes.Buffer
		if err := WriteStatistics(&b, st, tc.json); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, golden.Dir("op-mode", "conntrack", tc.file), b.Bytes())
	}
}
