package supervise

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStartedRecord: Spawn records the pid with its start ticks and the
// hash of the config file read at start; the record tells a replaced file
// and a dead or reused pid from the engine that runs.
func TestStartedRecord(t *testing.T) {
	spec := sleepSpec(t)
	dir := filepath.Dir(spec.PidFile)
	spec.ConfigFile = filepath.Join(dir, "sleeper.conf")
	spec.StartedFile = filepath.Join(dir, "sleeper.started.json")
	if err := os.WriteFile(spec.ConfigFile, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid, done, err := Spawn(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		<-done
	})
	st, err := ReadStarted(spec)
	if err != nil || st == nil {
		t.Fatalf("ReadStarted = %v, %v; want a record", st, err)
	}
	if st.Pid != pid {
		t.Errorf("recorded pid %d, want %d", st.Pid, pid)
	}
	if !st.Running() {
		t.Error("Running() = false for the process just started")
	}
	if !st.ConfigCurrent(spec) {
		t.Error("ConfigCurrent() = false for the file it started with")
	}
	if err := os.WriteFile(spec.ConfigFile, []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st.ConfigCurrent(spec) {
		t.Error("ConfigCurrent() = true after the file changed")
	}
	if err := os.WriteFile(spec.ConfigFile, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !st.ConfigCurrent(spec) {
		t.Error("ConfigCurrent() = false for a file rewritten with the same bytes")
	}
	reused := *st
	reused.StartTicks++
	if reused.Running() {
		t.Error("Running() = true for the same pid with other start ticks (a reused pid)")
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-done
	if st.Running() {
		t.Error("Running() = true after the process exited")
	}
}

func TestReadStartedMissing(t *testing.T) {
	spec := sleepSpec(t)
	spec.StartedFile = filepath.Join(t.TempDir(), "none.json")
	if st, err := ReadStarted(spec); st != nil || err != nil {
		t.Errorf("ReadStarted of a missing record = %v, %v; want nil, nil", st, err)
	}
}
