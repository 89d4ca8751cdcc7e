package session

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/golden"
)

// A VyOS file with failover settings ctsync does not manage is refused,
// naming each; `load FILE force` imports the rest and lists what it
// dropped. What ctsync does manage of it (high-availability disable,
// excluded addresses) is imported either way.
func TestLoadRefusesUnmanagedFailoverSettings(t *testing.T) {
	r := newRig(t)
	s := r.session()
	data, err := os.ReadFile(golden.Dir("migrate", "vyos13-ha-disable.boot"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.root.ConfigDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.root.ConfigDir(), "vyos.boot"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, cmd := range []string{"load", "merge"} {
		_, err = s.Exec(ctx, cmd+" vyos.boot")
		if err == nil {
			t.Fatalf("%s of a file with high-availability virtual-server succeeded", cmd)
		}
		for _, want := range []string{"high-availability virtual-server", "`" + cmd + " vyos.boot force`", "Nothing was loaded."} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s refusal lacks %q:\n%v", cmd, want, err)
			}
		}
		if s.Modified() {
			t.Fatalf("a refused %s changed the candidate", cmd)
		}
	}
	out, err := s.Exec(ctx, "load vyos.boot force")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "dropped (not managed by ctsync, changes failover): high-availability virtual-server") {
		t.Errorf("load force does not list what it dropped:\n%s", out)
	}
	c := s.Candidate()
	if c.Get("high-availability", "disable") == nil || c.Get("high-availability", "vrrp", "group", "WAN", "excluded-address", "203.0.113.10/24") == nil {
		t.Errorf("disable or excluded-address not imported:\n%s", c)
	}
	if c.Get("high-availability", "virtual-server") != nil {
		t.Errorf("virtual-server imported:\n%s", c)
	}
	if _, err := s.Exec(ctx, "load vyos.boot forcefully"); err == nil || !strings.Contains(err.Error(), "usage: load FILE [force]") {
		t.Errorf("load with a bad third word: %v", err)
	}
}
