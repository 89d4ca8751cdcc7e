package conntracksync

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/kernelinfo"
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
	}
}

var _ handler.Handler = (*Handler)(nil)

// Name implements handler.Handler.
func (h *Handler) Name() string { return "conntrack-sync" }

// Owns implements handler.Handler.
func (h *Handler) Owns() []string { return Owned }

// Reads implements handler.Handler: the sync-group named by
// failover-mechanism lives under high-availability vrrp.
func (h *Handler) Reads() [][]string {
	return [][]string{Owned, {"high-availability", "vrrp"}}
}

// GetConfig implements handler.Handler. A nil *Config is returned as a
// nil interface, so callers can test cfg == nil.
func (h *Handler) GetConfig(tree *configtree.Node) (any, error) {
	multi := h.Multi
	if multi == nil {
		multi = schema.Default().IsMulti
	}
	cfg, err := FromTree(tree, multi)
	if err != nil || cfg == nil {
		return nil, err
	}
	return cfg, nil
}

// Verify implements handler.Handler. On success it stores the live-system
// facts in cfg for Generate.
func (h *Handler) Verify(ctx context.Context, cfg any, sys handler.System) error {
	c, err := asConfig(cfg)
	if err != nil || c == nil {
		return err
	}
	return verify(c, sys, h.Kernel)
}

// Generate implements handler.Handler.
func (h *Handler) Generate(cfg any, env *handler.Env) ([]handler.File, error) {
	c, err := asConfig(cfg)
	if err != nil {
		return nil, err
	}
	path, facts := env.Root.ConntrackdConf(), env.Root.FailoverFacts()
	if c == nil {
		return []handler.File{{Path: path}, {Path: facts}}, nil
	}
	data, err := Render(c, env.Root)
	if err != nil {
		return nil, err
	}
	// The VRRP hook learns what it must know of the config from this file,
	// rendered from the same cfg and installed with conntrackd.conf before
	// keepalived can run the hook.
	return []handler.File{
		{Path: path, Data: data, Mode: 0o644},
		{Path: facts, Data: transition.EncodeFacts(transition.Facts{
			SyncGroup:            c.FailoverMechanism.VRRP.SyncGroup,
			DisableExternalCache: c.DisableExternalCache,
			ExpectSync:           len(c.ExpectSync) > 0,
		}), Mode: 0o644},
	}, nil
}

// Apply implements handler.Handler.
func (h *Handler) Apply(ctx context.Context, prev, cfg any, env *handler.Env) (string, error) {
	p, err := asConfig(prev)
	if err != nil {
		return "", err
	}
	c, err := asConfig(cfg)
	if err != nil {
		return "", err
	}
	if c == nil {
		if err := env.Engines.Stop(ctx, EngineName); err != nil {
			return "", fmt.Errorf("stopping conntrackd: %w", err)
		}
		return "conntrackd stopped", nil
	}

	bin := h.Binary
	if bin == "" {
		if bin, err = conntrackd.Binary(); err != nil {
			return "", err
		}
	}
	spec := conntrackd.Spec(env.Root, bin)

	running := env.Engines.Adopt(spec) != 0
	// prev nil while conntrackd runs means ctsyncd just started and
	// adopted it. Whether it must restart is then a fact, not a guess
	// from config structs: its Started record says which content of
	// conntrackd.conf it read, and a commit cut short by a crash may have
	// left it running another than the installed one.
	restart := running && ((p != nil && !Same(p, c)) || runsOtherFile(spec))
	if err := env.Engines.Ensure(ctx, spec, restart); err != nil {
		return "", fmt.Errorf("starting conntrackd: %w", err)
	}
	if err := h.waitAnswer(ctx, env.Root.ConntrackdSocket()); err != nil {
		return "", err
	}
	switch {
	case restart:
		return "conntrackd restarted (" + c.Summary() + ")", nil
	case running:
		return "conntrackd unchanged", nil
	default:
		return "conntrackd started (" + c.Summary() + ")", nil
	}
}

// runsOtherFile reports whether the conntrackd spec describes runs a
// conntrackd.conf other than the installed one, by its Started record.
// No record (an engine a test stands in for) says nothing.
func runsOtherFile(spec handler.EngineSpec) bool {
	st, err := supervise.ReadStarted(spec)
	return err == nil && st != nil && st.Running() && !st.ConfigCurrent(spec)
}

// waitAnswer retries the probe until conntrackd answers: it opens its
// control socket only after it has set up its sync links.
func (h *Handler) waitAnswer(ctx context.Context, socket string) error {
	timeout := h.ProbeTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		last = h.Probe(ctx, socket)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("conntrackd does not answer on %s within %v: %w", socket, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
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

// Same reports whether a and b would run conntrackd the same way. When
// one of them was never verified (ctsyncd re-derived the previous config
// from the running tree) its facts are unknown and only the configured
// part is compared.
func Same(a, b *Config) bool {
	fa, fb := a.Facts, b.Facts
	ac, bc := *a, *b
	ac.Facts, bc.Facts = Facts{}, Facts{}
	if !reflect.DeepEqual(ac, bc) {
		return false
	}
	if fa.Local == nil || fb.Local == nil {
		return true
	}
	return reflect.DeepEqual(fa, fb)
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

func asConfig(v any) (*Config, error) {
	switch c := v.(type) {
	case nil:
		return nil, nil
	case *Config:
		return c, nil
	default:
		return nil, errors.New("conntrack-sync: config of unexpected type " + reflect.TypeOf(v).String())
	}
}
