package transition

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadFacts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "failover.json")
	if f, err := readFacts(path); err != nil || f != nil {
		t.Fatalf("missing facts file: %+v, %v; want not configured", f, err)
	}
	for _, want := range []Facts{
		{SyncGroup: "MAIN-GW"},
		{SyncGroup: "MAIN-GW", DisableExternalCache: true, ExpectSync: true},
	} {
		if err := os.WriteFile(path, EncodeFacts(want), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readFacts(path)
		if err != nil || got == nil {
			t.Fatalf("readFacts = %v, %v", got, err)
		}
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("facts (-want +got):\n%s", diff)
		}
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readFacts(path); err == nil {
		t.Fatal("a corrupt facts file was accepted: the hook must not guess")
	}
}

// statsText is a statistics reply in conntrackd 1.4.7's layout (see
// testdata/conntrackd-replies), with or without the external cache.
func statsText(internal, external int, withExternal bool) string {
	return statsTextDestroyed(internal, external, 0, withExternal)
}

// statsTextDestroyed is statsText with destroyed entries of the external
// cache counted.
func statsTextDestroyed(internal, external, destroyed int, withExternal bool) string {
	cache := func(name string, n, d int) string {
		return fmt.Sprintf("cache %s:\ncurrent active connections:\t%12d\n"+
			"connections created:\t\t%12d\tfailed:\t%12d\n"+
			"connections updated:\t\t%12d\tfailed:\t%12d\n"+
			"connections destroyed:\t\t%12d\tfailed:\t%12d\n\n", name, n, n+d, 0, 0, 0, d, 0)
	}
	s := cache("internal", internal, 0)
	if withExternal {
		s += cache("external", external, destroyed)
	}
	return s + "traffic processed:\n                   0 Bytes                         0 Pckts\n"
}

func TestParseStats(t *testing.T) {
	real := statsText(500, 1234, true)
	tests := []struct {
		name    string
		in      string
		want    cacheCounts
		wantErr bool
	}{
		{"both caches", real, cacheCounts{Internal: 500, External: 1234, HasExternal: true}, false},
		{"no external cache", statsText(3, 0, false), cacheCounts{Internal: 3}, false},
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

func FuzzParseStats(f *testing.F) {
	f.Add([]byte(statsText(1, 2, true)))
	f.Add([]byte("current active connections: -1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cc, err := parseStats(b)
		if err == nil && (cc.Internal < 0 || cc.External < 0) {
			t.Errorf("negative count %+v", cc)
		}
	})
}
