// Package ctdstats parses the statistics text conntrackd answers on its
// control socket (conntrackd -s, code 21; -s link, code 31; the
// expectation form, code 37) into a structure that can be printed again
// or encoded as JSON. conntrackd itself has no machine-readable form.
package ctdstats

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// ErrMalformed reports text that is not conntrackd statistics.
var ErrMalformed = errors.New("malformed conntrackd statistics")

// Cache is one cache's counters ("cache internal:").
type Cache struct {
	Current       uint64 `json:"current"`
	Created       uint64 `json:"created"`
	CreateFailed  uint64 `json:"create_failed"`
	Updated       uint64 `json:"updated"`
	UpdateFailed  uint64 `json:"update_failed"`
	Destroyed     uint64 `json:"destroyed"`
	DestroyFailed uint64 `json:"destroy_failed"`
}

// Traffic is what conntrackd processed from the kernel.
type Traffic struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
}

// Link is one dedicated-link channel's traffic.
type Link struct {
	Protocol    string `json:"protocol"` // "udp", "multicast", "tcp"
	Device      string `json:"device"`
	Status      string `json:"status,omitempty"` // -s link only: RUNNING, DOWN
	Role        string `json:"role,omitempty"`   // -s link only: ACTIVE, BACKUP
	BytesSent   uint64 `json:"bytes_sent"`
	BytesRecv   uint64 `json:"bytes_recv"`
	PacketsSent uint64 `json:"packets_sent"`
	PacketsRecv uint64 `json:"packets_recv"`
	ErrorsSend  uint64 `json:"errors_send"`
	ErrorsRecv  uint64 `json:"errors_recv"`
}

// Tracking is the sync protocol's message accounting.
type Tracking struct {
	Malformed uint64 `json:"malformed"`
	Lost      uint64 `json:"lost"`
}

// Stats is one statistics reply.
type Stats struct {
	Cache    map[string]*Cache `json:"cache"`
	Traffic  *Traffic          `json:"traffic,omitempty"`
	Link     *Link             `json:"link,omitempty"`
	Links    []Link            `json:"links,omitempty"`
	Tracking *Tracking         `json:"tracking,omitempty"`
}

// Parse reads one reply. Unknown sections are skipped so that a newer
// conntrackd does not break the command; a known section with numbers
// that do not parse is an error, and so is a reply with no known
// section at all.
func Parse(r io.Reader) (*Stats, error) {
	st := &Stats{Cache: map[string]*Cache{}}
	sc := bufio.NewScanner(r)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading conntrackd statistics: %w", err)
	}
	known := false
	for i := 0; i < len(lines); i++ {
		head := strings.TrimSpace(lines[i])
		next := func(n int) ([]string, error) {
			if i+n >= len(lines) {
				return nil, fmt.Errorf("%w: %q: section ends early", ErrMalformed, head)
			}
			return strings.Fields(lines[i+n]), nil
		}
		switch {
		case strings.HasPrefix(head, "cache ") && strings.HasSuffix(head, ":") && !strings.Contains(head, "\t"):
			name := strings.TrimSuffix(strings.TrimPrefix(head, "cache "), ":")
			c := &Cache{}
			for n, want := range []string{"current", "created", "updated", "destroyed"} {
				f, err := next(n + 1)
				if err != nil {
					return nil, err
				}
				var vals []uint64
				for _, w := range f {
					if v, err := strconv.ParseUint(w, 10, 64); err == nil {
						vals = append(vals, v)
					}
				}
				switch {
				case want == "current" && len(vals) == 1 && f[0] == "current":
					c.Current = vals[0]
				case want != "current" && len(vals) == 2 && f[1] == want+":":
					switch want {
					case "created":
						c.Created, c.CreateFailed = vals[0], vals[1]
					case "updated":
						c.Updated, c.UpdateFailed = vals[0], vals[1]
					case "destroyed":
						c.Destroyed, c.DestroyFailed = vals[0], vals[1]
					}
				default:
					return nil, fmt.Errorf("%w: cache %s: unexpected line %q", ErrMalformed, name, lines[i+n+1])
				}
			}
			st.Cache[name] = c
			i += 4
			known = true
		case head == "traffic processed:":
			f, err := next(1)
			if err != nil {
				return nil, err
			}
			v, err := pairs(f, "Bytes", "Pckts")
			if err != nil {
				return nil, fmt.Errorf("traffic processed: %w", err)
			}
			st.Traffic = &Traffic{Bytes: v[0], Packets: v[1]}
			i++
			known = true
		case strings.HasSuffix(head, ":") && strings.Contains(head, " traffic ") && strings.Contains(head, "device="):
			l, err := linkHead(head)
			if err != nil {
				return nil, err
			}
			for n, w := range [][2]string{{"Bytes", "Bytes"}, {"Pckts", "Pckts"}, {"Error", "Error"}} {
				f, err := next(n + 1)
				if err != nil {
					return nil, err
				}
				if len(f) != 6 || f[1] != w[0] || f[4] != w[1] {
					return nil, fmt.Errorf("%w: %s: unexpected line %q", ErrMalformed, head, lines[i+n+1])
				}
				a, err1 := strconv.ParseUint(f[0], 10, 64)
				b, err2 := strconv.ParseUint(f[3], 10, 64)
				if err1 != nil || err2 != nil {
					return nil, fmt.Errorf("%w: %s: bad number in %q", ErrMalformed, head, lines[i+n+1])
				}
				switch n {
				case 0:
					l.BytesSent, l.BytesRecv = a, b
				case 1:
					l.PacketsSent, l.PacketsRecv = a, b
				case 2:
					l.ErrorsSend, l.ErrorsRecv = a, b
				}
			}
			if l.Status != "" {
				st.Links = append(st.Links, l)
			} else {
				st.Link = &l
			}
			i += 3
			known = true
		case head == "message tracking:":
			f, err := next(1)
			if err != nil {
				return nil, err
			}
			if len(f) != 6 || f[1] != "Malformed" || f[4] != "Lost" {
				return nil, fmt.Errorf("%w: message tracking: unexpected line %q", ErrMalformed, lines[i+1])
			}
			a, err1 := strconv.ParseUint(f[0], 10, 64)
			b, err2 := strconv.ParseUint(f[3], 10, 64)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("%w: message tracking: bad number", ErrMalformed)
			}
			st.Tracking = &Tracking{Malformed: a, Lost: b}
			i++
			known = true
		}
	}
	if !known {
		return nil, fmt.Errorf("%w: no known section", ErrMalformed)
	}
	return st, nil
}

// pairs reads "N word1 M word2".
func pairs(f []string, w1, w2 string) ([2]uint64, error) {
	var v [2]uint64
	if len(f) != 4 || f[1] != w1 || f[3] != w2 {
		return v, fmt.Errorf("%w: unexpected %q", ErrMalformed, strings.Join(f, " "))
	}
	var err1, err2 error
	v[0], err1 = strconv.ParseUint(f[0], 10, 64)
	v[1], err2 = strconv.ParseUint(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return v, fmt.Errorf("%w: bad number in %q", ErrMalformed, strings.Join(f, " "))
	}
	return v, nil
}

// linkHead reads "UDP traffic (active device=eth1):" (from -s) or
// "UDP traffic device=eth1 status=RUNNING role=ACTIVE:" (from -s link).
func linkHead(head string) (Link, error) {
	var l Link
	proto, rest, _ := strings.Cut(strings.TrimSuffix(head, ":"), " traffic ")
	l.Protocol = strings.ToLower(proto)
	rest = strings.Trim(rest, "()")
	rest = strings.TrimPrefix(rest, "active ")
	for _, kv := range strings.Fields(rest) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return l, fmt.Errorf("%w: link header %q", ErrMalformed, head)
		}
		switch k {
		case "device":
			l.Device = v
		case "status":
			l.Status = v
		case "role":
			l.Role = v
		}
	}
	if l.Device == "" {
		return l, fmt.Errorf("%w: link header %q has no device", ErrMalformed, head)
	}
	return l, nil
}

// Write prints st in the layout of conntrackd -s, aligned for reading.
func Write(w io.Writer, st *Stats) error {
	bw := bufio.NewWriter(w)
	for _, name := range cacheOrder(st) {
		c := st.Cache[name]
		fmt.Fprintf(bw, "cache %s:\n", name)
		fmt.Fprintf(bw, "  current active connections: %12d\n", c.Current)
		fmt.Fprintf(bw, "  connections created:        %12d    failed: %12d\n", c.Created, c.CreateFailed)
		fmt.Fprintf(bw, "  connections updated:        %12d    failed: %12d\n", c.Updated, c.UpdateFailed)
		fmt.Fprintf(bw, "  connections destroyed:      %12d    failed: %12d\n\n", c.Destroyed, c.DestroyFailed)
	}
	if t := st.Traffic; t != nil {
		fmt.Fprintf(bw, "traffic processed:\n  %20d Bytes %20d Pckts\n\n", t.Bytes, t.Packets)
	}
	links := st.Links
	if st.Link != nil {
		links = append([]Link{*st.Link}, links...)
	}
	for _, l := range links {
		fmt.Fprintf(bw, "%s traffic (device=%s", linkName(l.Protocol), l.Device)
		if l.Status != "" {
			fmt.Fprintf(bw, " status=%s role=%s", l.Status, l.Role)
		}
		fmt.Fprintf(bw, "):\n  %20d Bytes sent %20d Bytes recv\n  %20d Pckts sent %20d Pckts recv\n  %20d Error send %20d Error recv\n\n",
			l.BytesSent, l.BytesRecv, l.PacketsSent, l.PacketsRecv, l.ErrorsSend, l.ErrorsRecv)
	}
	if t := st.Tracking; t != nil {
		fmt.Fprintf(bw, "message tracking:\n  %20d Malformed msgs %20d Lost msgs\n", t.Malformed, t.Lost)
	}
	return bw.Flush()
}

func linkName(p string) string {
	switch p {
	case "udp", "tcp":
		return strings.ToUpper(p)
	case "multicast":
		return "Multicast"
	}
	return p
}

// cacheOrder lists internal and external first, then any other cache.
func cacheOrder(st *Stats) []string {
	var out []string
	for _, n := range []string{"internal", "external"} {
		if _, ok := st.Cache[n]; ok {
			out = append(out, n)
		}
	}
	var rest []string
	for n := range st.Cache {
		if n != "internal" && n != "external" {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}
