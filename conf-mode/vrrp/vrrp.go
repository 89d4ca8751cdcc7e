package vrrp

import (
	"context"
	"time"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

func init() { handler.Register(New()) }

// Handler is the `high-availability vrrp` handler. The zero value is not
// usable; New returns the one ctsyncd registers.
type Handler struct {
	// multi tells which tree paths are leaf-lists.
	multi func(path []string) bool
	// configTest runs keepalived -t on a file.
	configTest func(ctx context.Context, conf string) error
	// Unit tests shorten the waits and fake the VRRP child.
	readyTimeout time.Duration
	settleTime   time.Duration
	vrrpCheck    func(paths.Root) bool
}

// New returns the handler wired to the embedded schema and the installed
// keepalived.
func New() *Handler {
	return &Handler{
		multi:        func(p []string) bool { return schema.Default().IsMulti(p) },
		configTest:   ConfigTest,
		readyTimeout: 10 * time.Second,
		settleTime:   500 * time.Millisecond,
	}
}

var (
	_ handler.Handler[Config, handler.NoFacts]    = (*Handler)(nil)
	_ handler.Prechecker[Config, handler.NoFacts] = (*Handler)(nil)
)

// State is the handler's state as the commit engine holds it.
type State = handler.State[Config, handler.NoFacts]

// Name implements handler.Handler.
func (h *Handler) Name() string { return "vrrp" }

// Owns implements handler.Handler.
func (h *Handler) Owns() []string { return Owned }

// Reads implements handler.Handler: the conntrack-sync subtree names the
// sync-group that gets the failover hooks, so adding or removing it
// rewrites keepalived.conf; `high-availability disable` stops keepalived.
func (h *Handler) Reads() [][]string { return [][]string{Owned, conntrackSync, haDisable} }

// Load implements handler.Handler.
func (h *Handler) Load(tree *configtree.Node) (Config, bool, error) {
	return FromTree(tree, h.multi)
}

func (h *Handler) timeout() time.Duration { return h.readyTimeout }
func (h *Handler) settle() time.Duration  { return h.settleTime }
