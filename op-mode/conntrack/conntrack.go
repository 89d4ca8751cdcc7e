// Package conntrack is the op-mode family for the kernel connection
// tracking table: "show conntrack table" and "show conntrack statistics".
package conntrack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/opcmd"
)

func init() {
	opcmd.Register(opcmd.Command{
		Path: []string{"show", "conntrack", "table"},
		Args: "ipv4|ipv6 [protocol P] [source ADDR[/LEN]] [destination ADDR[/LEN]] [port N] [state S] [mark M] [zone Z]",
		Help: "List the kernel connection tracking table",
		Run:  runTable,
	})
	opcmd.Register(opcmd.Command{
		Path: []string{"show", "conntrack", "statistics"},
		Help: "Show the kernel connection tracking counters per CPU",
		Run:  runStatistics,
	})
}

// ErrUsage reports arguments the command does not accept.
var ErrUsage = errors.New("usage")

// socket is what the commands read the kernel through; tests replace it.
type socket interface {
	ctflow.Socket
	Close() error
}

var dial = func() (socket, error) { return ctflow.Dial() }

// ParseQuery turns the words after "show conntrack table" into a query.
func ParseQuery(args []string) (ctflow.Query, error) {
	var q ctflow.Query
	if len(args) == 0 {
		return q, fmt.Errorf("%w: show conntrack table ipv4|ipv6 [protocol P] [source ADDR[/LEN]] [destination ADDR[/LEN]] [port N] [state S] [mark M] [zone Z]", ErrUsage)
	}
	switch args[0] {
	case "ipv4":
		q.Family = ctflow.FamilyIPv4
	case "ipv6":
		q.Family = ctflow.FamilyIPv6
	default:
		return q, fmt.Errorf("%w: address family must be ipv4 or ipv6, not %q", ErrUsage, args[0])
	}
	rest := args[1:]
	for len(rest) > 0 {
		key := rest[0]
		if len(rest) < 2 {
			return q, fmt.Errorf("%w: %s needs a value", ErrUsage, key)
		}
		val := rest[1]
		rest = rest[2:]
		switch key {
		case "protocol":
			p, ok := ctflow.ParseProto(val)
			if !ok {
				return q, fmt.Errorf("%w: protocol %q: must be a name (tcp, udp, icmp, ...) or a number 0-255", ErrUsage, val)
			}
			q.Proto, q.HasProto = p, true
		case "source", "destination":
			pfx, err := parsePrefix(val, q.Family)
			if err != nil {
				return q, fmt.Errorf("%w: %s %q: %v", ErrUsage, key, val, err)
			}
			if key == "source" {
				q.Src = pfx
			} else {
				q.Dst = pfx
			}
		case "port":
			n, err := strconv.ParseUint(val, 10, 16)
			if err != nil || n == 0 {
				return q, fmt.Errorf("%w: port %q: must be 1-65535", ErrUsage, val)
			}
			q.Port, q.HasPort = uint16(n), true
		case "state":
			q.State = strings.ToUpper(val)
		case "mark":
			n, err := strconv.ParseUint(val, 0, 32)
			if err != nil {
				return q, fmt.Errorf("%w: mark %q: must be 0-4294967295 (or 0x...)", ErrUsage, val)
			}
			q.Mark, q.HasMark = uint32(n), true
		case "zone":
			n, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return q, fmt.Errorf("%w: zone %q: must be 0-65535", ErrUsage, val)
			}
			q.Zone, q.HasZone = uint16(n), true
		default:
			return q, fmt.Errorf("%w: unknown filter %q (protocol, source, destination, port, state, mark, zone)", ErrUsage, key)
		}
	}
	return q, nil
}

func parsePrefix(s string, family uint8) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, errors.New("not an address or prefix")
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, errors.New("not an address or prefix")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4() != (family == ctflow.FamilyIPv4) {
		return p, errors.New("address family does not match the table")
	}
	return p.Masked(), nil
}

func runTable(ctx context.Context, env *opcmd.Env, args []string) error {
	q, err := ParseQuery(args)
	if err != nil {
		return err
	}
	s, err := dial()
	if err != nil {
		return err
	}
	defer s.Close()
	return Table(ctx, s, q, env.Out, env.JSON)
}

// Table streams the flows matching q to w.
func Table(ctx context.Context, s ctflow.Socket, q ctflow.Query, w io.Writer, asJSON bool) error {
	tw := ctflow.NewTableWriter(w, q.Family, asJSON)
	if err := tw.Header(); err != nil {
		return err
	}
	n := 0
	err := ctflow.Dump(s, q, func(f *ctflow.Flow) error {
		// Checking the context per flow is cheap enough every 4096.
		if n++; n&4095 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		return tw.Write(f)
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	return err
}

// Statistics is what "show conntrack statistics --json" prints.
type Statistics struct {
	Entries    uint32            `json:"entries"`
	MaxEntries uint32            `json:"max_entries"`
	CPUs       []ctflow.CPUStats `json:"cpus"`
}

func runStatistics(ctx context.Context, env *opcmd.Env, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: show conntrack statistics takes no arguments", ErrUsage)
	}
	s, err := dial()
	if err != nil {
		return err
	}
	defer s.Close()
	st, err := ReadStatistics(s)
	if err != nil {
		return err
	}
	return WriteStatistics(env.Out, st, env.JSON)
}

// ReadStatistics collects the global and per-CPU counters.
func ReadStatistics(s ctflow.Socket) (Statistics, error) {
	var st Statistics
	g, err := ctflow.Global(s)
	if err != nil {
		return st, err
	}
	st.Entries, st.MaxEntries = g.Entries, g.MaxEntries
	if st.CPUs, err = ctflow.Stats(s); err != nil {
		return st, err
	}
	return st, nil
}

// WriteStatistics prints st as a table (one row per CPU) or JSON.
func WriteStatistics(w io.Writer, st Statistics, asJSON bool) error {
	if asJSON {
		if st.CPUs == nil {
			st.CPUs = []ctflow.CPUStats{}
		}
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(st)
	}
	fmt.Fprintf(w, "entries: %d of %d\n\n", st.Entries, st.MaxEntries)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CPU\tFound\tInvalid\tInsert\tInsert failed\tDrop\tEarly drop\tError\tSearch restart\tClash resolve\tChain too long")
	for _, c := range st.CPUs {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", c.CPU, c.Found, c.Invalid, c.Insert,
			c.InsertFailed, c.Drop, c.EarlyDrop, c.Error, c.SearchRestart, c.ClashResolve, c.ChainTooLong)
	}
	return tw.Flush()
}
