package vrrp

import (
	"strings"
	"testing"
)

// FuzzRender feeds arbitrary values into every string that reaches
// keepalived.conf. Whatever Render accepts must keep the file's structure:
// quotes paired on each line, braces balanced, no comment characters
// outside quotes, and one directive per line.
func FuzzRender(f *testing.F) {
	f.Add("wan", "eth0", "198.18.0.101/24", "secret", "/usr/bin/true", "198.18.0.3", "MAIN-GW", "0.5")
	f.Add("a b", "eth0 {", "10.0.0.1/8\n}", `pa"ss`, "/x y", "::1", "S#1", "1e3")
	f.Add("g", "eth0", "2001:db8::1/64", "!$%&", "/a/b+c", "2001:db8::2", "x.y_z-1", "")
	f.Fuzz(func(t *testing.T, name, iface, addr, pass, script, peer, sync, garpInterval string) {
		cfg := &Config{
			Group: map[string]*Group{name: {
				Interface: iface, VRID: 1, Priority: 100, AdvertiseInterval: "1",
				Address:          map[string]*Address{addr: {Interface: iface}},
				ExcludedAddress:  map[string]*Address{addr: {Interface: iface}},
				Authentication:   &Authentication{Type: "plaintext-password", Password: pass},
				PeerAddress:      []string{peer},
				Track:            &Track{Interface: []string{iface}},
				TransitionScript: &TransitionScript{Master: script},
				Garp:             &Garp{Interval: garpInterval},
				HealthCheck:      &HealthCheck{Script: script, Interval: 1, FailureCount: 1},
			}},
			SyncGroup:     map[string]*SyncGroup{sync: {Member: []string{name}}},
			ConntrackSync: true,
			HookGroup:     sync,
		}
		out, err := Render(cfg, testEnv())
		if err != nil {
			return
		}
		depth := 0
		for i, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			if strings.Count(l, `"`)%2 != 0 {
				t.Fatalf("line %d has an unpaired quote: %q", i+1, l)
			}
			bare := l
			if q := strings.Index(l, `"`); q >= 0 {
				bare = l[:q] + l[strings.LastIndex(l, `"`)+1:]
			}
			if strings.ContainsAny(bare, "#!;") {
				t.Fatalf("line %d has a comment character outside quotes: %q", i+1, l)
			}
			depth += strings.Count(bare, "{") - strings.Count(bare, "}")
			if depth < 0 || strings.Count(bare, "{")+strings.Count(bare, "}") > 1 {
				t.Fatalf("line %d breaks the block structure: %q", i+1, l)
			}
		}
		if depth != 0 {
			t.Fatalf("unbalanced braces:\n%s", out)
		}
	})
}

// FuzzProblems: the keepalived -t output parser never reports a benign
// line and never loses a non-empty one.
func FuzzProblems(f *testing.F) {
	f.Add("Sync group X has only 1 virtual router(s) - this probably isn't what you want\n")
	f.Add("(wan) Ignoring track_interface eth0 since own interface\n(t.conf: Line 1) Unknown keyword 'x'")
	f.Add("")
	f.Fuzz(func(t *testing.T, out string) {
		bad := problems(out)
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) != "" {
				n++
			}
		}
		if len(bad) > n {
			t.Fatalf("%d problems from %d lines", len(bad), n)
		}
		for _, b := range bad {
			for _, re := range benign {
				if re.MatchString(b) {
					t.Fatalf("benign line reported: %q", b)
				}
			}
		}
	})
}

// FuzzAdvertCentis: whatever advertCentis accepts is 0.01-255 s, and
// keepalived's spelling of it parses back to the same value.
func FuzzAdvertCentis(f *testing.F) {
	for _, s := range []string{"1", "0.1", "0.01", "255", "2.50", "0.001", "256", "1e2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := advertCentis(s)
		if err != nil {
			return
		}
		if c < 1 || c > 25500 {
			t.Fatalf("advertCentis(%q) = %d, outside 1-25500", s, c)
		}
		out := formatCentis(c)
		if back, err := advertCentis(out); err != nil || back != c {
			t.Fatalf("formatCentis(%d) = %q parses to %d, %v", c, out, back, err)
		}
	})
}
