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
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	_ "github.com/ctsync/ctsync/conf-mode/conntracksync"
	_ "github.com/ctsync/ctsync/conf-mode/metrics"
	_ "github.com/ctsync/ctsync/conf-mode/pair"
	"github.com/ctsync/ctsync/conf-mode/vrrp"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/logging"
	"github.com/ctsync/ctsync/internal/metrics"
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
	// The engines ctsyncd starts must not inherit $NOTIFY_SOCKET: a
	// conntrackd built with systemd support would report to the unit as
	// if it were ctsyncd. ctsyncd keeps the address for its own READY.
	notifySocket := os.Getenv("NOTIFY_SOCKET")
	_ = os.Unsetenv("NOTIFY_SOCKET")
	root := paths.Resolve(*rootFlag)
	if abs, err := filepath.Abs(root.Dir); err == nil {
		root.Dir = abs
	}
	log := newLogger(root, lvl)
	if err := run(root, *ctsyncBin, notifySocket, log); err != nil {
		log.Error("ctsyncd stopped", zap.Error(err))
		_ = log.Sync()
		os.Exit(1)
	}
	_ = log.Sync()
}

// newLogger logs to the journal when it runs (structured fields, and
// CTSYNC_ROOT so that `show log ctsyncd` picks this router's lines on a
// machine with several); otherwise to standard error and to
// ROOT/var/log/ctsync/ctsyncd.log, which `show log ctsyncd` reads then.
func newLogger(root paths.Root, lvl zapcore.Level) *zap.Logger {
	log, journal := logging.New(logging.Options{Ident: "ctsyncd", Level: lvl, Root: root.Dir})
	if journal {
		return log
	}
	if err := os.MkdirAll(root.LogDir(), 0o755); err == nil {
		if f, err := os.OpenFile(root.CtsyncdLog(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640); err == nil {
			enc := zap.NewProductionEncoderConfig()
			enc.EncodeTime = zapcore.ISO8601TimeEncoder
			file := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(f), lvl)
			return zap.New(zapcore.NewTee(log.Core(), file))
		}
	}
	return log
}

func run(root paths.Root, ctsyncBin, notifySocket string, log *zap.Logger) error {
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
	// One ctsyncd per root, for its whole life: a second would run
	// commits and engines beside the first.
	unlock, err := configd.LockRoot(root)
	if err != nil {
		return err
	}
	defer unlock()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sup := supervise.New(log.Named("supervise"))
	sup.OnStart = refillOnStart(ctx, root, log.Named("refill"))
	// Engines outlive ctsyncd: the next one adopts them.
	defer sup.Release()
	// Before anything is started: take over the engines a previous
	// ctsyncd (or the hook) left for this root, and stop any whose start
	// was never recorded, so that every later decision sees them.
	if bin, err := conntrackd.Binary(); err == nil {
		sup.Adopt(conntrackd.Spec(root, bin))
	}
	sup.Adopt(vrrp.Spec(root))
	env := &handler.Env{Root: root, Engines: sup, Log: log, Self: self}
	// The registry exists from the start (commits and transitions are
	// counted even while no listener is configured); `service ctsync
	// metrics` only decides whether it is served.
	met := metrics.New(metrics.Sources{Root: root, Engines: sup, EngineNames: []string{conntrackd.EngineName, vrrp.Engine},
		Readiness: func(ctx context.Context) (bool, string) {
			r := readiness.Evaluate(ctx, root)
			return r.Ready, r.Reason
		}})
	metrics.Listener.SetMetrics(met)
	defer func() { _ = metrics.Listener.Set("") }()
	eng := commit.New(commit.Options{Schema: s, System: sys, Env: env, LockPath: root.CommitLock(), Fault: fault})
	eng.Observe(met.ObserveCommit)
	srv := &configd.Server{Root: root, Schema: s, Engine: eng, Log: log, Engines: sup, Fault: fault, ConfirmUnit: confirmUnit(log)}
	go met.Run(ctx)

	psvc, err := startPair(ctx, root, s, eng, srv, log)
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
	// Type=notify: systemd (and units ordered after ctsyncd) wait until
	// the boot configuration is committed and the socket is served.
	// Outside systemd there is no $NOTIFY_SOCKET and this does nothing.
	if err := sdNotify(notifySocket, "READY=1\nSTATUS=serving "+root.CtsyncdSocket()); err != nil {
		log.Warn("telling systemd that ctsyncd is ready", zap.Error(err))
	}
	defer func() { _ = sdNotify(notifySocket, "STOPPING=1") }()
	err = srv.Serve(ctx, ln)
	// Stop means finish: a commit under way runs to its end (or rolls
	// back), and every session gets the answer to the request it sent.
	if serr := srv.Shutdown(shutdownGrace); serr != nil {
		log.Error("stopping", zap.Error(serr))
	}
	log.Info("ctsyncd stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// fault is where a crash test stops ctsyncd; nil unless built with the
// crashtest tag (crash.go).
var fault func(point string)

// shutdownGrace bounds how long SIGTERM waits for a commit (and the
// requests being answered) to finish: a commit restarts engines and
// waits for them to answer, well under a minute; systemd's default stop
// timeout is 90 s.
const shutdownGrace = 75 * time.Second

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

// sdNotify sends state to systemd's notification socket (sd_notify(3)):
// one datagram on a unix socket, "@" standing for the abstract
// namespace. Without a socket (not started by systemd) it does nothing.
// Written out rather than go-systemd's daemon.SdNotify, which reads the
// address from the environment the engines must not see.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	if socket[0] == '@' {
		socket = "\x00" + socket[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}

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

// confirmUnit is what one commit-confirm minute lasts: a minute, unless
// CTSYNC_CONFIRM_UNIT (a Go duration such as "1s") shortens it for a
// demo or a test of the binaries; a real router leaves it unset.
func confirmUnit(log *zap.Logger) time.Duration {
	v := os.Getenv("CTSYNC_CONFIRM_UNIT")
	if v == "" {
		return time.Minute
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		log.Warn("CTSYNC_CONFIRM_UNIT is not a positive duration; a commit-confirm minute lasts a minute", zap.String("value", v))
		return time.Minute
	}
	log.Warn("a commit-confirm minute lasts " + d.String() + " (CTSYNC_CONFIRM_UNIT)")
	return d
}
