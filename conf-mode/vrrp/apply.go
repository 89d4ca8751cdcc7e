package vrrp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/proc"
)

// Engine is the engine name the supervisor knows keepalived by.
const Engine = "keepalived"

// KeepalivedPath is the keepalived binary; Debian installs it in /usr/sbin,
// which is not always on PATH.
var KeepalivedPath = func() string {
	if p, err := exec.LookPath("keepalived"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return "/usr/sbin/keepalived"
}()

// VRRPPidFile is the pid file of keepalived's VRRP child, the process that
// does the work; it appears once keepalived has read its config.
func VRRPPidFile(root paths.Root) string {
	return root.KeepalivedVRRPPid()
}

// LoadedFile records the hash of the keepalived.conf the running
// keepalived last read, so Apply reloads exactly when the installed file
// differs from it, whoever installed it and whatever ctsyncd remembers.
func LoadedFile(root paths.Root) string {
	return root.KeepalivedLoaded()
}

// Spec is how ctsyncd runs keepalived under root. Every file keepalived
// would otherwise put at a fixed place in /run (its pid files) is named
// under the root, so that routers in separate namespaces on one machine
// do not take each other for an already running keepalived. -P runs the
// VRRP child only: ctsync configures no virtual servers. The supervisor's
// own pid file is distinct from keepalived's -p file, which keepalived
// checks at start to refuse a second copy of itself. keepalived writes its
// state dumps (SIGUSR1, SIGUSR2, the JSON signal) into $TMPDIR, /tmp by
// default, which routers sharing a machine share too: TMPDIR puts them in
// the router's own run directory (KeepalivedDumpDir), where `show vrrp` reads them.
func Spec(root paths.Root) handler.EngineSpec {
	return handler.EngineSpec{
		Name: Engine,
		Argv: []string{
			KeepalivedPath, "--dont-fork", "--log-console", "--log-detail", "-P",
			"-f", root.KeepalivedConf(),
			"-p", root.KeepalivedPid(),
			"-r", VRRPPidFile(root),
			"-c", root.KeepalivedCheckersPid(),
			"-b", root.KeepalivedBFDPid(),
		},
		Env:         []string{"TMPDIR=" + root.KeepalivedDumpDir()},
		PidFile:     root.KeepalivedSupervisorPid(),
		LogFile:     root.KeepalivedLog(),
		ConfigFile:  root.KeepalivedConf(),
		StartedFile: root.KeepalivedStarted(),
	}
}

// Precheck implements handler.Prechecker: keepalived tests the generated
// keepalived.conf itself (keepalived -t -f, on the staged copy) before the
// commit engine installs anything or lets any handler touch an engine.
func (h *Handler) Precheck(ctx context.Context, s State, staged map[string]string, env *handler.Env) error {
	if !s.Present || s.Config.Disabled {
		return nil // no file to test: keepalived will not run
	}
	path := staged[env.Root.KeepalivedConf()]
	if path == "" {
		path = env.Root.KeepalivedConf()
	}
	return h.configTest(ctx, path)
}

// Apply implements handler.Handler. A config change is a SIGHUP: keepalived
// re-reads its file and keeps the state of instances that survive, so a
// MASTER stays MASTER and its addresses stay up. Nothing ctsync writes
// needs a restart (the options keepalived cannot reload, such as
// net_namespace or instance, are never set), so Apply never restarts it.
func (h *Handler) Apply(ctx context.Context, _, next State, env *handler.Env) (string, error) {
	cfg := &next.Config
	if !next.Present || cfg.Disabled {
		if err := env.Engines.Stop(ctx, Engine); err != nil {
			return "", fmt.Errorf("stopping keepalived: %w", err)
		}
		_ = os.Remove(LoadedFile(env.Root))
		if next.Present {
			return fmt.Sprintf("keepalived stopped: high-availability disable (%s kept in the configuration)", Describe(cfg)), nil
		}
		return "keepalived stopped", nil
	}
	conf := env.Root.KeepalivedConf()
	data, err := os.ReadFile(conf)
	if err != nil {
		return "", fmt.Errorf("reading keepalived.conf: %w", err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])

	spec := Spec(env.Root)
	running := env.Engines.Adopt(spec) != 0
	if !running {
		// Left by an earlier run: the readiness check waits for keepalived
		// to write fresh ones.
		_ = os.Remove(VRRPPidFile(env.Root))
		_ = os.Remove(ReloadFile(env.Root))
	}
	if err := env.Engines.Ensure(ctx, spec, false); err != nil {
		return "", fmt.Errorf("starting keepalived: %w", err)
	}
	verb := "started"
	if running {
		verb = "running, unchanged"
		if loaded, _ := os.ReadFile(LoadedFile(env.Root)); strings.TrimSpace(string(loaded)) != want {
			// Once signalled, keepalived may have read the new file even
			// if the handshake fails: forget what it runs, so that the
			// rollback's Apply reloads the old file rather than trust it.
			_ = os.Remove(LoadedFile(env.Root))
			if err := h.reload(ctx, env); err != nil {
				return "", err
			}
			verb = "reloaded"
		}
	}
	if err := os.WriteFile(LoadedFile(env.Root), []byte(want+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("recording the loaded keepalived.conf: %w", err)
	}
	if err := h.waitReady(ctx, env); err != nil {
		return "", err
	}
	return fmt.Sprintf("keepalived %s (%s)", verb, Describe(cfg)), nil
}

// reload sends SIGHUP and waits until keepalived has read the new file:
// it deletes its reload_file when done reading.
func (h *Handler) reload(ctx context.Context, env *handler.Env) error {
	rf := ReloadFile(env.Root)
	if err := os.WriteFile(rf, []byte("ctsync\n"), 0o644); err != nil {
		return fmt.Errorf("reloading keepalived: %w", err)
	}
	if err := env.Engines.Reload(ctx, Engine); err != nil {
		_ = os.Remove(rf)
		return fmt.Errorf("reloading keepalived: %w", err)
	}
	err := poll(ctx, h.timeout(), func() (bool, error) {
		_, err := os.Stat(rf)
		return errors.Is(err, os.ErrNotExist), nil
	})
	if err != nil {
		_ = os.Remove(rf)
		return fmt.Errorf("reloading keepalived: it did not finish reading keepalived.conf: %w", err)
	}
	return nil
}

// waitReady checks that keepalived answers: its VRRP child is up (it
// writes its pid file after reading the config) and both processes are
// still alive after a short settle, which catches a keepalived that
// started and then gave up on its config.
func (h *Handler) waitReady(ctx context.Context, env *handler.Env) error {
	check := func() (bool, error) {
		if env.Engines.Pid(Engine) == 0 {
			return false, errors.New("keepalived exited; see " + Spec(env.Root).LogFile)
		}
		return h.vrrpAlive(env.Root), nil
	}
	if err := poll(ctx, h.timeout(), check); err != nil {
		return fmt.Errorf("keepalived is not answering: %w", err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(h.settle()):
	}
	if ok, err := check(); err != nil || !ok {
		if err == nil {
			err = errors.New("its VRRP process exited; see " + Spec(env.Root).LogFile)
		}
		return fmt.Errorf("keepalived is not answering: %w", err)
	}
	return nil
}

func (h *Handler) vrrpAlive(root paths.Root) bool {
	if h.vrrpCheck != nil {
		return h.vrrpCheck(root)
	}
	pid, err := proc.ReadPidFile(VRRPPidFile(root))
	return err == nil && proc.Alive(pid)
}

func poll(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// benign are the lines `keepalived -t` prints for configs that are what
// VyOS users write on purpose: a sync-group of one group is the usual
// conntrack-sync setup.
var benign = []*regexp.Regexp{
	regexp.MustCompile(`^Sync group \S+ has only 1 virtual router\(s\)`),
	regexp.MustCompile(`^\(\S+\) Ignoring track_interface \S+ since own interface$`),
}

// ConfigTest runs keepalived's own config check on conf. keepalived -t
// exits non-zero for warnings too, so its output decides: any line that is
// not a known-benign warning refuses the file.
func ConfigTest(ctx context.Context, conf string) error {
	return configTestWith(ctx, KeepalivedPath, "-t", "-f", conf)
}

// configTestWith runs a keepalived -t command line, which tests may prefix
// to run it in a network namespace.
func configTestWith(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return fmt.Errorf("checking keepalived.conf with keepalived -t: %w", err)
	}
	if bad := problems(string(out)); len(bad) > 0 {
		return fmt.Errorf("keepalived -t refuses keepalived.conf: %s", strings.Join(bad, "; "))
	}
	return nil
}

// problems returns the lines of keepalived -t output that are not benign.
func problems(out string) []string {
	var bad []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		ok := false
		for _, re := range benign {
			if re.MatchString(l) {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, l)
		}
	}
	return bad
}

// Describe is the one-line summary of cfg a commit prints.
func Describe(cfg *Config) string {
	enabled, disabled := 0, 0
	for _, g := range cfg.Group {
		if g.Disable {
			disabled++
		} else {
			enabled++
		}
	}
	parts := []string{plural(enabled, "group")}
	if disabled > 0 {
		parts[0] += fmt.Sprintf(" and %d disabled", disabled)
	}
	for _, name := range cfg.SyncGroupNames() {
		s := "sync-group " + name
		live := false
		for _, m := range cfg.SyncGroup[name].Member {
			if g := cfg.Group[m]; g != nil && !g.Disable {
				live = true
			}
		}
		switch {
		case !live:
			// Not rendered: keepalived refuses an empty sync group.
			s += " (every member disabled)"
		case cfg.Hooked(name):
			s += " with failover hooks"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
