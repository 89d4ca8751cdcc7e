package proc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestProc(t *testing.T) {
	self := os.Getpid()
	if !Alive(self) || Alive(0) || Alive(-1) {
		t.Fatal("Alive is wrong about this process or a non-pid")
	}
	if bin := filepath.Base(Argv(self)[0]); !Runs(self, bin) || Runs(self, bin+"x") {
		t.Fatalf("Runs is wrong about this process (%s)", bin)
	}

	// A child that exited but is not reaped yet is a zombie: gone.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip("no true binary")
	}
	pid := cmd.Process.Pid
	for i := 0; i < 200 && Alive(pid); i++ {
		exec.Command("sleep", "0.01").Run()
	}
	if Alive(pid) {
		t.Errorf("an exited, unreaped child (zombie) counts as alive")
	}
	cmd.Wait()

	if st := StartTime(self); st == nil || st.After(time.Now()) || time.Since(*st) > time.Hour {
		t.Errorf("StartTime of this test process = %v, want a moment ago", st)
	}
	if StartTime(-1) != nil {
		t.Error("StartTime of a non-pid")
	}

	dir := t.TempDir()
	pf := filepath.Join(dir, "x.pid")
	os.WriteFile(pf, []byte(strconv.Itoa(self)+"\n"), 0o644)
	if got, err := ReadPidFile(pf); err != nil || got != self {
		t.Errorf("ReadPidFile = %d, %v", got, err)
	}
	for _, bad := range []string{"", "abc", "-3", "0"} {
		os.WriteFile(pf, []byte(bad), 0o644)
		if _, err := ReadPidFile(pf); err == nil {
			t.Errorf("ReadPidFile accepted %q", bad)
		}
	}
	if _, err := ReadPidFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadPidFile of a missing file")
	}
}

func TestStop(t *testing.T) {
	for _, grace := range []time.Duration{time.Second, 0} {
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Skip("no sleep binary")
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		pid := cmd.Process.Pid
		start := time.Now()
		if err := Stop(pid, grace); err != nil {
			t.Fatalf("Stop(%d, %v): %v", pid, grace, err)
		}
		if Alive(pid) {
			t.Errorf("pid %d alive after Stop", pid)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("Stop took %v for a process that dies on the first signal", took)
		}
		<-done
	}
	if err := Stop(-1, time.Second); err != nil {
		t.Errorf("Stop of a non-pid: %v", err)
	}
}

func TestParsePid(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"4242\n", 4242, false},
		{"  17 \n", 17, false},
		{"99 extra", 99, false},
		{"", 0, true},
		{"abc", 0, true},
		{"1", 0, true},
		{"-5", 0, true},
	}
	for _, tc := range tests {
		got, err := ParsePid([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParsePid(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParsePid(f *testing.F) {
	for _, s := range []string{"4242\n", "", "x", " 12 13", "-1", "99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePid(b)
		if err == nil && p <= 1 {
			t.Fatalf("ParsePid(%q) = %d without error", b, p)
		}
	})
}

// TestTerminate stops children through their exit channel, as the
// supervisor and the lab do: one that obeys SIGTERM, one that ignores it
// (killed after the grace), and one whose grace a context cuts short.
func TestTerminate(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		grace      time.Duration
		cancel     bool
		wantKilled bool
	}{
		{name: "obeys SIGTERM", script: "exec sleep 300", grace: time.Minute},
		{name: "ignores SIGTERM", script: `trap "" TERM; exec sleep 300`, grace: 200 * time.Millisecond, wantKilled: true},
		{name: "context ends the grace", script: `trap "" TERM; exec sleep 300`, grace: time.Hour, cancel: true, wantKilled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("sh", "-c", tt.script)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			// The shell has set its trap once it is sleep (an ignored
			// signal stays ignored across exec).
			for i := 0; i < 500 && !Runs(cmd.Process.Pid, "sleep"); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			ctx, cancel := context.WithCancel(context.Background())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			killed, err := Terminate(ctx, cmd.Process.Pid, tt.grace, exited)
			if err != nil || killed != tt.wantKilled {
				t.Fatalf("Terminate = %v, %v; want killed %v", killed, err, tt.wantKilled)
			}
			select {
			case <-exited:
			default:
				t.Fatal("Terminate returned before the child exited")
			}
		})
	}
	if killed, err := Terminate(context.Background(), -1, time.Second, nil); killed || err != nil {
		t.Errorf("Terminate of a non-pid: %v, %v", killed, err)
	}
}

// TestReceives: a shell that traps a signal receives it; sleep does
// not (it would die of it); a process that blocks it receives it later
// (keepalived reads its signals from a signalfd); one that ignores it
// does not.
func TestReceives(t *testing.T) {
	trap := exec.Command("sh", "-c", "trap : USR1 36; while :; do sleep 1; done")
	ign := exec.Command("sh", "-c", "trap '' USR2; while :; do sleep 1; done")
	sleep := exec.Command("sleep", "30")
	for _, c := range []*exec.Cmd{trap, ign, sleep} {
		if err := c.Start(); err != nil {
			t.Skip(err)
		}
		defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	}
	// The shells take a moment to run their trap: until then they have
	// the default dispositions. Wait until every case holds, or report
	// those that still do not after a while.
	cases := []struct {
		pid  int
		sig  syscall.Signal
		want bool
	}{
		{trap.Process.Pid, syscall.SIGUSR1, true},
		{trap.Process.Pid, syscall.Signal(36), true},
		{trap.Process.Pid, syscall.SIGUSR2, false},
		{ign.Process.Pid, syscall.SIGUSR2, false},
		{sleep.Process.Pid, syscall.SIGUSR1, false},
		{sleep.Process.Pid, syscall.Signal(36), false},
		// The Go runtime has a handler for every signal: this test
		// receives SIGUSR1.
		{os.Getpid(), syscall.SIGUSR1, true},
		{-1, syscall.SIGUSR1, false},
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		all := true
		for _, c := range cases {
			all = all && Receives(c.pid, c.sig) == c.want
		}
		if all {
			break
		}
	}
	for _, c := range cases {
		if got := Receives(c.pid, c.sig); got != c.want {
			t.Errorf("Receives(%d, %d) = %v, want %v", c.pid, c.sig, got, c.want)
		}
	}
}

func TestParseNetlinkBacklog(t *testing.T) {
	const table = `sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
0000000000000001 0   0          00000000 0        0        0     2        0        4
0000000000000002 12  1234       00000007 212992   0        0     2        0        5001
0000000000000003 12  2345       00000000 4096     0        0     2        0        5002
0000000000000004 12  3456       00000007 999      0        0     2        0        5003
0000000000000005 9   4567       00000001 777      0        0     2        0        5004
`
	tests := []struct {
		name   string
		inodes map[string]bool
		want   int
	}{
		{"conntrackd's event socket", map[string]bool{"5001": true}, 212992},
		{"all of its netfilter sockets", map[string]bool{"5001": true, "5002": true}, 217088},
		{"another process's socket is not counted", map[string]bool{"5002": true}, 4096},
		{"audit sockets are not netfilter", map[string]bool{"5004": true}, 0},
		{"none", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetlinkBacklog(table, tt.inodes)
			if err != nil || got != tt.want {
				t.Errorf("parseNetlinkBacklog = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
	if _, err := parseNetlinkBacklog("sk Pid\n1 2\n", nil); err == nil {
		t.Error("an unknown header parsed without error")
	}
}

func TestNetlinkBacklogOfThisProcess(t *testing.T) {
	// Any process can read its own table; the test process holds no
	// netfilter socket, so nothing is pending.
	n, err := NetlinkBacklog(os.Getpid())
	if err != nil || n != 0 {
		t.Errorf("NetlinkBacklog(self) = %d, %v; want 0, nil", n, err)
	}
}
