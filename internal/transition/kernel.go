package transition

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/paths"
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
	n, err := netlinkBacklog(fmt.Sprintf("/proc/%d", st.Pid))
	if err != nil || n == 0 {
		return "", err
	}
	return fmt.Sprintf("%d bytes of events unread by conntrackd", n), nil
}

// netlinkBacklog sums the receive queues of the netfilter netlink
// sockets (protocol 12) that the process at procDir holds open.
func netlinkBacklog(procDir string) (int, error) {
	fds, err := os.ReadDir(filepath.Join(procDir, "fd"))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(procDir, "fd", fd.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	b, err := os.ReadFile(filepath.Join(procDir, "net", "netlink"))
	if err != nil {
		return 0, err
	}
	return parseNetlinkBacklog(string(b), inodes)
}

// parseNetlinkBacklog reads /proc/net/netlink ("sk Eth Pid Groups Rmem
// Wmem Dump Locks Drops Inode") and sums Rmem of the NETLINK_NETFILTER
// sockets whose inode is in inodes.
func parseNetlinkBacklog(table string, inodes map[string]bool) (int, error) {
	total := 0
	for i, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if i == 0 {
			if len(f) < 10 || f[1] != "Eth" || f[4] != "Rmem" || f[9] != "Inode" {
				return 0, fmt.Errorf("/proc/net/netlink: unexpected header %q", line)
			}
			continue
		}
		if len(f) < 10 || f[1] != "12" || !inodes[f[9]] {
			continue
		}
		n, err := strconv.Atoi(f[4])
		if err != nil {
			return 0, fmt.Errorf("/proc/net/netlink: Rmem %q: %w", f[4], err)
		}
		total += n
	}
	return total, nil
}
