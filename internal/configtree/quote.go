package configtree

import (
	"fmt"
	"strings"
)

// isSafe reports whether c may appear in a word written without quotes.
// The set is VyOS's: anything else (spaces, braces, quotes, non-ASCII)
// forces quoting so the word reads back as one token.
func isSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._:/@+-", c) >= 0
}

// needsQuote reports whether s must be quoted to read back as itself.
// A leading "//" would otherwise start a config.boot comment.
func needsQuote(s string) bool {
	if s == "" || strings.HasPrefix(s, "//") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if !isSafe(s[i]) {
			return true
		}
	}
	return false
}

// quoteDouble quotes s with '"', escaping the only two characters that
// are special inside double quotes.
func quoteDouble(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// quoteBoot renders a word for config.boot, where VyOS always uses '"'.
func quoteBoot(s string) string {
	if !needsQuote(s) {
		return s
	}
	return quoteDouble(s)
}

// Quote renders s as one word of a set command, quoted only when needed.
// Single quotes are preferred because nothing is special inside them;
// a word that itself holds a single quote falls back to double quotes.
// Tokenize(Quote(s)) returns exactly s.
func Quote(s string) string {
	if !needsQuote(s) {
		return s
	}
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return quoteDouble(s)
}

// scanError is a lexing problem at a byte offset of the input.
type scanError struct {
	off int
	msg string
}

// scanWord reads one word of s starting at i and returns it with the
// offset just past it. The word ends at an unquoted byte for which delim
// is true. Quoted parts are joined to their unquoted neighbours as a
// shell does: a'b c'd is the one word "ab cd". With strict, control
// characters outside quotes are refused (config.boot is text; a command
// line is checked later by the schema).
func scanWord(s string, i int, delim func(byte) bool, strict bool) (string, int, *scanError) {
	start := i
	// Fast path: a plain word is returned as a substring, no copy.
	for i < len(s) && !delim(s[i]) && s[i] != '\'' && s[i] != '"' {
		if strict && isControl(s[i]) {
			return "", i, &scanError{i, fmt.Sprintf("unexpected control character %#02x", s[i])}
		}
		i++
	}
	if i == len(s) || delim(s[i]) {
		return s[start:i], i, nil
	}
	var b strings.Builder
	b.WriteString(s[start:i])
	for i < len(s) && !delim(s[i]) {
		switch c := s[i]; c {
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", i, &scanError{i, "unterminated ' quote"}
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 2
		case '"':
			open := i
			i++
			for {
				if i >= len(s) {
					return "", open, &scanError{open, `unterminated " quote`}
				}
				c := s[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					c = s[i+1]
					i++
				}
				b.WriteByte(c)
				i++
			}
		default:
			if strict && isControl(c) {
				return "", i, &scanError{i, fmt.Sprintf("unexpected control character %#02x", c)}
			}
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i, nil
}

func isControl(c byte) bool { return c < 0x20 || c == 0x7f }

// isSpace is a word separator on a command line.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// Tokenize splits a command line into words, VyOS style: words are
// separated by whitespace; '...' keeps its content verbatim; "..." does
// too, except that \" and \\ stand for " and \; a backslash anywhere else
// is an ordinary character. Quotes are removed, and quoted parts join
// their unquoted neighbours into one word. An unterminated quote is an
// error naming its column (1-based).
func Tokenize(line string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return words, nil
		}
		w, next, err := scanWord(line, i, isSpace, false)
		if err != nil {
			return nil, fmt.Errorf("column %d: %s", err.off+1, err.msg)
		}
		words = append(words, w)
		i = next
	}
}
