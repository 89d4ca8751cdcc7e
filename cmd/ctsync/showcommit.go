package main

import (
	"fmt"
	"io"

	"github.com/ctsync/ctsync/internal/configd"
)

// showCommit is `show system commit [diff N]`; it reads the archive
// directly, so it works with ctsyncd stopped.
func showCommit(g globals, args []string, stdout, stderr io.Writer) int {
	if err := configd.ShowCommits(g.root, stdout, args, g.json); err != nil {
		fmt.Fprintln(stderr, "ctsync:", err)
		return 1
	}
	return 0
}
