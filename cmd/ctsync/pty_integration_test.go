//go:build integration

package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ctsync/ctsync/internal/nstest"
)

// TestShellOnTerminalInNamespace: the same terminal session, the shell
// running in a namespace of its own with a veth pair: completion after
// `interface` lists that namespace's interfaces, not the host's.
func TestShellOnTerminalInNamespace(t *testing.T) {
	nstest.Require(t)
	root, stop, err := startService(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ns := nstest.New(t, "shell")
	ns.Run("ip", "link", "add", "sync0", "type", "veth", "peer", "name", "sync1")
	bin := ctsyncBinary(t)
	shellSession(t, func() *exec.Cmd { return ns.Cmd(bin, "--root", root.Dir, "configure") }, []string{"lo", "sync0", "sync1"}, hostInterfaces())
}

// hostInterfaces are the interfaces of the test's own namespace but lo.
func hostInterfaces() []string {
	ifs, _ := net.Interfaces()
	var out []string
	for _, i := range ifs {
		if i.Name != "lo" {
			out = append(out, i.Name)
		}
	}
	return out
}
