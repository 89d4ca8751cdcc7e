package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
)

// Router is one lab router: a namespace, a ctsync root, and the ctsyncd
// the lab started in it.
type Router struct {
	Name     string // "r1"
	NS       string // its namespace
	Root     paths.Root
	Ctsync   string // path of the ctsync binary
	Ctsyncd  string // path of the ctsyncd binary
	Priority int    // VRRP priority
	Peer     netip.Addr

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Start runs ctsyncd in the router's namespace and waits until its
// control socket answers.
func (r *Router) Start(ctx context.Context) error {
	if err := os.MkdirAll(r.Root.Dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	logf, err := os.OpenFile(r.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	defer logf.Close()
	// ip netns exec execs in place: the pid is ctsyncd's own.
	cmd := exec.Command("ip", "netns", "exec", r.NS, r.Ctsyncd, "--root", r.Root.Dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a Ctrl-C at the terminal reaches the lab,
	// which then stops the routers in order, not all at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), paths.EnvRoot+"="+r.Root.Dir)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting ctsyncd on %s: %w", r.Name, err)
	}
	r.cmd = cmd
	r.exited = make(chan struct{})
	go func() {
		r.waitErr = cmd.Wait()
		close(r.exited)
	}()
	sock := r.Root.CtsyncdSocket()
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Dialled, not stat'ed: a socket file left by a ctsyncd that was
		// killed must not count as this one's.
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("ctsyncd on %s exited at start (%v):\n%s", r.Name, r.waitErr, r.LogTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ctsyncd on %s: no control socket %s after 15s:\n%s", r.Name, sock, r.LogTail(20))
		}
	}
}

// LogFile is where ctsyncd's output goes.
func (r *Router) LogFile() string { return filepath.Join(r.Root.Dir, "ctsyncd.log") }

// LogTail returns the last n lines of ctsyncd's log, for error messages.
func (r *Router) LogTail(n int) string {
	b, _ := os.ReadFile(r.LogFile())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ctsync runs the CLI in the router's namespace, with stdin if given,
// and returns its stdout and stderr.
func (r *Router) ctsync(ctx context.Context, stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	argv := append([]string{"netns", "exec", r.NS, r.Ctsync, "--root", r.Root.Dir}, args...)
	cmd := exec.CommandContext(ctx, "ip", argv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), errb.Bytes(), fmt.Errorf("%s: ctsync %s: %w: %s", r.Name, strings.Join(args, " "),
			err, strings.TrimSpace(errb.String()+"\n"+out.String()))
	}
	return out.Bytes(), errb.Bytes(), nil
}

// Configure feeds lines to `ctsync configure`, which stops at the first
// failing line.
func (r *Router) Configure(ctx context.Context, lines []string) error {
	_, _, err := r.ctsync(ctx, []byte(strings.Join(lines, "\n")+"\n"), "configure")
	return err
}

// Show runs `ctsync show ARGS` and returns what it printed, its error
// message included when it fails ("conntrack-sync is not configured").
func (r *Router) Show(ctx context.Context, args ...string) (string, error) {
	out, errb, err := r.ctsync(ctx, nil, append([]string{"show"}, args...)...)
	if err != nil {
		return strings.TrimSpace(string(out) + "\n" + string(errb)), err
	}
	return string(out), nil
}

// StopCtsyncd stops ctsyncd alone (SIGTERM, then SIGKILL after 5 s) and
// waits for it; the engines it started keep running, as on a router
// whose ctsyncd restarts. Start starts it again.
func (r *Router) StopCtsyncd() error {
	if r.cmd == nil {
		return nil
	}
	select {
	case <-r.exited:
		return nil
	default:
	}
	killed, err := proc.Terminate(context.Background(), r.cmd.Process.Pid, 5*time.Second, r.exited)
	switch {
	case err != nil:
		return fmt.Errorf("%s: ctsyncd: %w", r.Name, err)
	case killed:
		return fmt.Errorf("%s: ctsyncd ignored SIGTERM for 5s and was killed", r.Name)
	}
	return nil
}

// CtsyncdRunning says the ctsyncd the lab started still runs.
func (r *Router) CtsyncdRunning() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// EnginePid is the pid of a running engine ("conntrackd" or
// "keepalived") of this router, from its pid file, checked to live in
// the router's namespace.
func (r *Router) EnginePid(engine string) (int, error) {
	var pf string
	switch engine {
	case "conntrackd":
		pf = r.Root.ConntrackdPid()
	case "keepalived":
		pf = r.Root.KeepalivedPid()
	default:
		return 0, fmt.Errorf("%s: no engine %q", r.Name, engine)
	}
	pid, err := proc.ReadPidFile(pf)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", r.Name, engine, err)
	}
	if !proc.Alive(pid) || !proc.InNetns(pid, r.NS) {
		return 0, fmt.Errorf("%s: %s (pid %d) does not run in %s", r.Name, engine, pid, r.NS)
	}
	return pid, nil
}

// Stop stops ctsyncd, then the engines it started, each by the pid in
// the root's pid files and only if that pid lives in the router's
// namespace, waiting for each to exit: the namespace must not go while
// they run. ctsyncd leaves engines running on purpose (a restart adopts
// them), so stopping it alone is not enough.
func (r *Router) Stop() error {
	var errs []error
	_ = r.StopCtsyncd() // a killed ctsyncd is stopped all the same
	for _, pf := range []string{r.Root.KeepalivedPid(), r.Root.ConntrackdPid()} {
		pid, err := proc.ReadPidFile(pf)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		if !proc.Alive(pid) || !proc.InNetns(pid, r.NS) {
			continue
		}
		if err := proc.Stop(pid, 5*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// HoldsVIPs reports whether the router has both virtual addresses.
func (r *Router) HoldsVIPs(ctx context.Context, run Runner) (bool, error) {
	out, err := run.Run(ctx, nil, "ip", "-n", r.NS, "-4", "-o", "addr", "show")
	if err != nil {
		return false, err
	}
	addrs := parseAddrs(out)
	return addrs[LANVIP] && addrs[WANVIP], nil
}

// parseAddrs reads the addresses of `ip -4 -o addr show`.
func parseAddrs(out []byte) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "inet" {
				continue
			}
			if p, err := netip.ParsePrefix(f[i+1]); err == nil {
				m[p.Addr()] = true
			}
		}
	}
	return m
}

// ConfigLines is the router's configuration, in VyOS syntax: two VRRP
// groups in one sync-group (LAN and WAN addresses move together) and
// conntrack-sync over the dedicated link, unicast to the other router.
func (r *Router) ConfigLines() []string {
	return []string{
		"set high-availability vrrp group lan interface lan0",
		"set high-availability vrrp group lan vrid 10",
		fmt.Sprintf("set high-availability vrrp group lan address %s/%d", LANVIP, LANPrefix.Bits()),
		fmt.Sprintf("set high-availability vrrp group lan priority %d", r.Priority),
		"set high-availability vrrp group wan interface wan0",
		"set high-availability vrrp group wan vrid 20",
		fmt.Sprintf("set high-availability vrrp group wan address %s/%d", WANVIP, WANPrefix.Bits()),
		fmt.Sprintf("set high-availability vrrp group wan priority %d", r.Priority),
		"set high-availability vrrp sync-group MAIN member lan",
		"set high-availability vrrp sync-group MAIN member wan",
		fmt.Sprintf("set service conntrack-sync interface sync0 peer %s", r.Peer),
		"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
		"set service conntrack-sync accept-protocol tcp",
		"commit",
	}
}

// NoSyncLines removes conntrack-sync and leaves VRRP as it is.
func NoSyncLines() []string {
	return []string{"delete service conntrack-sync", "commit"}
}
