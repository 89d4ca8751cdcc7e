// Package opcmd is the registry of op-mode commands ("show conntrack
// table", "reset conntrack-sync internal-cache"). Each op-mode package
// registers its commands in init(); cmd/ctsync dispatches to the longest
// registered prefix of the words the user typed.
package opcmd

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/ctsync/ctsync/internal/paths"
)

// Env is what a command may use.
type Env struct {
	Root paths.Root
	Out  io.Writer
	Err  io.Writer
	JSON bool // --json was given
	// In is the command's standard input and Terminal whether it is a
	// terminal: a command that asks for confirmation asks only there.
	In       io.Reader
	Terminal bool
}

// Command is one op-mode command.
type Command struct {
	Path []string // fixed words, e.g. {"show", "conntrack", "table"}
	Args string   // usage of the rest, e.g. "ipv4|ipv6 [protocol P] ..."
	Help string
	Run  func(ctx context.Context, env *Env, args []string) error
}

var (
	mu   sync.Mutex
	cmds []*Command
)

// Register adds c.
func Register(c Command) {
	mu.Lock()
	defer mu.Unlock()
	cmds = append(cmds, &c)
}

// ErrUnknown is returned by Lookup when no command matches.
var ErrUnknown = errors.New("unknown command")

// Lookup returns the command with the longest path that prefixes words,
// and the remaining words.
func Lookup(words []string) (*Command, []string, error) {
	mu.Lock()
	defer mu.Unlock()
	var best *Command
	for _, c := range cmds {
		if len(c.Path) <= len(words) && slices.Equal(c.Path, words[:len(c.Path)]) {
			if best == nil || len(c.Path) > len(best.Path) {
				best = c
			}
		}
	}
	if best == nil {
		return nil, nil, ErrUnknown
	}
	return best, words[len(best.Path):], nil
}

// All returns the commands sorted by path, for help output.
func All() []*Command {
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(cmds)
	sort.Slice(out, func(i, j int) bool {
		return strings.Join(out[i].Path, " ") < strings.Join(out[j].Path, " ")
	})
	return out
}
