package configtree

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of a config.boot file. Real configs are a
// dozen levels deep; the bound keeps a hostile file from building a tree
// that later recursion (Format, Diff, Equal) would walk at great depth.
const MaxDepth = 64

// SyntaxError is a config.boot parse error at Line (1-based).
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// File is a whole config.boot: the tree and its footer, the "//" comment
// lines VyOS keeps after the tree (the "vyos-config-version" line among
// them). The footer is kept verbatim, one line each, without newline;
// "//" lines found anywhere in the input are collected into it, in order.
// A "/* ... */" comment before a node is that node's Comment (as VyOS
// writes them); one anywhere else is accepted and dropped.
type File struct {
	Root   *Node
	Footer []string
}

// Parse reads a config.boot and returns its tree, dropping the footer.
// See ParseFile for the format.
func Parse(r io.Reader) (*Node, error) {
	f, err := ParseFile(r)
	if err != nil {
		return nil, err
	}
	return f.Root, nil
}

// ParseFile reads a config.boot. The format is schema-free:
//
//	word {            a container
//	word key {        an entry of the tag node "word"
//	word              a valueless leaf
//	word value        a leaf; repeated, a leaf-list (duplicates dropped)
//
// Words may be quoted with double quotes (\" and \\ escape inside) or
// single quotes (verbatim). Blocks with the same name merge; a name used
// as two different kinds of node is an error. Errors are *SyntaxError,
// naming the line.
func ParseFile(r io.Reader) (*File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return parseString(string(data))
}

func parseString(src string) (*File, error) {
	if err := checkText(src); err != nil {
		return nil, err
	}
	p := &parser{lex: lexer{src: src, line: 1}}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &File{Root: root, Footer: p.lex.footer}, nil
}

// checkText refuses binary input up front, so garbage fails with a
// clear message rather than an odd syntax error somewhere inside it.
func checkText(src string) error {
	if i := strings.IndexByte(src, 0); i >= 0 {
		return &SyntaxError{lineAt(src, i), "NUL byte: not a text file"}
	}
	if !utf8.ValidString(src) {
		for i, r := range src {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(src[i:]); size == 1 {
					return &SyntaxError{lineAt(src, i), "invalid UTF-8: not a text file"}
				}
			}
		}
	}
	return nil
}

func lineAt(src string, off int) int { return 1 + strings.Count(src[:off], "\n") }

type tokKind int

const (
	tEOF tokKind = iota
	tNewline
	tLBrace
	tRBrace
	tWord
	tComment
)

type token struct {
	kind tokKind
	text string
	line int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tNewline:
		return "end of line"
	case tLBrace:
		return `"{"`
	case tRBrace:
		return `"}"`
	}
	return strconv.Quote(t.text)
}

type lexer struct {
	src    string
	pos    int
	line   int
	footer []string
	peeked *token
}

func isBootDelim(c byte) bool { return isSpace(c) || c == '{' || c == '}' }

func (l *lexer) unread(t token) { l.peeked = &t }

func (l *lexer) next() (token, error) {
	if t := l.peeked; t != nil {
		l.peeked = nil
		return *t, nil
	}
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.pos++
			l.line++
			return token{tNewline, "", l.line - 1}, nil
		case isSpace(c):
			l.pos++
		case c == '{':
			l.pos++
			return token{tLBrace, "", l.line}, nil
		case c == '}':
			l.pos++
			return token{tRBrace, "", l.line}, nil
		case strings.HasPrefix(l.src[l.pos:], "//"):
			end := strings.IndexByte(l.src[l.pos:], '\n')
			if end < 0 {
				end = len(l.src) - l.pos
			}
			l.footer = append(l.footer, strings.TrimRight(l.src[l.pos:l.pos+end], " \t\r"))
			l.pos += end // the newline stays: it ends the line as usual
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return token{}, &SyntaxError{l.line, "unterminated /* comment"}
			}
			// A comment written by hand over several lines comes back as
			// one, the only form Format writes.
			text := strings.Join(strings.Fields(l.src[l.pos+2:l.pos+2+end]), " ")
			t := token{tComment, text, l.line}
			l.line += strings.Count(l.src[l.pos:l.pos+2+end], "\n")
			l.pos += end + 4
			return t, nil
		default:
			w, next, err := scanWord(l.src, l.pos, isBootDelim, true)
			if err != nil {
				return token{}, &SyntaxError{lineAt(l.src, err.off), err.msg}
			}
			t := token{tWord, w, l.line}
			l.line += strings.Count(l.src[l.pos:next], "\n")
			l.pos = next
			return t, nil
		}
	}
	return token{tEOF, "", l.line}, nil
}

type parser struct {
	lex lexer
}

// word reads the next token of a statement already begun: a comment in
// the middle of one belongs to no node and is dropped.
func (p *parser) word() (token, error) {
	for {
		t, err := p.lex.next()
		if err != nil || t.kind != tComment {
			return t, err
		}
	}
}

// frame is one open block.
type frame struct {
	node *Node
	line int // of its "{", for the unclosed-block message
	what string
}

// parse builds the tree with an explicit stack, so that nesting depth
// is bounded by MaxDepth and never by the goroutine stack.
func (p *parser) parse() (*Node, error) {
	root := New()
	stack := []frame{{node: root}}
	// comment is the last "/* */" seen before the next statement: it
	// belongs to the node that statement names. A "}" or the end of the
	// file drops it.
	comment := ""
	for {
		t, err := p.lex.next()
		if err != nil {
			return nil, err
		}
		cur := stack[len(stack)-1]
		switch t.kind {
		case tComment:
			comment = t.text
			continue
		case tNewline:
			continue
		case tEOF:
			if len(stack) > 1 {
				return nil, &SyntaxError{t.line, fmt.Sprintf(`unexpected end of file: "{" of %s opened at line %d is not closed`, cur.what, cur.line)}
			}
			return root, nil
		case tRBrace:
			if len(stack) == 1 {
				return nil, &SyntaxError{t.line, `unexpected "}": no block is open`}
			}
			stack = stack[:len(stack)-1]
			comment = ""
			continue
		case tLBrace:
			return nil, &SyntaxError{t.line, `expected a node name, got "{"`}
		}
		name := t.text
		note := comment
		comment = ""
		t2, err := p.word()
		if err != nil {
			return nil, err
		}
		switch t2.kind {
		case tLBrace:
			c, err := container(cur.node, name, t.line)
			if err != nil {
				return nil, err
			}
			setComment(c, note)
			if len(stack) > MaxDepth {
				return nil, &SyntaxError{t.line, fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
			}
			stack = append(stack, frame{c, t.line, quoteBoot(name)})
		case tNewline, tRBrace, tEOF:
			p.lex.unread(t2)
			if err := leaf(cur.node, name, false, "", t.line); err != nil {
				return nil, err
			}
			setComment(cur.node.Child(name), note)
		case tWord:
			t3, err := p.word()
			if err != nil {
				return nil, err
			}
			switch t3.kind {
			case tLBrace:
				e, err := tagEntry(cur.node, name, t2.text, t.line)
				if err != nil {
					return nil, err
				}
				setComment(e, note)
				if len(stack) > MaxDepth {
					return nil, &SyntaxError{t.line, fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
				}
				stack = append(stack, frame{e, t.line, quoteBoot(name) + " " + quoteBoot(t2.text)})
			case tNewline, tRBrace, tEOF:
				p.lex.unread(t3)
				if err := leaf(cur.node, name, true, t2.text, t.line); err != nil {
					return nil, err
				}
				setComment(cur.node.Child(name), note)
			default:
				return nil, &SyntaxError{t3.line, fmt.Sprintf(`expected "{" or end of line after %s %s, got %s`, quoteBoot(name), quoteBoot(t2.text), t3)}
			}
		}
	}
}

// setComment gives n the comment found above it; a later comment of a
// merged block or repeated leaf-list line does not erase an earlier one.
func setComment(n *Node, c string) {
	if c != "" && n != nil {
		n.Comment = c
	}
}

// kind names what a node is, for conflict messages.
func kind(n *Node) string {
	switch {
	case n.Leaf:
		return "a leaf"
	case n.Tag:
		return "a tag node"
	}
	return "a container"
}

func conflict(line int, n *Node, now string) error {
	return &SyntaxError{line, fmt.Sprintf("%s is %s earlier but %s here", quoteBoot(n.Name), kind(n), now)}
}

func container(parent *Node, name string, line int) (*Node, error) {
	if c := parent.Child(name); c != nil && (c.Leaf || c.Tag) {
		return nil, conflict(line, c, "a container")
	}
	return parent.ensure(name), nil
}

func tagEntry(parent *Node, name, key string, line int) (*Node, error) {
	if c := parent.Child(name); c != nil && !c.Tag {
		return nil, conflict(line, c, "a tag node")
	}
	t := parent.ensure(name)
	t.Tag = true
	return t.ensure(key), nil
}

func leaf(parent *Node, name string, hasValue bool, value string, line int) error {
	c := parent.Child(name)
	if c != nil && !c.Leaf {
		return conflict(line, c, "a leaf")
	}
	if c != nil && hasValue != (len(c.Values) > 0) {
		return &SyntaxError{line, fmt.Sprintf("%s is given both with and without a value", quoteBoot(name))}
	}
	c = parent.ensure(name)
	c.Leaf = true
	if hasValue && !slices.Contains(c.Values, value) {
		c.Values = append(c.Values, value)
	}
	return nil
}

// Format writes the node's contents in config.boot form: for the root,
// the whole configuration; a nil node writes nothing. Children come in
// the tree's (sorted) order, leaf-list values in their own order, four
// spaces per level; words are quoted with '"' when they hold anything
// but [A-Za-z0-9._:/@+-]. A tag node with no entries writes nothing.
func (n *Node) Format(w io.Writer) error {
	if n == nil {
		return nil
	}
	bw := bufio.NewWriter(w)
	for _, c := range n.Children {
		writeNode(bw, c, 0)
	}
	return bw.Flush()
}

// String returns Format's output.
func (n *Node) String() string {
	var b strings.Builder
	n.Format(&b) // a strings.Builder never fails
	return b.String()
}

// Format writes the tree and then the footer.
func (f *File) Format(w io.Writer) error {
	bw := bufio.NewWriter(w)
	if f.Root != nil {
		for _, c := range f.Root.Children {
			writeNode(bw, c, 0)
		}
	}
	for _, l := range f.Footer {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

type stringWriter interface {
	WriteString(string) (int, error)
}

// writeNode writes n itself (not only its contents) at depth.
func writeNode(w stringWriter, n *Node, depth int) {
	ind := strings.Repeat("    ", depth)
	name := quoteBoot(n.Name)
	if n.Comment != "" && !n.Tag {
		w.WriteString(ind + "/* " + n.Comment + " */\n")
	}
	switch {
	case n.Leaf && len(n.Values) == 0:
		w.WriteString(ind + name + "\n")
	case n.Leaf:
		for _, v := range n.Values {
			w.WriteString(ind + name + " " + quoteBoot(v) + "\n")
		}
	case n.Tag:
		for _, e := range n.Children {
			if e.Comment != "" {
				w.WriteString(ind + "/* " + e.Comment + " */\n")
			}
			w.WriteString(ind + name + " " + quoteBoot(e.Name) + " {\n")
			for _, c := range e.Children {
				writeNode(w, c, depth+1)
			}
			w.WriteString(ind + "}\n")
		}
	default:
		w.WriteString(ind + name + " {\n")
		for _, c := range n.Children {
			writeNode(w, c, depth+1)
		}
		w.WriteString(ind + "}\n")
	}
}

const (
	footerWarning = "// Warning: Do not remove the following line."
	versionPrefix = "// vyos-config-version: "
)

// VersionFooter returns the footer VyOS writes after a saved config,
// recording each component's schema version ("conntrack-sync@1:vrrp@3",
// components in name order) so a later release can migrate the file.
func VersionFooter(versions map[string]int) []string {
	names := make([]string, 0, len(versions))
	for n := range versions {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "@" + strconv.Itoa(versions[n])
	}
	return []string{footerWarning, versionPrefix + `"` + strings.Join(parts, ":") + `"`}
}

// Versions reads the component versions from the footer's
// "vyos-config-version" line. A file without one (hand-written, or
// saved by something else) has no versions: nil and no error.
func (f *File) Versions() (map[string]int, error) {
	for _, l := range f.Footer {
		rest, ok := strings.CutPrefix(l, versionPrefix)
		if !ok {
			continue
		}
		s, err := strconv.Unquote(rest)
		if err != nil {
			return nil, fmt.Errorf("config version footer %q: not a quoted string", l)
		}
		out := map[string]int{}
		if s == "" {
			return out, nil
		}
		for _, part := range strings.Split(s, ":") {
			name, num, ok := strings.Cut(part, "@")
			v, err := strconv.Atoi(num)
			if !ok || name == "" || err != nil || v < 0 {
				return nil, fmt.Errorf("config version footer %q: %q is not component@version", l, part)
			}
			out[name] = v
		}
		return out, nil
	}
	return nil, nil
}
