package schema

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/golden"
)

// loadSet builds a tree from a file of `set` paths, one a line, quoted as
// in the shell; '#' starts a comment line.
func loadSet(t testing.TB, s *Schema, file string) *configtree.Node {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tree := configtree.New()
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || line[0] == '#' {
			continue
		}
		words, err := configtree.Tokenize(line)
		if err != nil {
			t.Fatalf("%s: %q: %v", file, line, err)
		}
		set(t, s, tree, words...)
	}
	return tree
}

// TestJSONGolden exports each testdata/json/NAME.set and compares the
// JSON with NAME.json.
func TestJSONGolden(t *testing.T) {
	s := Default()
	inputs, _ := filepath.Glob(golden.Dir("json", "*.set"))
	if len(inputs) == 0 {
		t.Fatal("no inputs")
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			tree := s.WithDefaults(loadSet(t, s, in))
			if err := s.Validate(tree); err != nil {
				t.Fatalf("input does not validate: %v", err)
			}
			got, err := s.MarshalJSON(tree)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, strings.TrimSuffix(in, ".set")+".json", got)
		})
	}
}

func TestJSONShapes(t *testing.T) {
	s := Default()
	tree := build(t, s,
		"service conntrack-sync startup-resync",
		"service conntrack-sync interface eth1 port 80",
		"high-availability vrrp global-parameters garp interval 1.5",
	)
	got, err := s.MarshalJSON(tree)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	for _, l := range strings.Split(string(got), "\n") {
		compact.WriteString(strings.TrimSpace(l))
	}
	want := `{"ctsync-vrrp:high-availability": {"vrrp": {"global-parameters": {"garp": {"interval": "1.5"}}}},` +
		`"ctsync-conntrack-sync:service": {"conntrack-sync": {"interface": [{"name": "eth1","port": 80}],"startup-resync": [null]}}}`
	if diff := cmp.Diff(want, compact.String()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if got, err := s.MarshalJSON(configtree.New()); err != nil || string(got) != "{}" {
		t.Errorf("empty tree: %q, %v", got, err)
	}
	bad := configtree.New()
	bad.Set([]configtree.Step{{Name: "service"}, {Name: "conntrack-sync"}, {Name: "sync-queue-size"}}, true, false, true, "1 }")
	if _, err := s.MarshalJSON(bad); err == nil {
		t.Error("an invalid value was written to JSON")
	}
}

// yanglint returns the path of yanglint, skipping the test when it is
// missing, except in CI where a missing prerequisite is a failure.
func yanglint(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("yanglint")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("yanglint is required in CI (Debian package libyang2-tools): %v", err)
		}
		t.Skip("yanglint not installed (Debian package libyang2-tools)")
	}
	return p
}

func modules(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob("../../schema/*.yang")
	if err != nil || len(m) == 0 {
		t.Fatalf("no modules: %v", err)
	}
	return m
}

// runYanglint runs yanglint and returns its combined output; warnings
// count as failures, so the output must be empty for ok to be true.
func runYanglint(t *testing.T, bin string, args ...string) (out string, ok bool) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	b, err := cmd.CombinedOutput()
	return string(b), err == nil && len(bytes.TrimSpace(b)) == 0
}

func TestYanglintModules(t *testing.T) {
	bin := yanglint(t)
	if out, ok := runYanglint(t, bin, modules(t)...); !ok {
		t.Errorf("yanglint rejects or warns about the modules:\n%s", out)
	}
}

func TestYanglintJSON(t *testing.T) {
	bin := yanglint(t)
	goldens, _ := filepath.Glob(golden.Dir("json", "*.json"))
	if len(goldens) == 0 {
		t.Fatal("no golden JSON files")
	}
	for _, g := range goldens {
		t.Run(filepath.Base(g), func(t *testing.T) {
			args := append([]string{"-t", "config"}, modules(t)...)
			if out, ok := runYanglint(t, bin, append(args, g)...); !ok {
				t.Errorf("yanglint rejects %s:\n%s", g, out)
			}
		})
	}
}

// TestYanglintAgrees checks that libyang and ctsync accept and refuse the
// same values: the YANG patterns are XSD expressions, which ctsync runs
// with Go's regexp, and the IP types add a parse on the Go side.
func TestYanglintAgrees(t *testing.T) {
	bin := yanglint(t)
	s := Default()
	dir := t.TempDir()
	leaves := []struct{ leaf, jsonFmt string }{
		{"description", `{"ctsync-vrrp:high-availability":{"vrrp":{"group":[{"name":"g","interface":"eth0","vrid":1,"address":[{"address":"192.0.2.1/24"}],"description":%s}]}}}`},
		{"authentication password", `{"ctsync-vrrp:high-availability":{"vrrp":{"group":[{"name":"g","interface":"eth0","vrid":1,"address":[{"address":"192.0.2.1/24"}],"authentication":{"password":%s}}]}}}`},
		{"transition-script master", `{"ctsync-vrrp:high-availability":{"vrrp":{"group":[{"name":"g","interface":"eth0","vrid":1,"address":[{"address":"192.0.2.1/24"}],"transition-script":{"master":%s}}]}}}`},
		{"interface", `{"ctsync-vrrp:high-availability":{"vrrp":{"group":[{"name":"g","interface":%s,"vrid":1,"address":[{"address":"192.0.2.1/24"}]}]}}}`},
		{"address", `{"ctsync-vrrp:high-availability":{"vrrp":{"group":[{"name":"g","interface":"eth0","vrid":1,"address":[{"address":%s}]}]}}}`},
		{"hello-source-address", `{"ctsync-vrrp:high-availability":{"vrrp":{"group":[{"name":"g","interface":"eth0","vrid":1,"address":[{"address":"192.0.2.1/24"}],"hello-source-address":%s}]}}}`},
	}
	values := append([]string{
		"uplink", "a b", "s3cr3t!", "12345678", "/usr/bin/x.sh", "/a/b-c+d_e.f", "eth0", "eth0.10", "veth1@if2",
		"192.0.2.1", "192.0.2.1/24", "192.0.2.01", "2001:db8::1", "2001:db8::1/64", "::ffff:192.0.2.1", "1:2:3:4:5:6:7:8",
		"::", "1::2::3", "12345::1", "1:2:3:4:5:6:7:8:9", "::1.2.3", "-x", ".", "~!$%&()*+,-./:<=>?@[]^_`|",
	}, injections...)
	for _, l := range leaves {
		n := s.Lookup(append([]string{"high-availability", "vrrp", "group", "g"}, strings.Fields(l.leaf)...))
		for i, v := range values {
			if strings.ContainsAny(v, "\x00") {
				continue // not representable in a yanglint input file
			}
			goOK := n.ValidateValue(v) == nil
			q, _ := jsonString(v)
			file := filepath.Join(dir, "v.json")
			if err := os.WriteFile(file, []byte(strings.Replace(l.jsonFmt, "%s", q, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"-t", "config"}, modules(t)...), file)
			out, lyOK := runYanglint(t, bin, args...)
			switch {
			case goOK && !lyOK:
				t.Errorf("%s %q (#%d): ctsync accepts, yanglint refuses:\n%s", l.leaf, v, i, out)
			case !goOK && lyOK:
				// Go may be stricter (it parses IP addresses); it must never
				// be looser, or ctsync would export JSON yanglint rejects.
				if !strings.Contains(l.leaf, "address") {
					t.Errorf("%s %q: yanglint accepts, ctsync refuses", l.leaf, v)
				}
			}
		}
	}
}

func jsonString(s string) (string, error) {
	var b bytes.Buffer
	writeString(&b, s)
	return b.String(), nil
}
