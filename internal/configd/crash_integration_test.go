//go:build integration

package configd_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/conf-mode/vrrp"
	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/proc"
)

// crashBinary builds ctsyncd with its crash points (-tags crashtest).
func crashBinary(t *testing.T) string {
	t.Helper()
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ctsyncd-crash")
	cmd := exec.Command("go", "build", "-tags", "crashtest", "-o", bin, "./cmd/ctsyncd")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the crashtest ctsyncd: %v\n%s", err, out)
	}
	return bin
}

var crashBase = []string{
	"set high-availability vrrp group wan interface eth0",
	"set high-availability vrrp group wan vrid 1",
	"set high-availability vrrp group wan address 198.18.0.101/24",
	"set high-availability vrrp sync-group MAIN member wan",
	"set service conntrack-sync interface eth1 peer 198.18.10.3",
	"set service conntrack-sync failover-mechanism vrrp sync-group MAIN",
	"commit",
}

// The commit the matrix cuts short: conntrackd must restart (its port),
// keepalived reload (its vrid).
var crashChange = []string{
	"set service conntrack-sync interface eth1 port 3781",
	"set high-availability vrrp group wan vrid 2",
	"commit",
}

// TestIntegrationCrashMatrix runs a real commit (a conntrackd port
// change and a VRRP change) and stops ctsyncd at each point where it
// renames a file into place or starts an engine, with SIGKILL and with
// SIGTERM. After each it restarts ctsyncd and checks that exactly one
// conntrackd and one keepalived run for the root, that the port
// conntrackd listens on, conntrackd.conf, keepalived.conf, `show
// configuration` and `show system commit` revision 0 all describe the
// same revision (the old one or the new one), and that a following
// commit works.
func TestIntegrationCrashMatrix(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "ss")
	bin := crashBinary(t)
	points := []string{
		"journalled",
		"installed conntrackd.conf",
		"installed keepalived.conf",
		"engine-started conntrackd",
		"engine-recorded conntrackd",
		"applied conntrack-sync",
		"applied vrrp",
		"recorded",
		"archived",
	}
	for _, sig := range []string{"KILL", "TERM"} {
		for _, point := range points {
			t.Run(sig+"/"+point, func(t *testing.T) {
				crashCase(t, bin, sig, point)
			})
		}
	}
}

func crashCase(t *testing.T, bin, sig, point string) {
	r1 := nstest.New(t, "crash")
	peer := nstest.New(t, "cpeer")
	nstest.Link(t, r1, "eth0", peer, "eth0")
	nstest.Link(t, r1, "eth1", peer, "eth1")
	r1.Addr("eth0", "198.18.0.2/24")
	r1.Addr("eth1", "198.18.10.2/24")
	peer.Addr("eth1", "198.18.10.3/24")
	arm := filepath.Join(t.TempDir(), "arm")
	r := nstest.NewRouterBinary(t, r1, bin, "CTSYNC_CRASH_AT="+point, "CTSYNC_CRASH_SIGNAL="+sig, "CTSYNC_CRASH_ARM="+arm)
	r.MustConfigure(crashBase...)
	if err := os.WriteFile(arm, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := r.Configure(crashChange...)
	if _, armed := os.Stat(arm); armed == nil {
		t.Fatalf("the commit never reached %q (err %v)\n%s", point, err, errOut)
	}
	if sig == "TERM" && err != nil {
		t.Errorf("SIGTERM during the commit: the commit did not finish: %v\n%s", err, errOut)
	}
	if !r.Wait(90 * time.Second) {
		t.Fatalf("ctsyncd still runs after SIG%s", sig)
	}
	r.SetEnv()
	r.Start()
	// The socket exists from before the start's recovery; a session is
	// served only after it.
	r.MustConfigure("show service conntrack-sync")

	// KILL before the running config is recorded undoes the commit;
	// after it, or TERM anywhere, the commit stands.
	wantNew := sig == "TERM" || point == "recorded" || point == "archived"
	port, vrid := "3780", "1"
	if wantNew {
		port, vrid = "3781", "2"
	}
	checkOneEngine(t, r)
	waitFor(t, "conntrackd listening on the port of the revision", func() error {
		out, err := r.NS.Try("ss", "-Hlun")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "198.18.10.2:"+port+" ") {
			return fmt.Errorf("ss -lun:\n%s", out)
		}
		return nil
	})
	if c := mustRead(t, r.Root.ConntrackdConf()); !strings.Contains(c, "Port "+port+"\n") {
		t.Errorf("conntrackd.conf is not of the revision with port %s:\n%s", port, c)
	}
	if k := mustRead(t, r.Root.KeepalivedConf()); !strings.Contains(k, "virtual_router_id "+vrid+"\n") {
		t.Errorf("keepalived.conf is not of the revision with vrid %s:\n%s", vrid, k)
	}
	show, errOut, err := r.Run("", "show", "configuration", "commands")
	if err != nil {
		t.Fatalf("show configuration: %v\n%s", err, errOut)
	}
	if strings.Contains(show, "port 3781") != wantNew || !strings.Contains(show, "vrid "+vrid) {
		t.Errorf("show configuration is not the revision with port %s, vrid %s:\n%s", port, vrid, show)
	}
	out, errOut, err := r.Run("", "--json", "show", "system", "commit", "diff", "0")
	if err != nil {
		t.Fatalf("show system commit diff 0: %v\n%s", err, errOut)
	}
	var e archive.Entry
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("show system commit diff 0: %v\n%s", err, out)
	}
	at, err := e.Tree()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(at.Commands(), "\n"); strings.Contains(got, "port 3781") != wantNew || !strings.Contains(got, "vrid "+vrid) {
		t.Errorf("show system commit revision 0 is another revision:\n%s", got)
	}
	running, err := configtree.Parse(strings.NewReader(mustRead(t, r.Root.RunningConfig())))
	if err != nil {
		t.Fatal(err)
	}
	if !configtree.Equal(at, running) {
		t.Errorf("revision 0 and the running config differ:\n%s", configtree.Diff(at, running))
	}
	r.MustConfigure("set high-availability vrrp group wan vrid 3", "set service conntrack-sync interface eth1 port 3782", "commit")
	checkOneEngine(t, r)
	waitFor(t, "conntrackd on the following commit's port", func() error {
		out, _ := r.NS.Try("ss", "-Hlun")
		if !strings.Contains(out, "198.18.10.2:3782 ") {
			return fmt.Errorf("ss -lun:\n%s", out)
		}
		return answers(r)
	})
}

// checkOneEngine checks that exactly one conntrackd and one keepalived
// (its main process: keepalived forks its VRRP child with the same
// command line) run for the router's root.
func checkOneEngine(t *testing.T, r *nstest.Router) {
	t.Helper()
	bin, err := conntrackd.Binary()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"conntrackd": conntrackd.Spec(r.Root, bin).Argv,
		"keepalived": vrrp.Spec(r.Root).Argv,
	}
	waitFor(t, "one conntrackd and one keepalived", func() error {
		pids := proc.NetnsPids(r.NS.Name)
		for name, argv := range want {
			n := 0
			for _, pid := range pids {
				if slices.Equal(proc.Argv(pid), argv) && !slices.Equal(proc.Argv(ppid(pid)), argv) {
					n++
				}
			}
			if n != 1 {
				return fmt.Errorf("%d %s processes for the root", n, name)
			}
		}
		return nil
	})
}

func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
