package transition

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Facts is what the conntrack-sync handler tells the hook, in a file it
// generates and installs in the same commit as conntrackd.conf (and
// removes with it). The hook reads it instead of the running config: the
// running config is recorded only after a commit has finished, but
// keepalived, started by that commit, may call the hook before then.
type Facts struct {
	SyncGroup string `json:"sync_group"`
}

// EncodeFacts renders the facts file.
func EncodeFacts(f Facts) []byte {
	b, _ := json.MarshalIndent(f, "", "  ")
	return append(b, '\n')
}

// syncGroup is what the hook needs: whether conntrack-sync is configured
// and which VRRP sync-group drives it.
type syncGroup struct {
	Configured bool
	Group      string
}

// readSyncGroup reads the facts file. A missing file means conntrack-sync
// is not configured.
func readSyncGroup(path string) (syncGroup, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return syncGroup{}, nil
		}
		return syncGroup{}, fmt.Errorf("reading failover facts: %w", err)
	}
	var f Facts
	if err := json.Unmarshal(b, &f); err != nil {
		return syncGroup{}, fmt.Errorf("reading failover facts %s: %w", path, err)
	}
	return syncGroup{Configured: true, Group: f.SyncGroup}, nil
}

// daemonConf is what the hook needs from the generated conntrackd.conf:
// it describes the daemon that actually runs, which is what the control
// codes must match.
type daemonConf struct {
	Socket               string
	LockFile             string
	DisableExternalCache bool
	ExpectSync           bool
}

func readDaemonConf(path string) (daemonConf, error) {
	f, err := os.Open(path)
	if err != nil {
		return daemonConf{}, fmt.Errorf("reading conntrackd config: %w", err)
	}
	defer f.Close()
	dc, err := parseDaemonConf(f)
	if err != nil {
		return daemonConf{}, fmt.Errorf("reading conntrackd config %s: %w", path, err)
	}
	return dc, nil
}

// parseDaemonConf reads conntrackd.conf's block syntax: "Name args {",
// "}", "Key value", # comments.
func parseDaemonConf(r io.Reader) (daemonConf, error) {
	var dc daemonConf
	var stack []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		// Braces may share a line with words ("UNIX { Path x }").
		s = strings.NewReplacer("{", " { ", "}", " } ").Replace(s)
		var words []string
		leaf := func() {
			if len(words) == 0 {
				return
			}
			applyDaemonKey(&dc, stack, words)
			words = nil
		}
		for _, w := range strings.Fields(s) {
			switch w {
			case "{":
				if len(words) == 0 {
					return daemonConf{}, fmt.Errorf("line %d: { without a name", line)
				}
				stack = append(stack, strings.Join(words, " "))
				if words[0] == "ExpectationSync" && pathIs(stack[:len(stack)-1], "Sync", "Options") {
					// A list of helpers: some expectations are synced.
					dc.ExpectSync = true
				}
				words = nil
			case "}":
				leaf()
				if len(stack) == 0 {
					return daemonConf{}, fmt.Errorf("line %d: unbalanced }", line)
				}
				stack = stack[:len(stack)-1]
			default:
				words = append(words, w)
			}
		}
		leaf()
	}
	if err := sc.Err(); err != nil {
		return daemonConf{}, err
	}
	if len(stack) != 0 {
		return daemonConf{}, fmt.Errorf("unterminated block %q", strings.Join(stack, " "))
	}
	return dc, nil
}

func applyDaemonKey(dc *daemonConf, stack, words []string) {
	if len(words) < 2 {
		return
	}
	key, val := words[0], words[1]
	switch {
	case pathIs(stack, "General") && key == "LockFile":
		dc.LockFile = val
	case pathIs(stack, "General", "UNIX") && key == "Path":
		dc.Socket = val
	case len(stack) == 2 && stack[0] == "Sync" && strings.HasPrefix(stack[1], "Mode") && key == "DisableExternalCache":
		dc.DisableExternalCache = onOff(val)
	case pathIs(stack, "Sync", "Options") && key == "ExpectationSync":
		dc.ExpectSync = onOff(val)
	}
}

func onOff(s string) bool {
	switch strings.ToLower(s) {
	case "on", "yes", "true", "1":
		return true
	}
	return false
}

// cacheCounts is the "current active connections" of both caches, from
// the plain statistics reply (request 21).
type cacheCounts struct {
	Internal, External int
	HasExternal        bool
}

// parseStats reads the text of a statistics reply:
//
//	cache internal:
//	current active connections:	         500
//	...
//	cache external:
//	current active connections:	         500
//
// With DisableExternalCache there is no "cache external" section.
func parseStats(b []byte) (cacheCounts, error) {
	var cc cacheCounts
	section := ""
	seen := 0
	for _, ln := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(ln)
		switch {
		case t == "cache internal:":
			section = "internal"
		case t == "cache external:":
			section = "external"
		case strings.HasSuffix(t, ":") && !strings.HasPrefix(t, "current"):
			section = ""
		case strings.HasPrefix(t, "current active connections:") && section != "":
			v := strings.TrimSpace(strings.TrimPrefix(t, "current active connections:"))
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return cacheCounts{}, fmt.Errorf("statistics: bad %s cache count %q", section, v)
			}
			if section == "internal" {
				cc.Internal = n
			} else {
				cc.External = n
				cc.HasExternal = true
			}
			seen++
			section = ""
		}
	}
	if seen == 0 {
		return cacheCounts{}, fmt.Errorf("statistics: no cache counts in %d-byte reply", len(b))
	}
	return cc, nil
}

func pathIs(stack []string, want ...string) bool {
	if len(stack) != len(want) {
		return false
	}
	for i := range want {
		if stack[i] != want[i] {
			return false
		}
	}
	return true
}
