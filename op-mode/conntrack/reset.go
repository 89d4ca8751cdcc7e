package conntrack

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/opcmd"
)

func init() {
	opcmd.Register(opcmd.Command{
		Path: []string{"reset", "conntrack"},
		Args: "[ipv4|ipv6] [FILTER VALUE]... [--yes]",
		Help: "Delete kernel conntrack entries: all, or those matching the filters of show conntrack table",
		Run:  runReset,
	})
	opcmd.Register(opcmd.Command{
		Path: []string{"monitor", "conntrack"},
		Args: "[ipv4|ipv6] [FILTER VALUE]...",
		Help: "Print conntrack events (new, update, destroy) as they happen, until Ctrl-C",
		Run:  runMonitor,
	})
}

// ErrNotConfirmed ends a reset that was not confirmed.
var ErrNotConfirmed = errors.New("not confirmed: nothing was removed")

// ParseFilters reads the filters of reset and monitor: those of show
// conntrack table, the family first but optional. Without one the
// filters apply to both families, which address filters cannot.
func ParseFilters(args []string) ([]ctflow.Query, error) {
	if len(args) > 0 && (args[0] == "ipv4" || args[0] == "ipv6") {
		q, err := ParseQuery(args)
		if err != nil {
			return nil, err
		}
		return []ctflow.Query{q}, nil
	}
	for i := 0; i < len(args); i += 2 {
		if args[i] == "source" || args[i] == "destination" {
			return nil, fmt.Errorf("%w: %s needs the family first (ipv4 or ipv6)", ErrUsage, args[i])
		}
	}
	var qs []ctflow.Query
	for _, fam := range []string{"ipv4", "ipv6"} {
		q, err := ParseQuery(append([]string{fam}, args...))
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// batchSocket is what reset deletes through; tests replace dialBatch.
type batchSocket interface {
	ctflow.BatchSocket
	Close() error
}

var dialBatch = func() (batchSocket, error) { return ctflow.Dial() }

// takeYes removes --yes (or -y) from args.
func takeYes(args []string) ([]string, bool) {
	out := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "--yes" || a == "-y" })
	return out, len(out) != len(args)
}

// describe is the filters as the user typed them, for the prompt and
// the report.
func describe(args []string) string {
	if len(args) == 0 {
		return "every ipv4 and ipv6 entry"
	}
	if args[0] != "ipv4" && args[0] != "ipv6" {
		return "every ipv4 and ipv6 entry with " + strings.Join(args, " ")
	}
	if len(args) == 1 {
		return "every " + args[0] + " entry"
	}
	return "every " + args[0] + " entry with " + strings.Join(args[1:], " ")
}

func runReset(ctx context.Context, env *opcmd.Env, args []string) error {
	args, yes := takeYes(args)
	qs, err := ParseFilters(args)
	if err != nil {
		return err
	}
	what := describe(args)
	if !yes {
		if !env.Terminal || env.In == nil {
			return fmt.Errorf("reset conntrack deletes %s from the kernel table: confirm with --yes (stdin is not a terminal)", what)
		}
		fmt.Fprintf(env.Err, "Delete %s from the kernel conntrack table? [y/N] ", what)
		line, _ := bufio.NewReader(env.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return ErrNotConfirmed
		}
	}
	res, err := Reset(ctx, qs)
	if err != nil {
		return err
	}
	return WriteReset(env.Out, res, what, env.JSON)
}

// Reset deletes the entries matching each query.
func Reset(ctx context.Context, qs []ctflow.Query) (ctflow.DeleteResult, error) {
	var total ctflow.DeleteResult
	s, err := dial()
	if err != nil {
		return total, err
	}
	defer s.Close()
	d, err := dialBatch()
	if err != nil {
		return total, err
	}
	defer d.Close()
	for _, q := range qs {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := ctflow.Delete(s, d, q)
		total.Removed += res.Removed
		total.Vanished += res.Vanished
		if err != nil {
			return total, fmt.Errorf("%w (%d entries removed before it)", err, total.Removed)
		}
	}
	return total, nil
}

// WriteReset reports how many entries went.
func WriteReset(w io.Writer, res ctflow.DeleteResult, what string, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(res)
	}
	noun := "entries"
	if res.Removed == 1 {
		noun = "entry"
	}
	fmt.Fprintf(w, "Removed %d conntrack %s (%s).\n", res.Removed, noun, what)
	if res.Vanished > 0 {
		fmt.Fprintf(w, "%d more ended on their own before their delete reached the kernel.\n", res.Vanished)
	}
	return nil
}

// eventSocket is what monitor reads; tests replace listen.
type eventSocket interface {
	ctflow.Socket
	Close() error
	SetReadDeadline(time.Time) error
}

var listen = func() (eventSocket, error) { return ctflow.Listen() }

// now stamps events; tests fix it.
var now = time.Now

func runMonitor(ctx context.Context, env *opcmd.Env, args []string) error {
	q := ctflow.Query{}
	if len(args) > 0 {
		qs, err := ParseFilters(args)
		if err != nil {
			return err
		}
		q = qs[0]
		if len(qs) > 1 {
			q.Family = 0 // no family named: both
		}
	}
	s, err := listen()
	if err != nil {
		return err
	}
	defer s.Close()
	if env.Terminal {
		fmt.Fprintln(env.Err, "Conntrack events as they happen; Ctrl-C stops.")
	}
	return Monitor(ctx, s, q, env.Out, env.JSON)
}

// Monitor prints the events of s that match q, one line each, until ctx
// ends (then it returns nil: Ctrl-C is how a monitor is meant to stop).
func Monitor(ctx context.Context, s eventSocket, q ctflow.Query, w io.Writer, asJSON bool) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			// Wakes the blocked read: the socket is in Go's poller.
			_ = s.SetReadDeadline(time.Unix(1, 0))
		case <-stop:
		}
	}()
	var b []byte
	emit := func() error {
		_, err := w.Write(b)
		return err
	}
	err := ctflow.Events(s, q, func(k ctflow.EventKind, f *ctflow.Flow) error {
		b = appendEventHead(b[:0], k.String(), asJSON)
		if asJSON {
			b = append(b, `,"flow":`...)
			b = ctflow.AppendJSON(b, f)
			b = append(b, "}\n"...)
		} else {
			b = append(ctflow.AppendLine(b, f), '\n')
		}
		return emit()
	}, func(overrun error) error {
		b = appendEventHead(b[:0], "overrun", asJSON)
		if asJSON {
			msg, _ := json.Marshal(overrun.Error())
			b = append(append(append(b, `,"error":`...), msg...), "}\n"...)
		} else {
			b = append(append(b, overrun.Error()...), '\n')
		}
		return emit()
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("monitor conntrack: %w", err)
}

// appendEventHead starts an event's line: the time and the event, as
// `2026-12-01 23:59:01.123456 [NEW]     ` or `{"time":"...","event":"new"`.
func appendEventHead(b []byte, event string, asJSON bool) []byte {
	t := now()
	if asJSON {
		b = append(b, `{"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `","event":"`...)
		b = append(b, event...)
		return append(b, '"')
	}
	b = t.AppendFormat(b, "2006-01-02 15:04:05.000000 ")
	tag := "[" + strings.ToUpper(event) + "]"
	b = append(b, tag...)
	for i := len(tag); i < 10; i++ {
		b = append(b, ' ')
	}
	return b
}
