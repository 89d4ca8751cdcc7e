package conntracksync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/opcmd"
)

// Statistics is what "show conntrack-sync statistics --json" prints:
// conntrackd -s, its link channels (-s link) and, when expect-sync is
// configured, the expectation caches.
type Statistics struct {
	*ctdstats.Stats
	Expect map[string]*ctdstats.Cache `json:"expect,omitempty"`
}

func runStatistics(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("show conntrack-sync statistics", args); err != nil {
		return err
	}
	cfg, c, err := prepare(env)
	if err != nil {
		return err
	}
	st, err := ReadStatistics(ctx, c, cfg.ExpectSync)
	if err != nil {
		return err
	}
	return WriteStatistics(env.Out, st, env.JSON)
}

// ReadStatistics asks conntrackd for its counters.
func ReadStatistics(ctx context.Context, c *conntrackd.Client, expect bool) (*Statistics, error) {
	st, err := readStats(ctx, c, conntrackd.Stats)
	if err != nil {
		return nil, err
	}
	out := &Statistics{Stats: st}
	if link, err := readStats(ctx, c, conntrackd.StatsLink); err == nil {
		out.Links = link.Links
	}
	if expect {
		ex, err := readStats(ctx, c, conntrackd.StatsExpect)
		if err != nil {
			return nil, err
		}
		out.Expect = ex.Cache
	}
	return out, nil
}

// WriteStatistics prints st as conntrackd -s lays it out, or as JSON.
func WriteStatistics(w io.Writer, st *Statistics, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(st)
	}
	human := *st.Stats
	if len(human.Links) > 0 {
		// -s link names the same channel with its status: print it once.
		human.Link = nil
	}
	if err := ctdstats.Write(w, &human); err != nil {
		return err
	}
	if len(st.Expect) > 0 {
		named := map[string]*ctdstats.Cache{}
		for n, c := range st.Expect {
			named["expect "+n] = c
		}
		fmt.Fprintln(w)
		return ctdstats.Write(w, &ctdstats.Stats{Cache: named})
	}
	return nil
}
