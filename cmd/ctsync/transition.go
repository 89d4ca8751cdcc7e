package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/transition"
)

// vrrpTransition is the hook keepalived's sync-group notify runs. It reads
// only files under the root and talks only to conntrackd: ctsyncd may be
// stopped.
func vrrpTransition(ctx context.Context, g globals, args []string, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(stderr, "usage: ctsync vrrp-transition master|backup|fault GROUP")
		return 2
	}
	rootDir := g.root.Dir
	if abs, err := filepath.Abs(rootDir); err == nil {
		rootDir = abs
	}
	log := transition.NewLogger(rootDir)
	defer log.Sync()
	err := transition.Run(ctx, transition.Options{Root: g.root, State: args[0], Group: args[1], Log: log, Guard: guard.Kernel{}})
	if err != nil {
		fmt.Fprintln(stderr, "ctsync vrrp-transition:", err)
		return 1
	}
	return 0
}
