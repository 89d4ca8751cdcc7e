// Command ctsync is the operator's tool: the config shell (configure),
// the op-mode commands (show, reset, restart) and the VRRP failover hook
// (vrrp-transition), which keepalived runs and which must work with
// ctsyncd stopped.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"

	_ "github.com/ctsync/ctsync/op-mode/conntrack"
	_ "github.com/ctsync/ctsync/op-mode/conntracksync"
	_ "github.com/ctsync/ctsync/op-mode/ha"
	_ "github.com/ctsync/ctsync/op-mode/log"
	_ "github.com/ctsync/ctsync/op-mode/system"
	_ "github.com/ctsync/ctsync/op-mode/vrrp"
)

const usage = `usage: ctsync [--root DIR] [--json] COMMAND ...

  configure                         the config shell (set, delete, show, compare, commit, ...)
  show configuration [json|commands] the running configuration
  vrrp-transition master|backup|fault GROUP
                                    the failover hook keepalived runs
%s
--root DIR (or $CTSYNC_ROOT) puts every path under DIR; --json gives
machine-readable output for every show command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// globals are the options that may stand anywhere on the line.
type globals struct {
	root paths.Root
	json bool
}

func parseGlobals(args []string) (globals, []string, error) {
	var g globals
	var rootFlag string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--json" || a == "-j":
			g.json = true
		case a == "--root" || a == "-root":
			if i+1 >= len(args) {
				return g, nil, errors.New("--root needs a directory")
			}
			i++
			rootFlag = args[i]
		case strings.HasPrefix(a, "--root="):
			rootFlag = strings.TrimPrefix(a, "--root=")
		case a == "-h" || a == "--help":
			rest = append(rest, "help")
		default:
			rest = append(rest, a)
		}
	}
	g.root = paths.Resolve(rootFlag)
	return g, rest, nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g, words, err := parseGlobals(args)
	if err != nil {
		fmt.Fprintln(stderr, "ctsync:", err)
		return 2
	}
	if len(words) == 0 || words[0] == "help" {
		fmt.Fprintf(stdout, usage, opHelp())
		return 0
	}
	// Op-mode words take unique abbreviations, as on routers
	// (ctsync sh conntrack-sync st); configure and the hook never do.
	if words[0] != "configure" && words[0] != "vrrp-transition" {
		w, err := expandOp(words)
		if err != nil {
			fmt.Fprintln(stderr, "ctsync:", strings.TrimPrefix(err.Error(), "run "))
			return 2
		}
		words = w
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch words[0] {
	case "configure":
		return configure(ctx, g, stdin, stdout, stderr)
	case "vrrp-transition":
		return vrrpTransition(ctx, g, words[1:], stderr)
	}
	if len(words) >= 2 && words[0] == "show" && words[1] == "configuration" {
		return showConfiguration(g, words[2:], stdout, stderr)
	}
	cmd, rest, err := opcmd.Lookup(words)
	if err != nil {
		fmt.Fprintf(stderr, "ctsync: unknown command %q (ctsync help lists them)\n", strings.Join(words, " "))
		return 2
	}
	env := &opcmd.Env{Root: g.root, Out: stdout, Err: stderr, JSON: g.json, In: stdin}
	if f, ok := stdin.(*os.File); ok {
		env.Terminal = term.IsTerminal(int(f.Fd()))
	}
	if err := cmd.Run(ctx, env, rest); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func opHelp() string {
	var b strings.Builder
	for _, c := range opcmd.All() {
		line := "  " + strings.Join(c.Path, " ")
		if c.Args != "" {
			line += " " + c.Args
		}
		if len(line) < 36 {
			line += strings.Repeat(" ", 36-len(line))
		} else {
			line += "\n" + strings.Repeat(" ", 36)
		}
		b.WriteString(line + c.Help + "\n")
	}
	return b.String()
}
