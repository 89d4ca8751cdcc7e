// Package system is the op-mode family of the service itself: show
// system commit [diff N], the commit archive. It reads ctsyncd's files
// rather than asking it, so it answers with ctsyncd stopped (after a
// crash, or a start that fell back to an archived revision).
package system

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/opcmd"
)

func init() {
	opcmd.Register(opcmd.Command{Path: []string{"show", "system", "commit"}, Args: "[diff N]",
		Help: "The commit archive (0 = running, 1 = previous, ...)", Run: runCommit})
}

func runCommit(_ context.Context, env *opcmd.Env, args []string) error {
	switch {
	case len(args) == 0:
		return configd.ShowCommits(env.Root, env.Out, env.JSON)
	case args[0] != "diff" || len(args) != 2:
		return fmt.Errorf("show system commit: usage: show system commit [diff N]")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		return fmt.Errorf("show system commit diff: %q is not a revision number (0 = running, 1 = previous, ...)", args[1])
	}
	return configd.ShowCommitDiff(env.Root, env.Out, n, env.JSON)
}
