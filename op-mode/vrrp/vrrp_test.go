package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	confvrrp "github.com/ctsync/ctsync/conf-mode/vrrp"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
	"github.com/ctsync/ctsync/internal/supervise"
)

func init() { location = time.UTC }

// captured reads a dump recorded from a real keepalived pair by
// TestIntegrationCaptureDumps.
func captured(t testing.TB, role, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(golden.Dir("keepalived-dumps", role+"-"+file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden renders every show command from the dumps of a real master
// and backup, as text and as JSON.
func TestGolden(t *testing.T) {
	for _, role := range []string{"master", "backup"} {
		inst, err := ParseJSON(captured(t, role, "keepalived.json"))
		if err != nil {
			t.Fatal(err)
		}
		data, err := ParseData(captured(t, role, "keepalived.data"))
		if err != nil {
			t.Fatal(err)
		}
		st, err := ParseStats(captured(t, role, "keepalived.stats"))
		if err != nil {
			t.Fatal(err)
		}
		for _, asJSON := range []bool{false, true} {
			ext := ".txt"
			if asJSON {
				ext = ".json"
			}
			for name, write := range map[string]func(*bytes.Buffer) error{
				"summary":    func(b *bytes.Buffer) error { return WriteSummary(b, inst, asJSON) },
				"detail":     func(b *bytes.Buffer) error { return WriteDetail(b, Details(inst, data), asJSON) },
				"statistics": func(b *bytes.Buffer) error { return WriteStatistics(b, st, asJSON) },
				"sync-group": func(b *bytes.Buffer) error { return WriteSyncGroups(b, SyncGroups(data), asJSON) },
			} {
				var b bytes.Buffer
				if err := write(&b); err != nil {
					t.Fatal(err)
				}
				golden.Check(t, golden.Dir("op-mode", "vrrp", role+"-"+name+ext), b.Bytes())
			}
		}
	}
}

func TestParseJSONFields(t *testing.T) {
	inst, err := ParseJSON(captured(t, "backup", "keepalived.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inst) != 2 {
		t.Fatalf("got %d instances, want 2", len(inst))
	}
	w := inst[1]
	w.LastTransition = nil
	want := Instance{Name: "wan", Interface: "eth0", VRID: 10, State: "BACKUP", WantState: "BACKUP", Priority: 100,
		BasePriority: 100, MasterPriority: 200, Addresses: []string{"198.18.0.101/24"}, AdvertInterval: 1, Preempt: true, Version: 2}
	if diff := cmp.Diff(want, w); diff != "" {
		t.Errorf("wan (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	for name, f := range map[string]func() error{
		"json not json":       func() error { _, err := ParseJSON([]byte("{")); return err },
		"json no name":        func() error { _, err := ParseJSON([]byte(`[{"data":{}}]`)); return err },
		"data no sections":    func() error { _, err := ParseData([]byte("hello\n")); return err },
		"stats no instance":   func() error { _, err := ParseStats([]byte("  Sent: 3\n")); return err },
		"stats not a count":   func() error { _, err := ParseStats([]byte("VRRP Instance: a\n  Became master: x\n")); return err },
		"stats stray heading": func() error { _, err := ParseStats([]byte("Something else\n")); return err },
	} {
		if err := f(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
}

func TestSyncGroupsMembersStates(t *testing.T) {
	d, err := ParseData(captured(t, "backup", "keepalived.data"))
	if err != nil {
		t.Fatal(err)
	}
	want := []SyncGroup{{Name: "MAIN", State: "BACKUP", Members: []Member{{"lan", "BACKUP"}, {"wan", "BACKUP"}}}}
	if diff := cmp.Diff(want, SyncGroups(d)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func FuzzParseJSON(f *testing.F) {
	f.Add(captured(f, "master", "keepalived.json"))
	f.Add([]byte(`[{"data":{"iname":"x","last_transition":1e300,"state":77}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inst, err := ParseJSON(b)
		if err != nil {
			return
		}
		for _, in := range inst {
			if in.Name == "" || in.State == "" || in.Addresses == nil {
				t.Fatalf("incomplete instance %+v", in)
			}
		}
		_ = WriteSummary(&bytes.Buffer{}, inst, false)
	})
}

func FuzzParseData(f *testing.F) {
	f.Add(captured(f, "master", "keepalived.data"))
	f.Add(captured(f, "backup", "keepalived.data"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseData(b)
		if err != nil {
			return
		}
		for _, g := range SyncGroups(d) {
			if g.Members == nil {
				t.Fatal("nil members")
			}
		}
		_ = Details(nil, d)
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add(captured(f, "master", "keepalived.stats"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStats(b)
		if err != nil {
			return
		}
		for _, s := range st {
			if s.Name == "" {
				t.Fatal("instance without a name")
			}
		}
	})
}

// TestSameKeepalived: restart asks for the engine the supervisor runs,
// and show reads where the supervisor makes keepalived write.
func TestSameKeepalived(t *testing.T) {
	if engine != confvrrp.Engine {
		t.Errorf("engine %q, conf-mode/vrrp runs %q", engine, confvrrp.Engine)
	}
	root := paths.Root{Dir: "/srv/r1"}
	env := confvrrp.Spec(root).Env
	if want := "TMPDIR=" + root.KeepalivedDumpDir(); len(env) != 1 || env[0] != want {
		t.Errorf("keepalived's environment %q, want %q", env, want)
	}
}

// TestEnviron reads another process's environment, as Keepalived does
// to see where a running keepalived writes its dumps.
func TestEnviron(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.Env = []string{"A=1", "TMPDIR=/srv/r1/run/ctsync", "B=2"}
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Until the child has exec'd, /proc shows the test's own environment.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if argv := proc.Argv(cmd.Process.Pid); len(argv) > 0 && filepath.Base(argv[0]) == "sleep" {
			break
		}
	}
	if got := environ(cmd.Process.Pid, "TMPDIR"); got != "/srv/r1/run/ctsync" {
		t.Errorf("TMPDIR %q", got)
	}
	if got := environ(cmd.Process.Pid, "HOME"); got != "" {
		t.Errorf("HOME %q, want none", got)
	}
}

// TestKeepalivedIsItsStartedRecord: show vrrp signals keepalived for its
// dumps, so it must find the keepalived started for this router, by the
// Started record every starter writes (pid, start ticks, command line),
// not by a pid file and a name: a namesake that even writes its dumps
// where this router's keepalived would is neither found nor signalled.
func TestKeepalivedIsItsStartedRecord(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	if err := os.MkdirAll(root.RunDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", root.KeepalivedDumpDir())
	foreign, alive := handlertest.Foreign(t, "keepalived", "--dont-fork", "-f", root.KeepalivedConf(), "-p", root.KeepalivedPid())
	if err := os.WriteFile(root.KeepalivedPid(), []byte(fmt.Sprintln(foreign)), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, _, err := Keepalived(root); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Keepalived = %d, %v (the foreign process is %d), want ErrNotRunning", pid, err, foreign)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := Fetch(ctx, root, JSONDump); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Fetch = %v, want ErrNotRunning", err)
	}
	if !alive() {
		t.Errorf("the foreign keepalived (pid %d) was signalled", foreign)
	}
	// Started as the supervisor starts keepalived (a stand-in command
	// line), it is found, with its dump folder. Until it catches the
	// dump signal (a keepalived still starting) it is not signalled:
	// the signal would kill it.
	spec := confvrrp.Spec(root)
	spec.ConfigFile = ""
	spec.Argv = standIn(t, "sleep 0.7; trap 'printf \"[]\" > \"$TMPDIR/keepalived.json\"' 36; while :; do sleep 0.05; done")
	pid, done, err := supervise.Spawn(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL); <-done })
	got, dir, err := Keepalived(root)
	if err != nil || got != pid || dir != root.KeepalivedDumpDir() {
		t.Errorf("Keepalived = %d, %s, %v; want %d, %s", got, dir, err, pid, root.KeepalivedDumpDir())
	}
	b, err := Fetch(context.Background(), root, JSONDump)
	if err != nil || string(b) != "[]" {
		t.Errorf("Fetch from the keepalived started for the router: %q, %v", b, err)
	}
	select {
	case <-done:
		t.Fatal("the dump signal killed keepalived while it started")
	default:
	}
}

// standIn is the command line of a stand-in engine running script in
// sh, unique to this test (see handlertest.SleepArgv).
func standIn(t *testing.T, script string) []string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	return []string{sh, "-c", script, filepath.Base(handlertest.SleepArgv(t)[1])}
}
