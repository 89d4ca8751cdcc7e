package configd

import (
	"bytes"
	"testing"

	"github.com/ctsync/ctsync/internal/golden"
)

// TestRestartedGolden is what `restart conntrack-sync` and `restart vrrp`
// print, as text and with --json: ctsyncd's answer, read back from the
// wire as the commands read it.
func TestRestartedGolden(t *testing.T) {
	for _, c := range []struct {
		family string // the op-mode family's golden folder
		r      Restarted
	}{
		{"conntrack-sync", Restarted{Engine: "conntrackd", Pid: 4242, PreviousPid: 4117}},
		{"vrrp", Restarted{Engine: "keepalived", Pid: 5150, PreviousPid: 5003}},
	} {
		got, err := ParseRestarted(c.r.String())
		if err != nil || got != c.r {
			t.Fatalf("ParseRestarted(%q) = %+v, %v; want %+v", c.r.String(), got, err, c.r)
		}
		for ext, asJSON := range map[string]bool{".txt": false, ".json": true} {
			var b bytes.Buffer
			if err := got.Write(&b, asJSON); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, golden.Dir("op-mode", c.family, "restart"+ext), b.Bytes())
		}
	}
	for _, bad := range []string{"", "restarted", "conntrackd restarted: pid x (was 1)\n", "conntrackd stopped\n"} {
		if r, err := ParseRestarted(bad); err == nil {
			t.Errorf("ParseRestarted(%q) = %+v, want an error", bad, r)
		}
	}
}
