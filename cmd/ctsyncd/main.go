// Command ctsyncd is the ctsync configuration service: one per router, in
// the foreground. It owns the running configuration, serves `ctsync
// configure` sessions and runs commits one at a time; where systemd does
// not manage the engines it starts and supervises them itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	_ "github.com/ctsync/ctsync/conf-mode/conntracksync"
	_ "github.com/ctsync/ctsync/conf-mode/pair"
	_ "github.com/ctsync/ctsync/conf-mode/vrrp"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/readiness"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/supervise"
	"github.com/ctsync/ctsync/internal/sysinfo"
	"github.com/ctsync/ctsync/internal/transition"
)

func main() {
	rootFlag := flag.String("root", "", "directory every path lives under (default $"+paths.EnvRoot+" or /)")
	ctsyncBin := flag.String("ctsync", "", "path of the ctsync binary written into engine hooks (default: beside ctsyncd, else $PATH)")
	debug := flag.Bool("debug", false, "log debug messages")
	flag.Parse()

	lvl := zapcore.InfoLevel
	if *debug {
		lvl = zapcore.DebugLevel
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Encoding = "console"
	cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	log, err := cfg.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctsyncd:", err)
		os.Exit(1)
	}
	if err := run(*rootFlag, *ctsyncBin, log); err != nil {
		log.Error("ctsyncd stopped", zap.Error(err))
		os.Exit(1)
	}
}

func run(rootFlag, ctsyncBin string, log *zap.Logger) error {
	root := paths.Resolve(rootFlag)
	if abs, err := filepath.Abs(root.Dir); err == nil {
		root.Dir = abs
	}
	self, err := findCtsync(ctsyncBin)
	if err != nil {
		return err
	}
	s, err := schema.Load()
	if err != nil {
		return fmt.Errorf("loading the schema: %w", err)
	}
	sys, err := sysinfo.New()
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	defer sys.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sup := supervise.New(log.Named("supervise"))
	sup.OnStart = refillOnStart(ctx, root, log.Named("refill"))
	// Engines outlive ctsyncd: the next one adopts them.
	defer sup.Release()
	env := &handler.Env{Root: root, Engines: sup, Log: log, Self: self}
	eng := commit.New(commit.Options{Schema: s, System: sys, Env: env, LockPath: root.CommitLock()})
	srv := &configd.Server{Root: root, Schema: s, Engine: eng, Log: log, Engines: sup}

	psvc, err := startPair(root, s, eng, srv, log)
	if err != nil {
		return err
	}
	defer psvc.Stop()

	// Readiness compares each look at the sync link with the previous
	// one: looking every second keeps `show conntrack-sync status` to a
	// single request to conntrackd.
	go readiness.Watch(ctx, root, time.Second)
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	if err := srv.Boot(ctx); err != nil {
		// The saved config is refused, but the service still serves so
		// that an operator can fix it.
		log.Error("the saved configuration was not applied; running an empty configuration", zap.Error(err))
	}
	log.Info("ctsyncd ready", zap.String("root", root.Dir), zap.String("socket", root.CtsyncdSocket()))
	err = srv.Serve(ctx, ln)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// refillOnStart makes every start of conntrackd under this ctsyncd —
// by a commit, a restart, the supervisor after a crash, boot — refill its
// caches, and an adopted one whose starter did not finish its refill.
func refillOnStart(ctx context.Context, root paths.Root, log *zap.Logger) func(handler.EngineSpec, int, bool) {
	return func(spec handler.EngineSpec, pid int, adopted bool) {
		if spec.Name != conntrackd.EngineName || (adopted && !transition.RefillNeeded(root)) {
			return
		}
		if _, err := transition.Refill(ctx, transition.RefillOptions{Root: root, By: "ctsyncd", Log: log, Wait: refillWait}); err != nil {
			log.Warn("refill after conntrackd start", zap.Int("pid", pid), zap.Error(err))
		}
	}
}

// refillWait bounds how long ctsyncd keeps asking the peer after a start:
// long enough for a sync link that is down for a while (readiness says
// NO meanwhile), short enough not to ask forever.
const refillWait = 10 * time.Minute

func findCtsync(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "ctsync")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("ctsync")
	if err != nil {
		return "", errors.New("ctsync binary not found beside ctsyncd or on $PATH (use --ctsync)")
	}
	return filepath.Abs(p)
}
