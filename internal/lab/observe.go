package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/transition"
)

// jsonPath returns the value at the given object keys, or nil.
func jsonPath(b []byte, keys ...string) any {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// jsonInt reads an integer at keys, or -1 when absent or not a number.
func jsonInt(b []byte, keys ...string) int {
	if f, ok := jsonPath(b, keys...).(float64); ok && f >= 0 && f < 1<<53 {
		return int(f)
	}
	return -1
}

// KernelFlows counts how many of the given client ports (the running
// flows) have an established entry in a namespace's kernel conntrack
// table, read with conntrack(8) itself: an independent witness of what
// the failover hook committed. Entries of earlier, closed flows do not
// count.
func KernelFlows(ctx context.Context, ns string, ports map[uint16]bool) (int, error) {
	return KernelFlowsTo(ctx, ns, ServerPort, ports)
}

// KernelFlowsTo is KernelFlows for flows to the server's port dport
// (ServerPort for flows where the client sends, PushPort for those where
// the server sends).
func KernelFlowsTo(ctx context.Context, ns string, dport uint16, ports map[uint16]bool) (int, error) {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "conntrack", "-L",
		"-p", "tcp", "--orig-dst", ServerIP.String(), "--dport", fmt.Sprint(dport), "--state", "ESTABLISHED")
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("conntrack -L in %s: %w", ns, err)
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if p, ok := origSport(line); ok && ports[p] {
			n++
		}
	}
	return n, nil
}

// origSport reads the original direction's source port of one
// conntrack -L line: the first sport= field.
func origSport(line string) (uint16, bool) {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "sport="); ok {
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil {
				// ParseUint returns the maximum on a range error.
				return 0, false
			}
			return uint16(p), true
		}
	}
	return 0, false
}

// describeRecord is one line about a hook run: what it did and how long
// until old flows could pass again.
func describeRecord(r *transition.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", strings.ToUpper(r.State), r.Group)
	if r.Mode != "" {
		fmt.Fprintf(&b, " (%s)", r.Mode)
	}
	if strings.EqualFold(r.State, "master") || r.Committed > 0 || r.ExternalEntries > 0 {
		fmt.Fprintf(&b, ", external cache %d, committed %d, kernel %d", r.ExternalEntries, r.Committed, r.KernelEntries)
	}
	if r.KernelReady > 0 {
		fmt.Fprintf(&b, ", kernel ready after %s", r.KernelReady.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, ", took %s", r.Duration.Round(time.Millisecond))
	switch {
	case r.Skipped != "":
		fmt.Fprintf(&b, ", skipped: %s", r.Skipped)
	case r.OK:
		b.WriteString(", ok")
	default:
		fmt.Fprintf(&b, ", FAILED: %s", r.Error)
	}
	return b.String()
}
