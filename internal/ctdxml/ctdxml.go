// Package ctdxml reads conntrackd's XML cache dumps (conntrackd -i -x,
// -e -x; control codes 24, 25, 47, 48). conntrackd writes one <flow>
// element per line, so a dump is decoded line by line as it streams from
// the socket, into a reused ctflow.Flow, without building a document.
package ctdxml

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"

	"github.com/ctsync/ctsync/internal/ctflow"
)

// ErrMalformed reports a line that is not one well-formed <flow>.
var ErrMalformed = errors.New("malformed conntrackd XML flow")

// Scan reads flows from r and calls fn for each; the *Flow is reused.
// Blank lines are skipped; a malformed line stops the scan with its line
// number.
func Scan(r io.Reader, fn func(*ctflow.Flow) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var f ctflow.Flow
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := ParseLine(line, &f); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if err := fn(&f); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading conntrackd XML dump: %w", err)
	}
	return nil
}

// ParseLine decodes one <flow>...</flow> line into f.
func ParseLine(line []byte, f *ctflow.Flow) error {
	*f = ctflow.Flow{}
	if !bytes.HasPrefix(line, []byte("<flow>")) || !bytes.HasSuffix(line, []byte("</flow>")) {
		return fmt.Errorf("%w: not a <flow> element", ErrMalformed)
	}
	var (
		t        *ctflow.Tuple // current direction's tuple; nil for "independent"
		meta     bool
		state    string
		assured  bool
		replied  = true
		l3family uint8
	)
	b := line[len("<flow>") : len(line)-len("</flow>")]
	for len(b) > 0 {
		if b[0] != '<' {
			return fmt.Errorf("%w: text outside an element", ErrMalformed)
		}
		end := bytes.IndexByte(b, '>')
		if end < 0 {
			return fmt.Errorf("%w: unterminated tag", ErrMalformed)
		}
		tag := b[1:end]
		b = b[end+1:]
		if len(tag) > 0 && tag[0] == '/' {
			if string(tag) == "/meta" {
				meta, t = false, nil
			}
			continue
		}
		selfClosing := len(tag) > 0 && tag[len(tag)-1] == '/'
		if selfClosing {
			tag = tag[:len(tag)-1]
		}
		name, attrs, _ := bytes.Cut(tag, []byte(" "))
		var text []byte
		if !selfClosing && isLeaf(name) {
			i := bytes.IndexByte(b, '<')
			if i < 0 {
				return fmt.Errorf("%w: unterminated <%s>", ErrMalformed, name)
			}
			text, b = b[:i], b[i:]
			close := "</" + string(name) + ">"
			if !bytes.HasPrefix(b, []byte(close)) {
				return fmt.Errorf("%w: <%s> not closed", ErrMalformed, name)
			}
			b = b[len(close):]
		}
		switch string(name) {
		case "meta":
			meta = true
			switch string(attr(attrs, "direction")) {
			case "original":
				t = &f.Orig
			case "reply":
				t = &f.Reply
			default:
				t = nil
			}
		case "layer3":
			if t == &f.Orig {
				n, _ := strconv.ParseUint(string(attr(attrs, "protonum")), 10, 8)
				l3family = uint8(n)
			}
		case "layer4":
			if t != nil {
				n, err := strconv.ParseUint(string(attr(attrs, "protonum")), 10, 8)
				if err != nil {
					return fmt.Errorf("%w: layer4 protonum", ErrMalformed)
				}
				t.Proto = uint8(n)
			}
		case "src", "dst":
			if t == nil || len(text) == 0 {
				break
			}
			a, err := netip.ParseAddr(string(text))
			if err != nil {
				return fmt.Errorf("%w: address %q", ErrMalformed, text)
			}
			if name[0] == 's' {
				t.Src = a
			} else {
				t.Dst = a
			}
		case "sport", "dport":
			if t == nil {
				break
			}
			n, err := strconv.ParseUint(string(text), 10, 16)
			if err != nil {
				return fmt.Errorf("%w: port %q", ErrMalformed, text)
			}
			if name[0] == 's' {
				t.SrcPort = uint16(n)
			} else {
				t.DstPort = uint16(n)
			}
		case "state":
			state = string(text)
		case "mark", "id", "timeout", "use", "zone":
			n, err := strconv.ParseUint(string(text), 10, 32)
			if err != nil {
				return fmt.Errorf("%w: %s %q", ErrMalformed, name, text)
			}
			switch name[0] {
			case 'm':
				f.Mark = uint32(n)
			case 'i':
				f.ID = uint32(n)
			case 't':
				f.Timeout = uint32(n)
			case 'u':
				f.Use = uint32(n)
			case 'z':
				f.Zone = uint16(n)
			}
		case "assured":
			assured = true
		case "unreplied":
			replied = false
		}
	}
	if meta {
		return fmt.Errorf("%w: <meta> not closed", ErrMalformed)
	}
	switch l3family {
	case 2, 10:
		f.Family = l3family
	default:
		if f.Orig.Src.Is6() {
			f.Family = ctflow.FamilyIPv6
		} else {
			f.Family = ctflow.FamilyIPv4
		}
	}
	if state != "" {
		f.State, f.HasState = ctflow.ParseState(f.Orig.Proto, state)
	}
	if replied {
		f.Status |= ctflow.StatusSeenReply
	}
	if assured {
		f.Status |= ctflow.StatusAssured
	}
	return nil
}

func isLeaf(name []byte) bool {
	switch string(name) {
	case "meta", "layer3", "layer4", "flow":
		return false
	}
	return true
}

// attr returns the value of key="..." in a tag's attribute text.
func attr(attrs []byte, key string) []byte {
	for len(attrs) > 0 {
		attrs = bytes.TrimLeft(attrs, " ")
		k, rest, ok := bytes.Cut(attrs, []byte(`="`))
		if !ok {
			return nil
		}
		v, rest, ok := bytes.Cut(rest, []byte(`"`))
		if !ok {
			return nil
		}
		if string(k) == key {
			return v
		}
		attrs = rest
	}
	return nil
}
