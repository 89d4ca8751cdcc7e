package configtree

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/golden"
)

func readTree(t *testing.T, path string) *Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, string(b))
}

// Each NAME.old + NAME.new pair in testdata/config.boot/diff has its
// compare output in NAME.golden.
func TestDiffGolden(t *testing.T) {
	olds, _ := filepath.Glob(golden.Dir("config.boot", "diff", "*.old"))
	if len(olds) == 0 {
		t.Fatalf("no %s", golden.Dir("config.boot", "diff", "*.old"))
	}
	for _, oldPath := range olds {
		base := strings.TrimSuffix(oldPath, ".old")
		t.Run(filepath.Base(base), func(t *testing.T) {
			old, new := readTree(t, oldPath), readTree(t, base+".new")
			got := Diff(old, new)
			golden.Check(t, base+".golden", []byte(got))
			if (got == "") != Equal(old, new) {
				t.Errorf("Diff empty = %v but Equal = %v", got == "", Equal(old, new))
			}
			// The reverse diff swaps every sign, so it has as many lines.
			if back := Diff(new, old); strings.Count(back, "\n") != strings.Count(got, "\n") {
				t.Errorf("reverse diff has %d lines, forward %d:\n%s", strings.Count(back, "\n"), strings.Count(got, "\n"), back)
			}
		})
	}
}

func TestDiffNil(t *testing.T) {
	n := mustParse(t, "a 1\n")
	if got, want := Diff(nil, n), "[edit]\n+a 1\n"; got != want {
		t.Errorf("Diff(nil, n) = %q, want %q", got, want)
	}
	if got, want := Diff(n, nil), "[edit]\n-a 1\n"; got != want {
		t.Errorf("Diff(n, nil) = %q, want %q", got, want)
	}
	if got := Diff(nil, nil); got != "" {
		t.Errorf("Diff(nil, nil) = %q", got)
	}
}

func TestDiffQuotesHeader(t *testing.T) {
	old := mustParse(t, "a \"b c\" {\n    d 1\n}\n")
	new := mustParse(t, "a \"b c\" {\n    d \"x y\"\n}\n")
	want := "[edit a \"b c\"]\n-d 1\n+d \"x y\"\n"
	if got := Diff(old, new); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestChangedUnder(t *testing.T) {
	base := `high-availability {
    vrrp {
        group wan {
            interface eth0
            vrid 1
        }
    }
}
service {
    conntrack-sync {
        interface eth1 {
        }
    }
}
`
	tests := []struct {
		name string
		new  string
		path []string
		want bool
	}{
		{"same", base, []string{"service", "conntrack-sync"}, false},
		{"other subtree changed", strings.Replace(base, "vrid 1", "vrid 2", 1), []string{"service", "conntrack-sync"}, false},
		{"changed", strings.Replace(base, "vrid 1", "vrid 2", 1), []string{"high-availability", "vrrp"}, true},
		{"changed deep", strings.Replace(base, "vrid 1", "vrid 2", 1), []string{"high-availability"}, true},
		{"added", base + "system {\n    host-name r1\n}\n", []string{"system"}, true},
		{"removed", strings.Replace(base, "        interface eth1 {\n        }\n", "", 1), []string{"service", "conntrack-sync"}, true},
		{"absent both", base, []string{"nothing", "here"}, false},
		{"tag entry key", strings.Replace(base, "eth1", "eth2", 1), []string{"service", "conntrack-sync", "interface"}, true},
	}
	old := mustParse(t, base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ChangedUnder(old, mustParse(t, tt.new), tt.path); got != tt.want {
				t.Errorf("ChangedUnder(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}
