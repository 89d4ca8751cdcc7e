package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
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

// KernelFlows counts the lab's established flows in a namespace's kernel conntrack
// table, with conntrack(8) itself: an independent witness of what the
// failover hook committed.
func KernelFlows(ctx context.Context, ns string) (int, error) {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "conntrack", "-L",
		"-p", "tcp", "--orig-dst", ServerIP.String(), "--dport", fmt.Sprint(ServerPort), "--state", "ESTABLISHED")
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("conntrack -L in %s: %w", ns, err)
	}
	return countFlowLines(out), nil
}

// countFlowLines counts conntrack -L entries: one per line naming tcp.
func countFlowLines(out []byte) int {
	n := 0
	for _, line := range bytes.Split(out, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("tcp")) {
			n++
		}
	}
	return n
}

// describeRecord is one line about a hook run: what it did and how long
// until old flows could pass again.
func describeRecord(r *transition.Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.State, r.Group)
	if r.Mode != "" {
		fmt.Fprintf(&b, " (%s)", r.Mode)
	}
	if r.State == "MASTER" || r.Committed > 0 || r.ExternalEntries > 0 {
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
