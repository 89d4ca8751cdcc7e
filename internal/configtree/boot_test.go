package configtree

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/golden"
)

// The config.boot goldens are in testdata/config.boot: roundtrip/
// (canonical files), normalize/ (NAME.in and its canonical NAME.golden) and
// diff/ (NAME.old, NAME.new and their compare output NAME.golden).

func mustParse(t testing.TB, s string) *Node {
	t.Helper()
	n, err := Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("Parse: %v\ninput:\n%s", err, s)
	}
	return n
}

// Canonical files must come back byte for byte.
func TestRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(golden.Dir("config.boot", "roundtrip", "*.boot"))
	if len(files) == 0 {
		t.Fatalf("no %s", golden.Dir("config.boot", "roundtrip", "*.boot"))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ParseFile(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			var out bytes.Buffer
			if err := f.Format(&out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(in), out.String()); diff != "" {
				t.Errorf("Format(Parse(x)) != x (-want +got):\n%s", diff)
			}
		})
	}
}

// Non-canonical input (comments, CRLF, single quotes, one-line blocks,
// repeated blocks, unsorted nodes) parses to the tree its golden shows.
func TestNormalize(t *testing.T) {
	files, _ := filepath.Glob(golden.Dir("config.boot", "normalize", "*.in"))
	if len(files) == 0 {
		t.Fatalf("no %s", golden.Dir("config.boot", "normalize", "*.in"))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := ParseFile(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			var out bytes.Buffer
			if err := f.Format(&out); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, strings.TrimSuffix(path, ".in")+".golden", out.Bytes())
		})
	}
}

func TestParseStructure(t *testing.T) {
	n := mustParse(t, "a {\n b x {\n }\n b y {\n  c\n }\n d 1\n d 2\n d 1\n e\n f \"\"\n}\n")
	a := n.Get("a")
	if a == nil || a.Tag || a.Leaf {
		t.Fatalf("a: want a container, got %+v", a)
	}
	if b := a.Child("b"); b == nil || !b.Tag || len(b.Children) != 2 {
		t.Errorf("b: want a tag node with 2 entries, got %+v", b)
	}
	if c := n.Get("a", "b", "y", "c"); c == nil || !c.Leaf || c.Values != nil {
		t.Errorf("c: want a valueless leaf, got %+v", c)
	}
	if d := n.Get("a", "d"); d == nil || !d.Leaf || !cmp.Equal(d.Values, []string{"1", "2"}) {
		t.Errorf("d: want leaf-list [1 2], got %+v", d)
	}
	if e := n.Get("a", "e"); e == nil || !e.Leaf || len(e.Values) != 0 {
		t.Errorf("e: want valueless leaf, got %+v", e)
	}
	if f := n.Get("a", "f"); f == nil || !cmp.Equal(f.Values, []string{""}) {
		t.Errorf("f: want one empty value, got %+v", f)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		want     string
	}{
		{"unclosed", "a {\n  b {\n    c 1\n", 4, `"{" of b opened at line 2 is not closed`},
		{"stray close", "a 1\n}\n", 2, `unexpected "}": no block is open`},
		{"lone brace", "a {\n{\n}\n}", 2, `expected a node name, got "{"`},
		{"three words", "a {\n  b c d\n}\n", 2, `expected "{" or end of line after b c, got "d"`},
		{"unterminated double", "a {\n  b \"x\n}\n", 2, `unterminated " quote`},
		{"unterminated single", "a {\n\n  b 'x\n}\n", 3, `unterminated ' quote`},
		{"unterminated comment", "a {\n/* x\n}\n", 2, "unterminated /* comment"},
		{"nul byte", "a {\n b\x00\n}\n", 2, "NUL byte: not a text file"},
		{"invalid utf8", "a\n\n\xff\xfe\n", 3, "invalid UTF-8"},
		{"control char", "a {\n b \x01\n}\n", 2, "unexpected control character 0x01"},
		{"leaf then container", "a 1\na {\n}\n", 2, "a is a leaf earlier but a container here"},
		{"container then leaf", "a {\n}\na\n", 3, "a is a container earlier but a leaf here"},
		{"container then tag", "a {\n}\na b {\n}\n", 3, "a is a container earlier but a tag node here"},
		{"tag then container", "a b {\n}\na {\n}\n", 3, "a is a tag node earlier but a container here"},
		{"valueless then value", "a\na 1\n", 2, "a is given both with and without a value"},
		{"too deep", strings.Repeat("a {\n", MaxDepth+1) + strings.Repeat("}\n", MaxDepth+1), MaxDepth + 1, "nesting deeper than"},
		{"truncated", "service {\n    conntrack-sync {\n        interface eth1 {\n            peer 192.0.2", 4, "is not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("want *SyntaxError, got %v", err)
			}
			if se.Line != tt.line || !strings.Contains(se.Msg, tt.want) {
				t.Errorf("got %q, want line %d containing %q", err, tt.line, tt.want)
			}
		})
	}
}

func TestMaxDepthAccepted(t *testing.T) {
	in := strings.Repeat("a {\n", MaxDepth) + strings.Repeat("}\n", MaxDepth)
	if _, err := Parse(strings.NewReader(in)); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
}

func TestFormatQuoting(t *testing.T) {
	tests := []struct{ value, want string }{
		{"192.0.2.2", "v 192.0.2.2\n"},
		{"2001:db8::1/64", "v 2001:db8::1/64\n"},
		{"a+b@c_d-e", "v a+b@c_d-e\n"},
		{"two words", "v \"two words\"\n"},
		{"", "v \"\"\n"},
		{`back\slash`, `v "back\\slash"` + "\n"},
		{`q"uote`, `v "q\"uote"` + "\n"},
		{"it's", "v \"it's\"\n"},
		{"{", "v \"{\"\n"},
		{"//x", "v \"//x\"\n"},
		{"a//b", "v a//b\n"},
		{"/*x*/", "v \"/*x*/\"\n"},
		{"ünï", "v \"ünï\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			n := New()
			n.Set([]Step{{Name: "v"}}, true, false, true, tt.value)
			got := n.String()
			if got != tt.want {
				t.Fatalf("Format = %q, want %q", got, tt.want)
			}
			back := mustParse(t, got)
			if !Equal(n, back) {
				t.Errorf("Parse(Format) = %q, want %q", back.Get("v").Values, tt.value)
			}
		})
	}
}

func TestVersions(t *testing.T) {
	footer := VersionFooter(map[string]int{"vrrp": 3, "conntrack-sync": 1})
	want := []string{"// Warning: Do not remove the following line.", `// vyos-config-version: "conntrack-sync@1:vrrp@3"`}
	if diff := cmp.Diff(want, footer); diff != "" {
		t.Errorf("VersionFooter (-want +got):\n%s", diff)
	}
	f := &File{Root: mustParse(t, "a 1\n"), Footer: footer}
	var b bytes.Buffer
	if err := f.Format(&b); err != nil {
		t.Fatal(err)
	}
	back, err := ParseFile(&b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := back.Versions()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"vrrp": 3, "conntrack-sync": 1}, v); diff != "" {
		t.Errorf("Versions (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name, line string
		want       map[string]int
		err        bool
	}{
		{"absent", "// just a comment", nil, false},
		{"empty", `// vyos-config-version: ""`, map[string]int{}, false},
		{"unquoted", `// vyos-config-version: a@1`, nil, true},
		{"no at", `// vyos-config-version: "a1"`, nil, true},
		{"bad number", `// vyos-config-version: "a@x"`, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&File{Footer: []string{tt.line}}).Versions()
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"roundtrip/*.boot", "normalize/*.in", "diff/*.new"} {
		files, _ := filepath.Glob(golden.Dir("config.boot", pattern))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(string(b))
		}
	}
	f.Add("a 'b\n")
	f.Add("a {\n")
	f.Add("}\n")
	f.Add("a\x00b")
	f.Add("a \"x\\\"y\" {\n}\n")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		out := n.String()
		back, err := Parse(strings.NewReader(out))
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, out)
		}
		if !Equal(n, back) {
			t.Fatalf("Parse(Format(Parse(x))) != Parse(x)\nfirst:\n%s\nsecond:\n%s", out, back.String())
		}
		if d := Diff(n, back); d != "" {
			t.Fatalf("Diff of a tree and its reparse is not empty:\n%s", d)
		}
		if again := back.String(); again != out {
			t.Fatalf("Format not stable (-first +second):\n%s", cmp.Diff(out, again))
		}
	})
}

// config1000 builds a config of about n lines in the shape of a real one.
func config1000(n int) string {
	var b strings.Builder
	b.WriteString("high-availability {\n    vrrp {\n")
	lines := 2
	for i := 0; lines < n-20; i++ {
		fmt.Fprintf(&b, "        group g%04d {\n            address 198.18.%d.%d/24 {\n            }\n            description \"group number %d\"\n            interface eth%d\n            peer-address 10.0.%d.1\n            peer-address 10.0.%d.2\n            priority 100\n            vrid %d\n        }\n",
			i, i/250, i%250+1, i, i%8, i%250, i%250, i%255+1)
		lines += 10
	}
	b.WriteString("    }\n}\nservice {\n    conntrack-sync {\n        accept-protocol tcp\n        accept-protocol udp\n        interface eth1 {\n            peer 192.0.2.2\n        }\n    }\n}\n")
	return b.String()
}

func BenchmarkParseFormat1000(b *testing.B) {
	in := config1000(1000)
	if got := strings.Count(in, "\n"); got < 990 || got > 1010 {
		b.Fatalf("config has %d lines", got)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		n, err := Parse(strings.NewReader(in))
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Format(&bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
	}
}
