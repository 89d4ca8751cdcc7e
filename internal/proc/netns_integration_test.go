//go:build integration

package proc_test

import (
	"slices"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/proc"
)

func TestNetnsPidsAndKillNetns(t *testing.T) {
	nstest.Require(t)
	ns := nstest.New(t, "proc")
	other := nstest.New(t, "procx")
	in := ns.Cmd("sleep", "300")
	out := other.Cmd("sleep", "300")
	for _, c := range []interface{ Start() error }{in, out} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { out.Process.Kill(); out.Wait() })
	go in.Wait()
	// ip netns exec execs the command, so the pid becomes sleep's own in
	// the namespace once ip has switched into it: wait for that.
	deadline := time.Now().Add(5 * time.Second)
	for !proc.InNetns(in.Process.Pid, ns.Name) || !proc.InNetns(out.Process.Pid, other.Name) {
		if time.Now().After(deadline) {
			t.Fatal("the sleeps never entered their namespaces")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pids := proc.NetnsPids(ns.Name); !slices.Contains(pids, in.Process.Pid) || slices.Contains(pids, out.Process.Pid) {
		t.Fatalf("NetnsPids(%s) = %v; want %d and not %d", ns.Name, pids, in.Process.Pid, out.Process.Pid)
	}
	if !proc.InNetns(in.Process.Pid, ns.Name) || proc.InNetns(in.Process.Pid, other.Name) {
		t.Fatal("InNetns is wrong about which namespace sleep runs in")
	}
	if err := proc.KillNetns(ns.Name); err != nil {
		t.Fatal(err)
	}
	if pids := proc.NetnsPids(ns.Name); len(pids) != 0 {
		t.Fatalf("after KillNetns, %s still runs %v", ns.Name, pids)
	}
	if !proc.Alive(out.Process.Pid) {
		t.Fatal("KillNetns killed a process of another namespace")
	}
}
