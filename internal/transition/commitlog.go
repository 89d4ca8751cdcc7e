package transition

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
)

// conntrackd returns nothing on its control socket, but in the
// foreground ("console mode", how ctsync runs it) it logs each commit to
// its stdout, which whoever started it (supervise.Spawn) sends to the
// engine's log file:
//
//	[...] (pid=15929) [notice] committing conntrack cache
//	[...] (pid=15929) [notice] Committed 50 new entries
//	[...] (pid=15929) [notice] commit has taken 0.000524 seconds
//
// "Committed N" counts the external cache's flows the daemon wrote into
// the kernel (created or updated), so it is the daemon's own per-flow
// account of the commit: a commit it skipped ("commit already in
// progress") logs no such line, whatever the size of the kernel table,
// which on a busy master already holds more entries than the external
// cache did.

// maxCommitLog bounds what is read of the log after a commit: the
// commit's lines are a few hundred bytes, and a log that grew more in
// that time (netlink overruns) must not cost the hook time.
const maxCommitLog = 64 << 10

// commitLog is what conntrackd logged about one commit.
type commitLog struct {
	Started   bool // a "committing ..." line
	Committed int  // from "Committed N new entries"; -1 if absent
	Failed    int  // from "N entries can't be committed"; 0 if absent
	// Exists counts the failures that were "commit-create: File
	// exists": conntrackd deleted the kernel's entry to create its own
	// and found a new one there, made by a packet in between. The
	// kernel knows the flow; those failures are not flows missing.
	Exists int
}

// parseCommitLog reads the lines conntrackd logged since the commit was
// requested. The last commit in them counts.
func parseCommitLog(r io.Reader) commitLog {
	cl := commitLog{Committed: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxCommitLog)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "] ")
		if j := strings.LastIndex(line, "] "); j >= 0 {
			i = j
		}
		msg := strings.TrimSpace(line[i+1:])
		switch {
		case strings.HasPrefix(msg, "committing "):
			cl = commitLog{Started: true, Committed: -1}
		case strings.HasPrefix(msg, "Committed ") && strings.HasSuffix(msg, " new entries"):
			if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(msg, "Committed "), " new entries")); err == nil && n >= 0 {
				cl.Committed = n
			}
		case msg == "commit-create: File exists":
			cl.Exists++
		case strings.HasSuffix(msg, " entries can't be committed"):
			if n, err := strconv.Atoi(strings.Fields(msg)[0]); err == nil && n >= 0 {
				cl.Failed = n
			}
		}
	}
	return cl
}

// logOffset is the size of the log at path, -1 when it cannot be read
// (conntrackd logs elsewhere: the check falls back to counting).
func logOffset(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return -1
	}
	return fi.Size()
}

// readCommitLog parses what was appended to path since offset.
func readCommitLog(path string, offset int64) (commitLog, bool) {
	f, err := os.Open(path)
	if err != nil {
		return commitLog{}, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, maxCommitLog))
	if err != nil {
		return commitLog{}, false
	}
	return parseCommitLog(bytes.NewReader(b)), true
}
