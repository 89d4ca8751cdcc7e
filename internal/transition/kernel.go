package transition

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
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

// eventsPending says what of the commit's destroy events conntrackd has
// not taken in yet (see runner.settleDestroys), "" when nothing: deleted
// entries whose event the kernel still has to deliver again (its dying
// list), or events delivered to conntrackd's netlink sockets but not read
// yet (their receive queues, from /proc/PID/net/netlink).
func eventsPending(root paths.Root) (string, error) {
	dying, err := ctflow.AnyDying()
	if err != nil {
		return "", err
	}
	if dying {
		return "deleted entries wait for their destroy events", nil
	}
	st, err := ConntrackdStarted(root)
	if err != nil || st == nil || !st.Running() {
		return "", err
	}
	n, err := proc.NetlinkBacklog(st.Pid)
	if err != nil || n == 0 {
		return "", err
	}
	return fmt.Sprintf("%d bytes of events unread by conntrackd", n), nil
}
