//go:build integration

package conntracksync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
	"github.com/ctsync/ctsync/op-mode/conntrack"
)

const conf = `Sync {
	Mode FTFW {
	}
	UDP {
		IPv4_address %s
		IPv4_Destination_Address %s
		Port 3780
		Interface eth1
		Checksum on
	}
}
General {
	HashSize 8192
	HashLimit 65536
	Syslog off
	LogFile %s/conntrackd.log
	LockFile %s
	UNIX {
		Path %s
	}
	NetlinkEventsReliable on
	Filter From Userspace {
		Protocol Accept {
			TCP
			UDP
		}
	}
}
`

const runningBoot = `service {
    conntrack-sync {
        failover-mechanism {
            vrrp {
                sync-group MAIN
            }
        }
        interface eth1 {
            peer %s
        }
    }
}
`

// node starts conntrackd in ns under a fresh root and stops it (by pid,
// waiting for it) when the test ends.
func node(t *testing.T, ns *nstest.NS, me, peer string) paths.Root {
	t.Helper()
	root := paths.Root{Dir: t.TempDir()}
	for _, d := range []string{root.RunDir(), root.EtcDir(), root.StateDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(root.ConntrackdConf(), []byte(fmt.Sprintf(conf, me, peer, root.RunDir(), root.ConntrackdLock(), root.ConntrackdSocket())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root.RunningConfig(), []byte(fmt.Sprintf(runningBoot, peer)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The conntrack-sync handler installs these with conntrackd.conf.
	if err := os.WriteFile(root.FailoverFacts(), transition.EncodeFacts(transition.Facts{SyncGroup: "MAIN"}), 0o644); err != nil {
		t.Fatal(err)
	}
	// Started the way every starter does (supervise.Spawn), so that its
	// Started record ties readiness and the refill to this process.
	var pid int
	var done <-chan struct{}
	if err := ns.Do(func() error {
		var err error
		pid, done, err = transition.StartConntrackd(root, "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
	})
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(root.ConntrackdSocket()); err == nil {
			return root
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("conntrackd in %s did not open its socket", ns.Name)
	return root
}

func run(t *testing.T, root paths.Root, words ...string) string {
	t.Helper()
	cmd, rest, err := opcmd.Lookup(words)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := cmd.Run(context.Background(), &opcmd.Env{Root: root, Out: &out, Err: &errb}, rest); err != nil {
		t.Fatalf("%s: %v", strings.Join(words, " "), err)
	}
	return out.String()
}

func TestIntegrationSync(t *testing.T) {
	nstest.Require(t, "conntrackd", "conntrack")
	a, b := nstest.New(t, "h4a"), nstest.New(t, "h4b")
	nstest.Link(t, a, "eth1", b, "eth1")
	a.Addr("eth1", "198.18.77.1/24")
	b.Addr("eth1", "198.18.77.2/24")
	ra := node(t, a, "198.18.77.1", "198.18.77.2")
	rb := node(t, b, "198.18.77.2", "198.18.77.1")
	const n = 30
	for i := 1; i <= n; i++ {
		a.Run("conntrack", "-I", "-p", "tcp", "-s", fmt.Sprintf("192.0.2.%d", i), "-d", "198.51.100.1",
			"--sport", fmt.Sprint(40000+i), "--dport", "80", "--state", "ESTABLISHED", "-t", "600", "-u", "ASSURED,SEEN_REPLY")
	}

	// The kernel table, streamed, has what conntrack -L has.
	var listed int
	if err := a.Do(func() error {
		s, err := ctflow.Dial()
		if err != nil {
			return err
		}
		defer s.Close()
		var out bytes.Buffer
		if err := conntrack.Table(context.Background(), s, ctflow.Query{Family: ctflow.FamilyIPv4}, &out, false); err != nil {
			return err
		}
		listed = strings.Count(out.String(), "\n") - 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctL := strings.Count(a.Run("conntrack", "-L"), "\n") - 1 // its summary line goes to stderr, merged here
	if listed != n || ctL != n {
		t.Errorf("show conntrack table listed %d, conntrack -L %d, want %d", listed, ctL, n)
	}

	// Let the sync settle, then compare with conntrackd's own client.
	deadline := time.Now().Add(10 * time.Second)
	ca := &conntrackd.Client{Path: ra.ConntrackdSocket()}
	cb := &conntrackd.Client{Path: rb.ConntrackdSocket()}
	for time.Now().Before(deadline) {
		if c, _ := cacheCount(context.Background(), cb, "external"); c == n {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	st, err := ReadStatistics(context.Background(), ca, false)
	if err != nil {
		t.Fatal(err)
	}
	text := a.Run("conntrackd", "-C", ra.ConntrackdConf(), "-s")
	if !strings.Contains(text, fmt.Sprintf("current active connections:\t%12d", st.Cache["internal"].Current)) || st.Cache["internal"].Current != n {
		t.Errorf("internal current = %d, conntrackd -s says:\n%s", st.Cache["internal"].Current, text)
	}
	for _, tc := range []struct {
		root  paths.Root
		ns    *nstest.NS
		which string
		flag  string
	}{{ra, a, "internal", "-i"}, {rb, b, "external", "-e"}} {
		got := strings.Count(run(t, tc.root, "show", "conntrack-sync", "cache", tc.which), "\n") - 1
		want := strings.Count(tc.ns.Run("conntrackd", "-C", filepath.Join(tc.root.EtcDir(), "conntrackd.conf"), tc.flag, "-x"), "\n")
		if got != want || got != n {
			t.Errorf("cache %s: show lists %d, conntrackd %s -x %d, want %d", tc.which, got, tc.flag, want, n)
		}
	}

	// Reset does what it says: the caches come back with every entry.
	out := run(t, rb, "reset", "conntrack-sync", "external-cache")
	if !strings.Contains(out, fmt.Sprintf("flushed (%d entries)", n)) {
		t.Errorf("reset external: %q", out)
	}
	if c, _ := cacheCount(context.Background(), cb, "external"); c != n {
		t.Errorf("external cache after reset = %d, want %d (%s)", c, n, out)
	}
	out = run(t, ra, "reset", "conntrack-sync", "internal-cache")
	if c, _ := cacheCount(context.Background(), ca, "internal"); c != n {
		t.Errorf("internal cache after reset = %d, want %d (%s)", c, n, out)
	}

	// Status tells the truth: no refill was recorded for either
	// conntrackd (nothing but this test started them), so neither is ready.
	status := run(t, rb, "show", "conntrack-sync", "status")
	if !strings.Contains(status, "ready for failover : NO (") || !strings.Contains(status, "external cache emptied by a conntrackd restart at ") ||
		!strings.Contains(status, "no refill recorded") {
		t.Errorf("status before any refill:\n%s", status)
	}
	// ra is the master, rb the backup; each refills as ctsyncd would.
	for _, r := range []struct {
		root paths.Root
		role string
	}{{ra, transition.Master}, {rb, transition.Backup}} {
		vs := fmt.Sprintf(`{"MAIN": {"state": %q, "since": %q, "seq": 1}}`, r.role, time.Now().UTC().Format(time.RFC3339))
		if err := os.WriteFile(r.root.VRRPState(), []byte(vs), 0o644); err != nil {
			t.Fatal(err)
		}
		rec, err := transition.Refill(context.Background(), transition.RefillOptions{Root: r.root, By: "test", Wait: 10 * time.Second})
		if err != nil || rec.State != transition.RefillDone {
			t.Fatalf("refill as %s: %+v, %v", r.role, rec, err)
		}
	}
	for _, r := range []paths.Root{ra, rb} {
		t0 := time.Now()
		status = run(t, r, "show", "conntrack-sync", "status")
		took := time.Since(t0)
		// No keepalived runs in this test: that is all that keeps the
		// nodes from being ready (the lab tests run it).
		if !strings.Contains(status, "ready for failover : NO (keepalived is not running)\n") || !strings.Contains(status, "replication           : healthy") ||
			!strings.Contains(status, "eth1 (unicast, peer") || !strings.Contains(status, "cache refill          : done at ") {
			t.Errorf("status after the refill:\n%s", status)
		}
		t.Logf("show conntrack-sync status took %v:\n%s", took, status)
	}
	var js struct {
		Ready       *bool   `json:"ready"`
		ReadyReason *string `json:"ready_reason"`
	}
	var jout, errb bytes.Buffer
	cmd, rest, _ := opcmd.Lookup([]string{"show", "conntrack-sync", "status"})
	if err := cmd.Run(context.Background(), &opcmd.Env{Root: rb, Out: &jout, Err: &errb, JSON: true}, rest); err != nil {
		t.Fatal(err)
	}
	out = jout.String()
	if err := json.Unmarshal(jout.Bytes(), &js); err != nil || js.Ready == nil || *js.Ready || js.ReadyReason == nil || *js.ReadyReason != "keepalived is not running" {
		t.Errorf("status --json: %v\n%s", err, out)
	}
}
