package schema

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
)

// CheckValue says what `set` says of the same value, at the same path.
func TestCheckValueAgreesWithSet(t *testing.T) {
	s := Default()
	tests := []struct {
		path  []string
		value string
		ok    bool
	}{
		{[]string{"high-availability", "vrrp", "group"}, "wan", true},
		{[]string{"high-availability", "vrrp", "group"}, "bad name", false},
		{[]string{"high-availability", "vrrp", "group", "wan", "vrid"}, "255", true},
		{[]string{"high-availability", "vrrp", "group", "wan", "vrid"}, "256", false},
		{[]string{"high-availability", "vrrp", "global-parameters", "startup-delay"}, "0", false},
		{[]string{"high-availability", "vrrp", "global-parameters", "startup-delay"}, "600", true},
		{[]string{"service", "conntrack-sync", "interface", "eth1", "port"}, "70000", false},
		{[]string{"service", "conntrack-sync", "mcast-group"}, "198.18.0.5", false},
		{[]string{"service", "conntrack-sync", "accept-protocol"}, "tcp", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append(slices.Clone(tt.path), tt.value), " "), func(t *testing.T) {
			err := s.CheckValue(tt.path, tt.value)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckValue = %v, want ok %v", err, tt.ok)
			}
			if tt.ok {
				return
			}
			if p := cfgerr.PathOf(err); !slices.Equal(p, append(slices.Clone(tt.path), tt.value)) {
				t.Errorf("path %q, want the value's", p)
			}
			if serr := s.Set(configtree.New(), append(slices.Clone(tt.path), tt.value)); serr == nil || serr.Error() != err.Error() {
				t.Errorf("CheckValue = %q, set = %v", err, serr)
			}
		})
	}
	if err := s.CheckValue([]string{"service", "no-such-thing"}, "x"); err == nil {
		t.Error("CheckValue of a path outside the schema passed")
	}
}

// A configuration read back has the schema's defaults, and only where
// their parent exists.
func TestReadConfigAddsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "running.boot")
	boot := "service {\n    conntrack-sync {\n        interface eth1 {\n        }\n    }\n}\n"
	if err := os.WriteFile(path, []byte(boot), 0o600); err != nil {
		t.Fatal(err)
	}
	tree, err := Default().ReadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range tree.Paths() {
		got[strings.Join(p[:len(p)-1], " ")] = p[len(p)-1]
	}
	want := map[string]string{
		"service conntrack-sync interface eth1 port":     "3780",
		"service conntrack-sync mcast-group":             "225.0.0.50",
		"service conntrack-sync sync-queue-size":         "1",
		"service conntrack-sync event-listen-queue-size": "8",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("leaves (-want +got):\n%s", d)
	}
	if _, err := Default().ReadConfig(filepath.Join(t.TempDir(), "none")); !os.IsNotExist(err) {
		t.Errorf("ReadConfig of a missing file = %v, want a not-exist error", err)
	}
}
