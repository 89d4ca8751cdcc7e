package ctflow

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"
)

// TableWriter prints flows as they arrive, either as the VyOS-like table
// or as one JSON array with an object per flow. Column widths are fixed
// (the table is never held, so it cannot be measured first); a value
// wider than its column is followed by a single space.
type TableWriter struct {
	w      *bufio.Writer
	json   bool
	family uint8
	n      int
	buf    []byte
}

// Column widths. An IPv4 endpoint is at most 21 characters
// (255.255.255.255:65535); IPv6 ones are usually well under 40.
const (
	widthID      = 12
	widthProto   = 10
	widthState   = 13
	widthTimeout = 9
	widthMark    = 6
)

func endpointWidth(family uint8) int {
	if family == FamilyIPv6 {
		return 42
	}
	return 23
}

// NewTableWriter writes to w; family sets the address column widths.
func NewTableWriter(w io.Writer, family uint8, json bool) *TableWriter {
	return &TableWriter{w: bufio.NewWriterSize(w, 64<<10), json: json, family: family, buf: make([]byte, 0, 512)}
}

// Header starts the output: the column titles, or the opening bracket.
func (t *TableWriter) Header() error {
	if t.json {
		_, err := t.w.WriteString("[")
		return err
	}
	ew := endpointWidth(t.family)
	b := t.buf[:0]
	b = pad(append(b, "Id"...), 2, widthID)
	b = pad(append(b, "Original src"...), 12, ew)
	b = pad(append(b, "Original dst"...), 12, ew)
	b = pad(append(b, "Reply src"...), 9, ew)
	b = pad(append(b, "Reply dst"...), 9, ew)
	b = pad(append(b, "Protocol"...), 8, widthProto)
	b = pad(append(b, "State"...), 5, widthState)
	b = pad(append(b, "Timeout"...), 7, widthTimeout)
	b = pad(append(b, "Mark"...), 4, widthMark)
	b = append(b, "Zone\n"...)
	t.buf = b
	_, err := t.w.Write(b)
	return err
}

// Write prints one flow.
func (t *TableWriter) Write(f *Flow) error {
	if t.json {
		t.buf = t.appendJSON(t.buf[:0], f)
	} else {
		t.buf = t.appendRow(t.buf[:0], f)
	}
	t.n++
	_, err := t.w.Write(t.buf)
	return err
}

// Count is the number of flows written.
func (t *TableWriter) Count() int { return t.n }

// Close ends the output and flushes it.
func (t *TableWriter) Close() error {
	if t.json {
		if t.n > 0 {
			t.w.WriteString("\n")
		}
		t.w.WriteString("]\n")
	}
	return t.w.Flush()
}

func (t *TableWriter) appendRow(b []byte, f *Flow) []byte {
	ew := endpointWidth(t.family)
	s := len(b)
	b = strconv.AppendUint(b, uint64(f.ID), 10)
	b = pad(b, len(b)-s, widthID)
	b = appendEndpoint(b, f.Orig.Src, f.Orig.SrcPort, f.Orig.Proto, ew)
	b = appendEndpoint(b, f.Orig.Dst, f.Orig.DstPort, f.Orig.Proto, ew)
	b = appendEndpoint(b, f.Reply.Src, f.Reply.SrcPort, f.Reply.Proto, ew)
	b = appendEndpoint(b, f.Reply.Dst, f.Reply.DstPort, f.Reply.Proto, ew)
	p := ProtoName(f.Orig.Proto)
	b = pad(append(b, p...), len(p), widthProto)
	st := f.StateName()
	b = pad(append(b, st...), len(st), widthState)
	s = len(b)
	b = strconv.AppendUint(b, uint64(f.Timeout), 10)
	b = pad(b, len(b)-s, widthTimeout)
	s = len(b)
	b = strconv.AppendUint(b, uint64(f.Mark), 10)
	b = pad(b, len(b)-s, widthMark)
	b = strconv.AppendUint(b, uint64(f.Zone), 10)
	return append(b, '\n')
}

func appendEndpoint(b []byte, a netip.Addr, port uint16, proto uint8, width int) []byte {
	s := len(b)
	if hasPorts(proto) {
		if a.Is6() {
			b = append(b, '[')
			b = a.AppendTo(b)
			b = append(b, "]:"...)
		} else {
			b = append(a.AppendTo(b), ':')
		}
		b = strconv.AppendUint(b, uint64(port), 10)
	} else {
		b = a.AppendTo(b)
	}
	return pad(b, len(b)-s, width)
}

// pad appends spaces after a value of n characters up to width, and at
// least one.
func pad(b []byte, n, width int) []byte {
	for i := n; i < width-1; i++ {
		b = append(b, ' ')
	}
	return append(b, ' ')
}

func (t *TableWriter) appendJSON(b []byte, f *Flow) []byte {
	if t.n > 0 {
		b = append(b, ",\n"...)
	} else {
		b = append(b, '\n')
	}
	return AppendJSON(b, f)
}

// AppendJSON appends f as the JSON object of one flow, as the table's
// JSON form has it.
func AppendJSON(b []byte, f *Flow) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(f.ID), 10)
	b = append(b, `,"family":"`...)
	if f.Family == FamilyIPv6 {
		b = append(b, "ipv6"...)
	} else {
		b = append(b, "ipv4"...)
	}
	b = append(b, `","protocol":"`...)
	b = append(b, ProtoName(f.Orig.Proto)...)
	b = append(b, `","original":`...)
	b = appendTupleJSON(b, &f.Orig)
	b = append(b, `,"reply":`...)
	b = appendTupleJSON(b, &f.Reply)
	b = append(b, `,"state":"`...)
	b = append(b, f.StateName()...)
	b = append(b, `","timeout":`...)
	b = strconv.AppendUint(b, uint64(f.Timeout), 10)
	b = append(b, `,"mark":`...)
	b = strconv.AppendUint(b, uint64(f.Mark), 10)
	b = append(b, `,"zone":`...)
	b = strconv.AppendUint(b, uint64(f.Zone), 10)
	b = append(b, `,"assured":`...)
	b = strconv.AppendBool(b, f.Status&StatusAssured != 0)
	b = append(b, `,"seen_reply":`...)
	b = strconv.AppendBool(b, f.Status&StatusSeenReply != 0)
	return append(b, '}')
}

func appendTupleJSON(b []byte, t *Tuple) []byte {
	b = append(b, `{"src":"`...)
	b = t.Src.AppendTo(b)
	b = append(b, `","dst":"`...)
	b = t.Dst.AppendTo(b)
	b = append(b, '"')
	switch {
	case hasPorts(t.Proto):
		b = append(b, `,"sport":`...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
		b = append(b, `,"dport":`...)
		b = strconv.AppendUint(b, uint64(t.DstPort), 10)
	case t.Proto == ProtoICMP || t.Proto == ProtoICMPv6:
		b = append(b, `,"type":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPType), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendUint(b, uint64(t.ICMPCode), 10)
		b = append(b, `,"icmp_id":`...)
		b = strconv.AppendUint(b, uint64(t.SrcPort), 10)
	}
	return append(b, '}')
}

// AppendLine appends f as one line of text, without the newline:
// "tcp 198.19.100.10:46728 -> 198.18.0.1:7000 reply 198.18.0.1:7000 ->
// 198.18.0.101:46728 ESTABLISHED timeout 431987 mark 0 zone 0 id 3012554112".
func AppendLine(b []byte, f *Flow) []byte {
	b = append(b, ProtoName(f.Orig.Proto)...)
	b = append(b, ' ')
	b = appendEndpoint(b, f.Orig.Src, f.Orig.SrcPort, f.Orig.Proto, 0)
	b = append(b, "-> "...)
	b = appendEndpoint(b, f.Orig.Dst, f.Orig.DstPort, f.Orig.Proto, 0)
	b = append(b, "reply "...)
	b = appendEndpoint(b, f.Reply.Src, f.Reply.SrcPort, f.Reply.Proto, 0)
	b = append(b, "-> "...)
	b = appendEndpoint(b, f.Reply.Dst, f.Reply.DstPort, f.Reply.Proto, 0)
	b = append(b, f.StateName()...)
	b = append(b, " timeout "...)
	b = strconv.AppendUint(b, uint64(f.Timeout), 10)
	b = append(b, " mark "...)
	b = strconv.AppendUint(b, uint64(f.Mark), 10)
	b = append(b, " zone "...)
	b = strconv.AppendUint(b, uint64(f.Zone), 10)
	b = append(b, " id "...)
	return strconv.AppendUint(b, uint64(f.ID), 10)
}
