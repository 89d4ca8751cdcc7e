//go:build integration

package conntrack

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/nstest"
)

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestLabResetAndMonitor, in the two-router lab: on the master r1,
// `reset conntrack ipv4 mark 1` removes exactly the 25,000 marked
// entries of 100,000 made there and reports that count, while the
// lab's own TCP flows through r1 stay in the table and keep working;
// `monitor conntrack` on r1 shows the new, update and destroy events of
// a flow opened and closed through it during the monitor.
func TestLabResetAndMonitor(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "nft", "conntrack")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ctsync, _ := nstest.Binaries(t)
	p, err := lab.StartPair(ctx, lab.PairOptions{BinDir: filepath.Dir(ctsync), WorkDir: t.TempDir(), Out: logWriter{t}})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.Keep()
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	r1 := p.Router("r1")
	run := func(args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", r1.NS, r1.Ctsync, "--root", r1.Root.Dir}, args...)...)
	}
	const nflows = 10
	flows, err := p.StartFlows(ctx, nflows, lab.ClientSends)
	if err != nil {
		t.Fatal(err)
	}
	defer flows.Stop()

	// 100,000 entries from 10.x.y.z, every fourth with mark 1.
	bin := filepath.Join(t.TempDir(), "ctfill")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ctsync/ctsync/internal/ctflow/bench/ctfill").CombinedOutput(); err != nil {
		t.Fatalf("building ctfill: %v\n%s", err, out)
	}
	if out, err := exec.Command("ip", "netns", "exec", r1.NS, bin, "-n", "100000", "-mark-every", "4").CombinedOutput(); err != nil {
		t.Fatalf("ctfill: %v\n%s", err, out)
	}
	count := func() (filled, marked, labFlows int) {
		out, err := run("show", "conntrack", "table", "ipv4", "--json").Output()
		if err != nil {
			t.Fatalf("show conntrack table: %v", err)
		}
		var fs []struct {
			Mark     uint32
			Original struct {
				Src   string
				Dport int
			}
		}
		if err := json.Unmarshal(out, &fs); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			switch {
			case strings.HasPrefix(f.Original.Src, "10."):
				filled++
				if f.Mark == 1 {
					marked++
				}
			case f.Original.Dport == lab.ServerPort:
				labFlows++
			}
		}
		return filled, marked, labFlows
	}
	if filled, marked, labFlows := count(); filled != 100000 || marked != 25000 || labFlows != nflows {
		t.Fatalf("before reset: %d filled, %d marked, %d lab flows", filled, marked, labFlows)
	}
	out, err := run("reset", "conntrack", "ipv4", "mark", "1", "--yes", "--json").Output()
	if err != nil {
		t.Fatalf("reset: %v", err)
	}
	var res ctflow.DeleteResult
	if err := json.Unmarshal(out, &res); err != nil || res.Removed != 25000 {
		t.Fatalf("reset reported %s (%v), want 25000 removed", out, err)
	}
	if filled, marked, labFlows := count(); filled != 75000 || marked != 0 || labFlows != nflows {
		t.Fatalf("after reset: %d filled, %d marked, %d lab flows; want 75000, 0, %d", filled, marked, labFlows, nflows)
	}
	flows.Mark()
	time.Sleep(2 * time.Second)
	if s := flows.Snapshot(); s.Alive != nflows || s.Dead != 0 || s.Stalled != 0 {
		t.Errorf("the lab's flows after the reset: %+v; want every one alive", s)
	}

	// monitor: one more flow, opened and closed while it runs.
	exec.Command("ip", "netns", "exec", r1.NS, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=1").Run()
	mon := run("monitor", "conntrack", "ipv4", "protocol", "tcp", "port", fmt.Sprint(lab.ServerPort), "--json")
	stdout, err := mon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mon.Process.Kill() })
	events := make(chan map[string]any, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
		close(events)
	}()
	time.Sleep(500 * time.Millisecond)
	one, err := p.StartFlows(ctx, 1, lab.ClientSends)
	if err != nil {
		t.Fatal(err)
	}
	ports := one.LocalPorts()
	time.Sleep(time.Second)
	one.Stop()
	seen := map[string]bool{}
	deadline := time.After(20 * time.Second)
	reap := time.NewTicker(500 * time.Millisecond)
	defer reap.Stop()
	for !(seen["new"] && seen["update"] && seen["destroy"]) {
		select {
		case <-reap.C:
			reapExpired(r1.NS, lab.ServerPort)
		case ev, ok := <-events:
			if !ok {
				t.Fatal("monitor ended early")
			}
			flow, _ := ev["flow"].(map[string]any)
			orig, _ := flow["original"].(map[string]any)
			if sport, _ := orig["sport"].(float64); ports[uint16(sport)] {
				seen[ev["event"].(string)] = true
			}
		case <-deadline:
			t.Fatalf("events of the new flow seen: %v; want new, update and destroy", seen)
		}
	}
	_ = mon.Process.Signal(syscall.SIGINT)
	if err := mon.Wait(); err != nil {
		t.Errorf("monitor after SIGINT: %v, want exit 0", err)
	}
}
