package transition

import (
	"strings"
	"testing"
)

func TestParseCommitLog(t *testing.T) {
	const p = "[Wed Dec  2 00:04:31 2026] (pid=15929) [notice] "
	tests := []struct {
		name string
		in   string
		want commitLog
	}{
		{"a whole commit", p + "committing conntrack cache\n" + p + "Committed 50 new entries\n" + p + "commit has taken 0.000524 seconds\n",
			commitLog{Started: true, Committed: 50}},
		{"all tables", p + "committing all external caches\n" + p + "Committed 100000 new entries\n",
			commitLog{Started: true, Committed: 100000}},
		{"some failed", p + "committing conntrack cache\n" + p + "Committed 40 new entries\n" + p + "10 entries can't be committed\n",
			commitLog{Started: true, Committed: 40, Failed: 10}},
		{"a flow made by traffic meanwhile", p + "committing conntrack cache\n" + p + "Committed 40 new entries\n" +
			"[Wed Dec  2 00:04:31 2026] (pid=15929) [ERROR] commit-create: File exists\n" + p + "1 entries can't be committed\n",
			commitLog{Started: true, Committed: 40, Failed: 1, Exists: 1}},
		{"another failure", p + "committing conntrack cache\n" + p + "Committed 40 new entries\n" +
			"[Wed Dec  2 00:04:31 2026] (pid=15929) [ERROR] commit-create: Cannot allocate memory\n" + p + "1 entries can't be committed\n",
			commitLog{Started: true, Committed: 40, Failed: 1}},
		{"skipped: nothing logged", "", commitLog{Committed: -1}},
		{"skipped: another message", p + "commit already in progress\n", commitLog{Committed: -1}},
		{"started, not finished", p + "committing conntrack cache\n", commitLog{Started: true, Committed: -1}},
		{"the last commit counts", p + "committing conntrack cache\n" + p + "Committed 5 new entries\n" + p + "committing conntrack cache\n",
			commitLog{Started: true, Committed: -1}},
		{"garbage number", p + "committing conntrack cache\n" + p + "Committed lots new entries\n", commitLog{Started: true, Committed: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCommitLog(strings.NewReader(tt.in)); got != tt.want {
				t.Errorf("parseCommitLog = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseCommitLog(f *testing.F) {
	f.Add("[x] (pid=1) [notice] committing conntrack cache\n[x] (pid=1) [notice] Committed 50 new entries\n")
	f.Add("] Committed -1 new entries\n] 3 entries can't be committed")
	f.Add("]")
	f.Fuzz(func(t *testing.T, s string) {
		cl := parseCommitLog(strings.NewReader(s))
		if cl.Committed < -1 || cl.Failed < 0 {
			t.Fatalf("impossible counts %+v", cl)
		}
	})
}
