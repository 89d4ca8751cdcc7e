// Command ctsync-lab runs the failover lab: `ctsync-lab demo` builds two
// routers in network namespaces, fails one over and back with
// conntrack-sync and then without it, and prints what the flows saw.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "demo" {
		fmt.Fprintln(os.Stderr, "usage: ctsync-lab demo [--flows N] [--bin DIR] [--keep] [--vyatta] [--sync-only]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	flows := fs.Int("flows", 200, "long-lived TCP flows to run through the routers")
	bin := fs.String("bin", "bin", "directory holding ctsync and ctsyncd")
	keep := fs.Bool("keep", false, "keep the routers' roots (configs, logs) after a successful run")
	dead := fs.Duration("dead-after", 15*time.Second, "a flow with no round trip for this long is dead")
	vyatta := fs.Bool("vyatta", false, "configure the routers by loading a Vyatta 6.x config.boot pair (load + commit) instead of set commands")
	vyattaDir := fs.String("vyatta-dir", "testdata/lab", "directory holding vyatta6-lab-r1.boot and vyatta6-lab-r2.boot")
	syncOnly := fs.Bool("sync-only", false, "run only the phases with conntrack-sync, not the no-sync contrast")
	fs.Parse(os.Args[2:])
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "ctsync-lab: needs root (network namespaces)")
		os.Exit(1)
	}
	// Ctrl-C cancels the scenario; Run still stops every process and
	// removes every namespace before returning.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := lab.Options{Flows: *flows, BinDir: *bin, KeepWorkDir: *keep, DeadAfter: *dead, SyncOnly: *syncOnly}
	if *vyatta {
		o.ConfigFiles = lab.VyattaPair(*vyattaDir)
	}
	res, err := lab.Run(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "ctsync-lab: interrupted; every lab namespace and process was removed")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "ctsync-lab: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("demo took %.0fs\n", res.Elapsed.Seconds())
}
