package transition

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/ctflow"
)

// KernelCount returns how many entries the kernel conntrack table of the
// calling thread's network namespace holds. It asks ctnetlink for the
// global entry count (one small message, no dump) and falls back to
// /proc/sys/net/netfilter/nf_conntrack_count. Either is cheap enough to
// call right after a commit without slowing failover.
func KernelCount() (int, error) {
	c, err := ctflow.Dial()
	if err == nil {
		st, serr := ctflow.Global(c)
		c.Close()
		if serr == nil {
			return int(st.Entries), nil
		}
		err = serr
	}
	b, ferr := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_count")
	if ferr != nil {
		return 0, fmt.Errorf("counting kernel conntrack entries: netlink: %v; proc: %w", err, ferr)
	}
	n, ferr := strconv.Atoi(strings.TrimSpace(string(b)))
	if ferr != nil {
		return 0, fmt.Errorf("counting kernel conntrack entries: %w", ferr)
	}
	return n, nil
}
