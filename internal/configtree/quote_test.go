package configtree

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: "   \t ", want: nil},
		{in: "set service conntrack-sync interface eth1 peer 192.0.2.2",
			want: []string{"set", "service", "conntrack-sync", "interface", "eth1", "peer", "192.0.2.2"}},
		{in: "  set\tx   y  ", want: []string{"set", "x", "y"}},
		{in: `set description 'two  words'`, want: []string{"set", "description", "two  words"}},
		{in: `set description "two  words"`, want: []string{"set", "description", "two  words"}},
		{in: `x ''`, want: []string{"x", ""}},
		{in: `x ""`, want: []string{"x", ""}},
		{in: `x 'a\b'`, want: []string{"x", `a\b`}},
		{in: `x 'a\'`, want: []string{"x", `a\`}},
		{in: `x "a\"b"`, want: []string{"x", `a"b`}},
		{in: `x "a\\b"`, want: []string{"x", `a\b`}},
		{in: `x "a\nb"`, want: []string{"x", `a\nb`}},
		{in: `x "it's"`, want: []string{"x", "it's"}},
		{in: `x 'say "hi"'`, want: []string{"x", `say "hi"`}},
		{in: `x a\ b`, want: []string{"x", `a\`, "b"}},
		{in: `x a'b c'd`, want: []string{"x", "ab cd"}},
		{in: `x {}`, want: []string{"x", "{}"}},
		{in: "x 'line\nbreak'", want: []string{"x", "line\nbreak"}},
		{in: `x 'abc`, wantErr: "column 3: unterminated ' quote"},
		{in: `x "abc`, wantErr: `column 3: unterminated " quote`},
		{in: `x "abc\"`, wantErr: `column 3: unterminated " quote`},
		{in: `x 'a' "b`, wantErr: `column 7: unterminated " quote`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Tokenize(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"eth1", "eth1"},
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"", "''"},
		{"two words", "'two words'"},
		{`a"b`, `'a"b'`},
		{"it's", `"it's"`},
		{`it's "x" \`, `"it's \"x\" \\"`},
		{"//x", "'//x'"},
	}
	for _, tt := range tests {
		if got := Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
		back, err := Tokenize(Quote(tt.in))
		if err != nil || len(back) != 1 || back[0] != tt.in {
			t.Errorf("Tokenize(Quote(%q)) = %q, %v", tt.in, back, err)
		}
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{
		"set service conntrack-sync interface eth1 peer 192.0.2.2",
		`set x 'a b' "c \"d\" \\" e\f`,
		`x a'b c'd ''`,
		`x "unterminated`,
		"x\t'multi\nline'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Tokenize(line)
		if err != nil {
			return
		}
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = Quote(w)
		}
		again, err := Tokenize(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("re-quoted line %q does not tokenize: %v", strings.Join(quoted, " "), err)
		}
		if !cmp.Equal(words, again) {
			t.Fatalf("round trip (-first +second):\n%s", cmp.Diff(words, again))
		}
	})
}
