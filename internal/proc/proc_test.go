package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	if FromPidFile(pf, filepath.Base(Argv(self)[0])) != self || FromPidFile(pf, "conntrackd") != 0 {
		t.Error("FromPidFile does not check the binary")
	}
	for _, bad := range []string{"", "abc", "-3", "0"} {
		os.WriteFile(pf, []byte(bad), 0o644)
		if _, err := ReadPidFile(pf); err == nil {
			t.Errorf("ReadPidFile accepted %q", bad)
		}
	}
	if FromPidFile(filepath.Join(dir, "missing"), "x") != 0 {
		t.Error("FromPidFile of a missing file")
	}
}
