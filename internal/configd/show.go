package configd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/paths"
)

// CommitStatus is `show system commit --json`.
type CommitStatus struct {
	Notices  []string        `json:"notices,omitempty"`
	Pending  *Pending        `json:"pending_confirm,omitempty"`
	Sessions int             `json:"sessions_with_uncommitted_changes"`
	Commits  []archive.Entry `json:"commits"`
}

// ShowCommitDiff writes archived revision n (0 = running, 1 =
// previous, ...) and what it changed: `show system commit diff N`, read
// from disk so it answers with ctsyncd stopped.
func ShowCommitDiff(root paths.Root, w io.Writer, n int, jsonOut bool) error {
	e, err := archive.Open(root.ArchiveDir()).Get(n)
	if err != nil {
		return fmt.Errorf("show system commit diff %d: %w", n, err)
	}
	if jsonOut {
		return json.NewEncoder(w).Encode(e)
	}
	fmt.Fprintf(w, "Revision %d (seq %d), %s by %s via %s", n, e.Seq, e.Time.Local().Format("2006-01-02 15:04:05"), e.User, e.Kind)
	if e.Comment != "" {
		fmt.Fprintf(w, ": %s", e.Comment)
	}
	fmt.Fprintln(w)
	if e.Note != "" {
		fmt.Fprintln(w, e.Note)
	}
	if e.Diff == "" {
		_, err = io.WriteString(w, "(no configuration changes)\n")
		return err
	}
	_, err = io.WriteString(w, e.Diff)
	return err
}

// ShowCommits is `show system commit`: the archive, read from disk so
// it answers with ctsyncd stopped, headed by what the operator must know
// first (a corrupt config replaced at start, a commit-confirm counting
// down, sessions holding uncommitted changes).
func ShowCommits(root paths.Root, w io.Writer, jsonOut bool) error {
	a := archive.Open(root.ArchiveDir())
	var st CommitStatus
	if b, err := os.ReadFile(root.BootNotice()); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" {
				st.Notices = append(st.Notices, l)
			}
		}
	}
	p, err := ReadPending(root)
	if err != nil {
		st.Notices = append(st.Notices, "the commit-confirm record is unreadable: "+err.Error())
	}
	st.Pending = p
	if b, err := os.ReadFile(root.EditSessions()); err == nil {
		st.Sessions, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	list, err := a.List()
	if err != nil {
		return fmt.Errorf("show system commit: %w", err)
	}
	st.Commits = list
	if jsonOut {
		if st.Commits == nil {
			st.Commits = []archive.Entry{}
		}
		return json.NewEncoder(w).Encode(st)
	}
	for _, n := range st.Notices {
		fmt.Fprintf(w, "WARNING: %s\n", n)
	}
	if p != nil {
		fmt.Fprintf(w, "Commit-confirm pending: revision 0 (seq %d, by %s) is rolled back at %s unless confirmed.\n",
			p.Seq, p.User, p.Deadline.Local().Format("2006-01-02 15:04:05"))
	}
	if st.Sessions > 0 {
		fmt.Fprintf(w, "%d configuration session(s) hold uncommitted changes.\n", st.Sessions)
	}
	if len(st.Notices) > 0 || p != nil || st.Sessions > 0 {
		fmt.Fprintln(w)
	}
	return archive.FormatList(w, list)
}
