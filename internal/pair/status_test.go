package pair

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/supervise"
)

// TestCollectConntrackdByItsRecord: the pair view says conntrackd runs
// when the process its Started record names runs, and not when only a
// namesake does, with the pid file pointing at it.
func TestCollectConntrackdByItsRecord(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	if err := os.MkdirAll(root.RunDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Collector{Root: root, Schema: schema.Default(), Running: func() (*configtree.Node, int) { return configtree.New(), 0 }}
	foreign, alive := handlertest.Foreign(t, "conntrackd", "-C", root.ConntrackdConf())
	if err := os.WriteFile(root.ConntrackdPid(), []byte(fmt.Sprintln(foreign)), 0o644); err != nil {
		t.Fatal(err)
	}
	if ns := c.Collect(context.Background()); ns.Conntrackd {
		t.Errorf("conntrackd counted as running: only a process named conntrackd (pid %d) runs", foreign)
	}
	// The daemon as every starter starts it (a stand-in command line),
	// with its record: it runs.
	spec := conntrackd.Spec(root, "")
	spec = handler.EngineSpec{Name: spec.Name, Argv: handlertest.SleepArgv(t), PidFile: spec.PidFile, StartedFile: spec.StartedFile}
	pid, done, err := supervise.Spawn(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL); <-done })
	if ns := c.Collect(context.Background()); !ns.Conntrackd {
		t.Errorf("conntrackd pid %d, started with its record, not counted as running", pid)
	}
	if !alive() {
		t.Errorf("the foreign conntrackd was signalled")
	}
}
