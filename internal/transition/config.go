package transition

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// syncGroup is what the hook needs from the running config: whether
// conntrack-sync is configured and which VRRP sync-group drives it.
type syncGroup struct {
	Configured bool
	Group      string
}

// readSyncGroup reads the running config (config.boot format). A missing
// file means ctsyncd never committed anything: conntrack-sync is not
// configured. The hook reads the file itself rather than asking ctsyncd,
// because failover must never wait on the config service.
func readSyncGroup(path string) (syncGroup, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return syncGroup{}, nil
		}
		return syncGroup{}, fmt.Errorf("reading running config: %w", err)
	}
	defer f.Close()
	sg, err := parseSyncGroup(f)
	if err != nil {
		return syncGroup{}, fmt.Errorf("reading running config %s: %w", path, err)
	}
	return sg, nil
}

// parseSyncGroup scans config.boot text for
// service { conntrack-sync { failover-mechanism { vrrp { sync-group X } } } }.
// It is deliberately a scanner, not the config tree parser: it must keep
// working on a config whose other parts it does not understand.
func parseSyncGroup(r io.Reader) (syncGroup, error) {
	var sg syncGroup
	var stack []string
	err := scanBoot(r, func(ev bootEvent) error {
		switch ev.kind {
		case evOpen:
			stack = append(stack, ev.words...)
			if pathIs(stack, "service", "conntrack-sync") {
				sg.Configured = true
			}
		case evClose:
			if len(stack) == 0 {
				return fmt.Errorf("line %d: unbalanced }", ev.line)
			}
			// A block opened by "tag key {" pushed two words.
			stack = stack[:len(stack)-ev.pop]
		case evLeaf:
			if pathIs(stack, "service", "conntrack-sync", "failover-mechanism", "vrrp") &&
				ev.words[0] == "sync-group" && len(ev.words) > 1 {
				sg.Group = ev.words[1]
			}
			if pathIs(stack, "service") && ev.words[0] == "conntrack-sync" {
				sg.Configured = true
			}
		}
		return nil
	})
	if err != nil {
		return syncGroup{}, err
	}
	if len(stack) != 0 {
		return syncGroup{}, fmt.Errorf("unterminated block %q", strings.Join(stack, " "))
	}
	return sg, nil
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

type evKind int

const (
	evOpen evKind = iota
	evClose
	evLeaf
)

type bootEvent struct {
	kind  evKind
	words []string
	pop   int // evClose: how many words the matching open pushed
	line  int
}

// scanBoot tokenizes config.boot: words (bare or quoted with ' or "),
// braces, and /* */ comments, and reports blocks and leaves in order.
func scanBoot(r io.Reader, emit func(bootEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var opened []int // words pushed per open block
	inComment := false
	line := 0
	for sc.Scan() {
		line++
		s := sc.Text()
		var words []string
		flushLeaf := func() error {
			if len(words) == 0 {
				return nil
			}
			ev := bootEvent{kind: evLeaf, words: words, line: line}
			words = nil
			return emit(ev)
		}
		for i := 0; i < len(s); {
			if inComment {
				end := strings.Index(s[i:], "*/")
				if end < 0 {
					i = len(s)
					continue
				}
				i += end + 2
				inComment = false
				continue
			}
			c := s[i]
			switch {
			case c == ' ' || c == '\t' || c == '\r':
				i++
			case strings.HasPrefix(s[i:], "/*"):
				inComment = true
				i += 2
			case c == '{':
				ev := bootEvent{kind: evOpen, words: words, line: line}
				if len(words) == 0 {
					return fmt.Errorf("line %d: { without a name", line)
				}
				opened = append(opened, len(words))
				words = nil
				if err := emit(ev); err != nil {
					return err
				}
				i++
			case c == '}':
				if err := flushLeaf(); err != nil {
					return err
				}
				if len(opened) == 0 {
					return fmt.Errorf("line %d: unbalanced }", line)
				}
				n := opened[len(opened)-1]
				opened = opened[:len(opened)-1]
				if err := emit(bootEvent{kind: evClose, pop: n, line: line}); err != nil {
					return err
				}
				i++
			case c == '"' || c == '\'':
				end := strings.IndexByte(s[i+1:], c)
				if end < 0 {
					return fmt.Errorf("line %d: unterminated quote", line)
				}
				words = append(words, s[i+1:i+1+end])
				i += end + 2
			default:
				j := i
				for j < len(s) && !strings.ContainsRune(" \t\r{}\"'", rune(s[j])) && !strings.HasPrefix(s[j:], "/*") {
					j++
				}
				words = append(words, s[i:j])
				i = j
			}
		}
		if err := flushLeaf(); err != nil {
			return err
		}
	}
	return sc.Err()
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
