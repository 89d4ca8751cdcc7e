package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/schema"
)

// showConfiguration prints the running configuration from running.boot,
// so it works whether or not ctsyncd answers.
func showConfiguration(g globals, args []string, stdout, stderr io.Writer) int {
	form := "boot"
	if g.json {
		form = "json"
	}
	if len(args) > 0 {
		form = args[0]
	}
	// Root reads the whole running config (0600, secrets included);
	// anyone else the one with secrets masked.
	f, err := os.Open(g.root.FullRunningConfig())
	if err != nil {
		f, err = os.Open(g.root.RunningConfig())
	}
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(stderr, "ctsync: no running configuration (is ctsyncd running?)")
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "ctsync:", err)
		return 1
	}
	defer f.Close()
	tree, err := configtree.Parse(f)
	if err != nil {
		fmt.Fprintf(stderr, "ctsync: %s: %v\n", g.root.RunningConfig(), err)
		return 1
	}
	switch form {
	case "boot":
		var b bytes.Buffer
		if err := tree.Format(&b); err != nil {
			fmt.Fprintln(stderr, "ctsync:", err)
			return 1
		}
		stdout.Write(b.Bytes())
	case "json":
		out, err := schema.Default().JSON(tree)
		if err != nil {
			fmt.Fprintln(stderr, "ctsync:", err)
			return 1
		}
		stdout.Write(out)
		if !bytes.HasSuffix(out, []byte("\n")) {
			io.WriteString(stdout, "\n")
		}
	case "commands":
		io.WriteString(stdout, strings.Join(tree.Commands(), "\n")+"\n")
	default:
		fmt.Fprintf(stderr, "ctsync: show configuration %s: expected json or commands\n", form)
		return 2
	}
	return 0
}
