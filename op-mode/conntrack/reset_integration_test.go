//go:build integration

package conntrack

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/nstest"
)

// fill puts n flows into ns's table with ctfill: sources 10.x.y.z for
// flow i = x<<16|y<<8|z, every fourth (i % 4 == 0) with mark 1.
func fill(t *testing.T, ns *nstest.NS, n int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ctfill")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ctsync/ctsync/internal/ctflow/bench/ctfill").CombinedOutput(); err != nil {
		t.Fatalf("building ctfill: %v\n%s", err, out)
	}
	ns.Run(bin, "-n", fmt.Sprint(n), "-mark-every", "4")
}

// census dumps ns's ipv4 table and counts its flows by mark and by
// whether the source is in 10.0.0.0/16.
func census(t *testing.T, ns *nstest.NS) (total, marked, in16 int) {
	t.Helper()
	err := ns.Do(func() error {
		c, err := ctflow.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		return ctflow.Dump(c, ctflow.Query{Family: ctflow.FamilyIPv4}, func(f *ctflow.Flow) error {
			total++
			if f.Mark == 1 {
				marked++
			}
			if a := f.Orig.Src.As4(); a[0] == 10 && a[1] == 0 {
				in16++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return total, marked, in16
}

// TestResetConntrackFiltered fills a namespace's table with 100,000
// entries and runs `ctsync reset conntrack` there twice: with a filter
// the kernel applies (mark 1: the 25,000 marked) and with one only user
// space can (source 10.0.0.0/16, a prefix: the 49,152 unmarked flows
// left in it). Each removes exactly its entries, says how many, and
// leaves every other entry; without --yes off a terminal it refuses.
func TestResetConntrackFiltered(t *testing.T) {
	nstest.Require(t)
	ns := nstest.New(t, "reset")
	const n = 100000
	fill(t, ns, n)
	if total, marked, in16 := census(t, ns); total != n || marked != n/4 || in16 != 65536 {
		t.Fatalf("filled table: %d entries, %d marked, %d in 10.0/16", total, marked, in16)
	}
	ctsync, _ := nstest.Binaries(t)
	run := func(args ...string) (string, string, error) {
		cmd := ns.Cmd(ctsync, args...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		return o.String(), e.String(), err
	}

	if _, errOut, err := run("reset", "conntrack", "ipv4", "mark", "1"); err == nil || !strings.Contains(errOut, "--yes") {
		t.Fatalf("reset without --yes off a terminal: err %v, stderr %q", err, errOut)
	}
	if total, _, _ := census(t, ns); total != n {
		t.Fatalf("a refused reset removed %d entries", n-total)
	}

	out, errOut, err := run("reset", "conntrack", "ipv4", "mark", "1", "--yes", "--json")
	if err != nil {
		t.Fatalf("reset mark 1: %v\n%s", err, errOut)
	}
	var res ctflow.DeleteResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Removed != n/4 || res.Vanished != 0 {
		t.Fatalf("reset mark 1 reported %s (%v), want %d removed", out, err, n/4)
	}
	total, marked, in16 := census(t, ns)
	if total != n-n/4 || marked != 0 || in16 != 65536-65536/4 {
		t.Fatalf("after reset mark 1: %d entries, %d marked, %d in 10.0/16", total, marked, in16)
	}

	out, errOut, err = run("reset", "conntrack", "ipv4", "source", "10.0.0.0/16", "--yes")
	if err != nil {
		t.Fatalf("reset source 10.0.0.0/16: %v\n%s", err, errOut)
	}
	want := fmt.Sprintf("Removed %d conntrack entries (every ipv4 entry with source 10.0.0.0/16).\n", 65536-65536/4)
	if out != want {
		t.Errorf("reset said %q, want %q", out, want)
	}
	if total, _, in16 := census(t, ns); in16 != 0 || total != n-n/4-(65536-65536/4) {
		t.Fatalf("after reset source: %d entries, %d in 10.0/16", total, in16)
	}

	out, _, err = run("reset", "conntrack", "--yes")
	if err != nil || !strings.HasPrefix(out, fmt.Sprintf("Removed %d conntrack entries (every ipv4 and ipv6 entry)", n-n/4-(65536-65536/4))) {
		t.Fatalf("reset of the whole table: %v %q", err, out)
	}
	if total, _, _ := census(t, ns); total != 0 {
		t.Fatalf("%d entries left after a whole reset", total)
	}
}

// reapExpired lists the namespace's table so that the kernel drops the
// entries whose timeout has passed, and sends their destroy events: its
// garbage collector otherwise gets to them on its own schedule, which
// stretches to a minute when the other entries have long timeouts (an
// established flow's is five days). An operator's `show conntrack table`
// does the same.
func reapExpired(ns string, dport int) {
	_ = exec.Command("ip", "netns", "exec", ns, "conntrack", "-L", "-p", "tcp", "--dport", fmt.Sprint(dport)).Run()
}

// TestMonitorConntrack runs `ctsync monitor conntrack --json` in a
// namespace, opens and closes a TCP connection over loopback during it,
// and checks the new, update and destroy events of that flow, then that
// SIGINT ends the monitor with exit 0.
func TestMonitorConntrack(t *testing.T) {
	nstest.Require(t, "nft")
	ns := nstest.New(t, "mon")
	ctsync, _ := nstest.Binaries(t)
	// A namespace tracks connections only once a rule needs conntrack.
	ns.Run("nft", "add table ip ctmon; add chain ip ctmon out { type filter hook output priority 0; }; add rule ip ctmon out ct state new accept")
	// Loopback traffic is tracked; the events of a destroy come when the
	// entry goes, and a closed TCP flow waits in TIME_WAIT: shorten it.
	ns.Run("sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=1")
	cmd := ns.Cmd(ctsync, "monitor", "conntrack", "ipv4", "protocol", "tcp", "port", "7777", "--json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	time.Sleep(500 * time.Millisecond) // the monitor has joined the groups

	err = ns.Do(func() error {
		l, err := net.Listen("tcp4", "127.0.0.1:7777")
		if err != nil {
			return err
		}
		defer l.Close()
		go func() {
			if c, err := l.Accept(); err == nil {
				buf := make([]byte, 5)
				c.Read(buf)
				c.Write(buf)
				c.Close()
			}
		}()
		c, err := net.Dial("tcp4", "127.0.0.1:7777")
		if err != nil {
			return err
		}
		c.Write([]byte("hello"))
		buf := make([]byte, 5)
		c.Read(buf)
		return c.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	reap := time.NewTicker(500 * time.Millisecond)
	defer reap.Stop()
	for !seen["destroy"] {
		select {
		case <-reap.C:
			reapExpired(ns.Name, 7777)
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("monitor ended early: %v", <-done)
			}
			var ev struct {
				Event string
				Flow  struct {
					Original struct{ Dport int }
				}
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			if ev.Flow.Original.Dport != 7777 {
				t.Errorf("an event the filter should have kept out: %s", l)
			}
			seen[ev.Event] = true
		case <-deadline:
			t.Fatalf("events seen: %v; want new, update and destroy", seen)
		}
	}
	if !seen["new"] || !seen["update"] {
		t.Errorf("events seen: %v; want new, update and destroy", seen)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("monitor after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("monitor did not stop on SIGINT")
	}
}

// TestMonitorOverrun: a monitor that cannot keep up (stopped while
// 250,000 entries are created: more events than its socket buffer
// holds) reports the overrun as a line, keeps running, and still shows
// an event that comes after.
func TestMonitorOverrun(t *testing.T) {
	nstest.Require(t, "conntrack")
	ns := nstest.New(t, "monov")
	ctsync, _ := nstest.Binaries(t)
	bin := filepath.Join(t.TempDir(), "ctfill")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ctsync/ctsync/internal/ctflow/bench/ctfill").CombinedOutput(); err != nil {
		t.Fatalf("building ctfill: %v\n%s", err, out)
	}
	// Only the marker flow (mark 7) is printed; every event is read.
	cmd := ns.Cmd(ctsync, "monitor", "conntrack", "ipv4", "mark", "7")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(500 * time.Millisecond)
	// ip netns exec execs ctsync: the pid is the monitor's own.
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ns.Run(bin, "-n", "250000")
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// While the monitor drains its queue the kernel still counts the
	// socket congested and drops new events: add a marker flow every
	// half second until one shows.
	var overrun, marker bool
	deadline := time.After(60 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	sport := 0
	for !marker {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("monitor ended (overrun seen: %v)", overrun)
			}
			switch {
			case strings.Contains(l, "[OVERRUN]"):
				overrun = true
			case strings.Contains(l, "[NEW]") && strings.Contains(l, "198.18.9.9:"):
				marker = true
			default:
				t.Errorf("unexpected line %q", l)
			}
		case <-tick.C:
			sport++
			ns.Run("conntrack", "-I", "-p", "tcp", "-s", "198.18.9.9", "-d", "198.19.9.9", "--sport", fmt.Sprint(sport), "--dport", "9",
				"--state", "ESTABLISHED", "-t", "600", "-m", "7")
		case <-deadline:
			t.Fatalf("overrun seen: %v, marker flow seen: %v", overrun, marker)
		}
	}
	t.Logf("the marker flow's event showed after %d tries", sport)
	if !overrun {
		t.Error("no overrun line after 250,000 events to a stopped monitor")
	}
}
