package conntracksync

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/kernelinfo"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/supervise"
	"github.com/ctsync/ctsync/internal/transition"
)

// EngineName is the name the supervisor knows conntrackd by.
const EngineName = conntrackd.EngineName

// Handler runs `service conntrack-sync`. The zero value is not usable;
// the registered one reads the live system, and tests build their own
// with fakes in place of the kernel, the binary and the control socket.
type Handler struct {
	// Multi says which leaves are leaf-lists, by full path; nil means ask
	// the schema.
	Multi func(path []string) bool
	// Kernel reads the conntrack table sizes.
	Kernel func() (kernelinfo.Info, error)
	// Binary is conntrackd's absolute path; empty means look it up.
	Binary string
	// Probe checks that conntrackd answers on its control socket.
	Probe func(ctx context.Context, socket string) error
	// ProbeTimeout bounds how long Apply waits for conntrackd to answer.
	ProbeTimeout time.Duration
	// Running reports whether the process a Started record names still
	// runs; nil means (*supervise.Started).Running. Tests with fake
	// engines replace it.
	Running func(*supervise.Started) bool
	// HoldTransitions waits until no VRRP transition runs and keeps new
	// ones waiting until release is called; nil means
	// transition.HoldLock, bounded by transition.DefaultTimeout.
	HoldTransitions func(ctx context.Context, root paths.Root) (release func(), err error)
	// Guard is the switchover guard Apply sets (transition.ApplyGuard);
	// nil leaves it alone.
	Guard guard.Guard
}

func init() {
	handler.Register(New())
}

// New returns the handler wired to the live system.
func New() *Handler {
	return &Handler{
		Kernel:       kernelinfo.System,
		Probe:        ProbeSocket,
		ProbeTimeout: 5 * time.Second,
		Guard:        guard.Kernel{},
	}
}

var _ handler.Handler[Config, Facts] = (*Handler)(nil)

// Name implements handler.Handler.
func (h *Handler) Name() string { return "conntrack-sync" }

// Owns implements handler.Handler.
func (h *Handler) Owns() []string { return Owned }

// Reads implements handler.Handler: the sync-group named by
// failover-mechanism lives under high-availability vrrp.
func (h *Handler) Reads() [][]string {
	return [][]string{Owned, {"high-availability", "vrrp"}}
}

// Load implements handler.Handler.
func (h *Handler) Load(tree *configtree.Node) (Config, bool, error) {
	multi := h.Multi
	if multi == nil {
		multi = schema.Default().IsMulti
	}
	return FromTree(tree, multi)
}

// Verify implements handler.Handler: it returns the live-system facts
// Generate needs.
func (h *Handler) Verify(ctx context.Context, cfg Config, sys handler.System) (Facts, error) {
	return verify(&cfg, sys, h.Kernel)
}

// Generate implements handler.Handler.
func (h *Handler) Generate(s State, env *handler.Env) ([]handler.File, error) {
	path, facts := env.Root.ConntrackdConf(), env.Root.FailoverFacts()
	if !s.Present {
		return []handler.File{{Path: path}, {Path: facts}}, nil
	}
	c := &s.Config
	data, err := Render(c, s.Facts, env.Root)
	if err != nil {
		return nil, err
	}
	// The VRRP hook learns what it must know of the config from this file,
	// rendered from the same cfg and installed with conntrackd.conf before
	// keepalived can run the hook.
	f := c.failoverFacts()
	// A renamed sync-group: the keepalived that runs until the vrrp
	// handler reloads it still calls the hook with the old name, and a
	// failover in that window must not be ignored. The installed facts
	// are what that keepalived was started with.
	if old, err := transition.ReadFacts(env.Root); err == nil && old != nil && old.SyncGroup != f.SyncGroup {
		f.Previous = old.SyncGroup
	}
	return []handler.File{
		{Path: path, Data: data, Mode: 0o644},
		{Path: facts, Data: transition.EncodeFacts(f), Mode: 0o644},
	}, nil
}

// failoverFacts is what the hook (and the guard) know of c.
func (c *Config) failoverFacts() transition.Facts {
	return transition.Facts{
		SyncGroup:            c.FailoverMechanism.VRRP.SyncGroup,
		DisableExternalCache: c.DisableExternalCache,
		ExpectSync:           len(c.ExpectSync) > 0,
		VIPs:                 c.VIPs,
	}
}

// applyGuard sets the switchover guard for s (absent: conntrack-sync is
// gone) and adds what it did to the commit's message.
// held says the caller holds the transition lock already.
func (h *Handler) applyGuard(ctx context.Context, env *handler.Env, s State, msg string, held bool) (string, error) {
	if h.Guard == nil {
		return msg, nil
	}
	var f *transition.Facts
	if s.Present {
		ff := s.Config.failoverFacts()
		f = &ff
	}
	var g string
	var err error
	if held {
		g, err = transition.ApplyGuardLocked(env.Root, h.Guard, f)
	} else {
		g, err = transition.ApplyGuard(ctx, env.Root, h.Guard, f)
	}
	if err != nil {
		return "", fmt.Errorf("switchover guard (nftables table inet %s): %w", guard.Table, err)
	}
	return msg + "; " + g, nil
}

// Apply implements handler.Handler. Whether conntrackd restarts depends
// only on the installed file and what the running process was started
// with (needsRestart), not on prev: a rollback, a resume and a commit
// that changed nothing conntrackd reads all come out right.
func (h *Handler) Apply(ctx context.Context, _, next State, env *handler.Env) (string, error) {
	if !next.Present {
		if err := env.Engines.Stop(ctx, EngineName); err != nil {
			return "", fmt.Errorf("stopping conntrackd: %w", err)
		}
		return h.applyGuard(ctx, env, next, "conntrackd stopped", false)
	}
	c := &next.Config

	bin := h.Binary
	if bin == "" {
		var err error
		if bin, err = conntrackd.Binary(); err != nil {
			return "", err
		}
	}
	spec := conntrackd.Spec(env.Root, bin)

	pid := env.Engines.Adopt(spec)
	running := pid != 0
	restart, why := false, ""
	if running {
		restart, why = h.needsRestart(spec, pid)
	}
	if restart {
		// A master transition commits from conntrackd's external cache:
		// restarting it meanwhile would throw the cache away mid-commit.
		// Wait for it (bounded by the hook's own timeout), and keep the
		// next one waiting until conntrackd is back.
		hold := h.HoldTransitions
		if hold == nil {
			hold = holdTransitions
		}
		release, err := hold(ctx, env.Root)
		if err != nil {
			return "", fmt.Errorf("restarting conntrackd: %w", err)
		}
		defer release()
	}
	if err := env.Engines.Ensure(ctx, spec, restart); err != nil {
		return "", fmt.Errorf("starting conntrackd: %w", err)
	}
	if restart && env.Log != nil {
		env.Log.Info("conntrackd restarted", zap.String("why", why))
	}
	if err := h.waitAnswer(ctx, env.Root.ConntrackdSocket()); err != nil {
		return "", err
	}
	var msg string
	switch {
	case restart:
		msg = "conntrackd restarted (" + c.Summary() + ")"
	case running:
		msg = "conntrackd unchanged"
	default:
		msg = "conntrackd started (" + c.Summary() + ")"
	}
	// Under the lock taken for the restart, if any: no hook runs between
	// the new conntrackd and the guard that matches it.
	return h.applyGuard(ctx, env, next, msg, restart)
}

// waitAnswer retries the probe until conntrackd answers, for at most
// ProbeTimeout.
func (h *Handler) waitAnswer(ctx context.Context, socket string) error {
	timeout := h.ProbeTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	probe := func(ctx context.Context) error { return h.Probe(ctx, socket) }
	if err := conntrackd.WaitAnswer(ctx, probe, nil); err != nil {
		return fmt.Errorf("conntrackd does not answer on %s within %v: %w", socket, timeout, err)
	}
	return nil
}

// ProbeSocket asks conntrackd for its statistics: an answer means it has
// parsed its config and runs its event loop.
func ProbeSocket(ctx context.Context, socket string) error {
	c := conntrackd.Client{Path: socket}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := c.Do(pctx, conntrackd.Stats)
	return err
}

// needsRestart decides from facts, not from config structs: conntrackd
// pid runs the installed conntrackd.conf only if the Started record
// names that very process and holds the hash of the file as installed
// now. Anything less (no record, a record of another process, a hash of
// an older file — a ctsyncd that restarted after a commit it did not
// finish, or a file changed by a commit of another subtree) restarts it.
// A change of the config that renders the same bytes (renaming the
// sync-group) does not.
func (h *Handler) needsRestart(spec handler.EngineSpec, pid int) (bool, string) {
	st, err := supervise.ReadStarted(spec)
	if err != nil {
		return true, err.Error()
	}
	running := h.Running
	if running == nil {
		running = (*supervise.Started).Running
	}
	sum, herr := supervise.HashFile(spec.ConfigFile)
	return restartDecision(st, pid, st != nil && running(st), sum, herr)
}

// restartDecision is needsRestart's rule, apart from the system.
func restartDecision(st *supervise.Started, pid int, stRunning bool, installed string, installedErr error) (bool, string) {
	switch {
	case st == nil:
		return true, fmt.Sprintf("no record of what conntrackd pid %d was started with", pid)
	case st.Pid != pid || !stRunning:
		return true, fmt.Sprintf("the start record names pid %d, not the running pid %d", st.Pid, pid)
	case installedErr != nil:
		return true, "reading the installed conntrackd.conf: " + installedErr.Error()
	case st.ConfigSHA256 != installed:
		return true, "it runs an older conntrackd.conf"
	}
	return false, ""
}

// holdTransitions waits for a running VRRP transition, which is bounded
// by the hook's timeout, with a margin.
func holdTransitions(ctx context.Context, root paths.Root) (func(), error) {
	ctx, cancel := context.WithTimeout(ctx, transition.DefaultTimeout+5*time.Second)
	defer cancel()
	return transition.HoldLock(ctx, root)
}

// Summary describes the sync links in a few words, for the commit output.
func (c *Config) Summary() string {
	names := c.InterfaceNames()
	if len(names) == 0 {
		return "no interface"
	}
	first := c.Interface[names[0]]
	var s string
	if first.Peer != "" {
		s = fmt.Sprintf("unicast to %s over %s", first.Peer, names[0])
	} else {
		s = fmt.Sprintf("multicast %s over %s", c.McastGroup, names[0])
	}
	if len(names) > 1 {
		s += fmt.Sprintf(" and %d more", len(names)-1)
	}
	return s
}
