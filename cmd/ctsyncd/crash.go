//go:build crashtest

package main

import (
	"os"
	"syscall"

	"github.com/ctsync/ctsync/internal/supervise"
)

// A ctsyncd built with -tags crashtest signals itself at one point of a
// commit, for the crash matrix (internal/configd's integration tests):
// CTSYNC_CRASH_AT names the point (see commit.Options.Fault,
// configd.Server.Fault, supervise.Fault), CTSYNC_CRASH_SIGNAL is KILL
// (default) or TERM, and CTSYNC_CRASH_ARM a file that must exist: the
// test creates it once the setup commits are done, and it is removed
// when the signal is sent, so the restarted ctsyncd runs on.
func init() {
	point, arm := os.Getenv("CTSYNC_CRASH_AT"), os.Getenv("CTSYNC_CRASH_ARM")
	if point == "" || arm == "" {
		return
	}
	sig := syscall.SIGKILL
	if os.Getenv("CTSYNC_CRASH_SIGNAL") == "TERM" {
		sig = syscall.SIGTERM
	}
	fault = func(p string) {
		if p != point {
			return
		}
		if err := os.Remove(arm); err != nil {
			return // not armed
		}
		_ = syscall.Kill(os.Getpid(), sig)
		if sig == syscall.SIGKILL {
			select {} // the kernel ends us here
		}
	}
	supervise.Fault = fault
}
