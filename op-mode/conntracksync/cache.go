package conntracksync

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdxml"
	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/opcmd"
)

// CacheCode picks the XML dump request for a cache and table.
func CacheCode(args []string) (int32, error) {
	usage := fmt.Errorf("%w: show conntrack-sync cache internal|external [main|expect]", ErrUsage)
	if len(args) < 1 || len(args) > 2 {
		return 0, usage
	}
	table := "main"
	if len(args) == 2 {
		table = args[1]
	}
	switch [2]string{args[0], table} {
	case [2]string{"internal", "main"}:
		return conntrackd.DumpInternalXML, nil
	case [2]string{"external", "main"}:
		return conntrackd.DumpExternalXML, nil
	case [2]string{"internal", "expect"}:
		return conntrackd.DumpInternalExpXML, nil
	case [2]string{"external", "expect"}:
		return conntrackd.DumpExternalExpXML, nil
	}
	return 0, usage
}

func runCache(ctx context.Context, env *opcmd.Env, args []string) error {
	code, err := CacheCode(args)
	if err != nil {
		return err
	}
	_, c, err := prepare(env)
	if err != nil {
		return err
	}
	_, err = Cache(ctx, c, code, env.Out, env.JSON)
	return err
}

// Cache streams one XML cache dump to w as the kernel table is shown,
// decoding line by line as conntrackd writes; it returns the count.
func Cache(ctx context.Context, c *conntrackd.Client, code int32, w io.Writer, asJSON bool) (int, error) {
	tw := ctflow.NewTableWriter(w, ctflow.FamilyIPv4, asJSON)
	if err := tw.Header(); err != nil {
		return 0, err
	}
	err := c.Stream(ctx, code, func(r io.Reader) error { return ctdxml.Scan(r, tw.Write) })
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return tw.Count(), fmt.Errorf("%w (%s)", ErrNotRunning, c.Path)
		}
		return tw.Count(), fmt.Errorf("conntrackd cache dump: %w", err)
	}
	return tw.Count(), nil
}
