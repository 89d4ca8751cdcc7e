package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
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

// transitionSummary pulls the last transition out of `show
// conntrack-sync status --json`: the first object under a key that names
// a transition, rendered as its scalar fields "k=v" in key order. The lab
// does not own that format, so it reads it loosely and shows what it
// finds rather than failing on a renamed field.
func transitionSummary(b []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return ""
	}
	t := findKey(v, "transition", 0)
	m, ok := t.(map[string]any)
	if !ok {
		if t == nil {
			return ""
		}
		return fmt.Sprint(t)
	}
	var parts []string
	for k, x := range m {
		switch x := x.(type) {
		case map[string]any, []any, nil:
		case string:
			if x != "" {
				parts = append(parts, k+"="+x)
			}
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", k, x))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// findKey returns the value of the first key (breadth first) whose name
// contains sub, case-insensitively.
func findKey(v any, sub string, depth int) any {
	m, ok := v.(map[string]any)
	if !ok || depth > 8 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.Contains(strings.ToLower(k), sub) {
			return m[k]
		}
	}
	for _, k := range keys {
		if r := findKey(m[k], sub, depth+1); r != nil {
			return r
		}
	}
	return nil
}

// KernelFlows counts the lab's flows in a namespace's kernel conntrack
// table, with conntrack(8) itself: an independent witness of what the
// failover hook committed.
func KernelFlows(ctx context.Context, ns string) (int, error) {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "conntrack", "-L",
		"-p", "tcp", "--orig-dst", ServerIP.String(), "--dport", fmt.Sprint(ServerPort))
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
