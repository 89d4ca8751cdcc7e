package lab

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

func fmtGap(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// FormatSummary renders the closing table of a run: one row a phase.
func FormatSummary(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Summary (%d flows; VRRP detection %.2fs, gap bound %.2fs):\n",
		r.Flows, DetectionTime(R2Priority).Seconds(), GapBound().Seconds())
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "phase\tmaster\talive\tdead\tlongest gap\tsettled in\tkernel r1/r2\tmaster's hook")
	for _, p := range r.Phases {
		s := p.Sample
		took := "-"
		if p.Took > 0 {
			took = fmt.Sprintf("%.1fs", p.Took.Seconds())
		}
		gap := fmtGap(s.LongestGap)
		if s.Alive == 0 {
			gap = "-"
		}
		hook := "-"
		if rec := p.Transitions[p.Master]; rec != nil {
			hook = fmt.Sprintf("committed %d, ready %s", rec.Committed, rec.KernelReady.Round(time.Millisecond))
			if !rec.OK {
				hook += ", FAILED"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%d/%d\t%d%s\t%s\t%s\t%s/%s\t%s\n", p.Name, p.Master, s.Alive, s.Flows,
			s.Dead, deaths(s), gap, took, count(p.KernelFlows["r1"]), count(p.KernelFlows["r2"]), hook)
	}
	w.Flush()
	return b.String()
}

func count(n int) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}
