// Package metrics is the conf-mode handler of `service ctsync metrics`:
// it moves ctsyncd's in-process Prometheus listener (internal/metrics)
// to the configured address, or stops it when the subtree is deleted.
// It generates no file: the listener is part of ctsyncd.
package metrics

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	imetrics "github.com/ctsync/ctsync/internal/metrics"
	"github.com/ctsync/ctsync/internal/schema"
)

// Owned is where the subtree lives in the tree.
var Owned = []string{"service", "ctsync", "metrics"}

// DefaultPort is the schema's default, for trees decoded without it.
const DefaultPort = 9797

// Config is `service ctsync metrics`.
type Config struct {
	ListenAddress string `mapstructure:"listen-address"`
	Port          int    `mapstructure:"port"`
}

// Addr is host:port to listen on.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.ListenAddress, strconv.Itoa(c.Port))
}

// Listener is what Apply moves; *imetrics.Server implements it.
type Listener interface {
	Set(addr string) error
	Addr() string
}

// Handler runs `service ctsync metrics`.
type Handler struct {
	// Multi says which leaves are leaf-lists; nil means ask the schema.
	Multi func(path []string) bool
	// Listener is moved by Apply; nil means ctsyncd's.
	Listener Listener
}

func init() { handler.Register(&Handler{}) }

var _ handler.Handler = (*Handler)(nil)

// Name implements handler.Handler.
func (h *Handler) Name() string { return "metrics" }

// Owns implements handler.Handler.
func (h *Handler) Owns() []string { return Owned }

// Reads implements handler.Handler.
func (h *Handler) Reads() [][]string { return [][]string{Owned} }

func (h *Handler) listener() Listener {
	if h.Listener != nil {
		return h.Listener
	}
	return imetrics.Listener
}

// GetConfig implements handler.Handler.
func (h *Handler) GetConfig(tree *configtree.Node) (any, error) {
	multi := h.Multi
	if multi == nil {
		multi = schema.Default().IsMulti
	}
	var c Config
	ok, err := handler.Decode(tree, Owned, multi, &c)
	if err != nil || !ok {
		return nil, err
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	return &c, nil
}

// Verify implements handler.Handler: metrics are for the operator's own
// Prometheus, so they are served only on an address of this router (a
// loopback one, or one assigned to an interface), never on a wildcard.
func (h *Handler) Verify(ctx context.Context, cfg any, sys handler.System) error {
	c, _ := cfg.(*Config)
	if c == nil {
		return nil
	}
	path := append(slices.Clip(Owned), "listen-address")
	ip, err := netip.ParseAddr(c.ListenAddress)
	if err != nil {
		return &cfgerr.Error{Path: path, Msg: fmt.Sprintf("%q is not an IP address", c.ListenAddress)}
	}
	if ip.IsUnspecified() {
		return &cfgerr.Error{Path: path, Msg: c.ListenAddress + " would serve on every address: give an address of this router, such as 127.0.0.1"}
	}
	if ip.IsLoopback() {
		return nil
	}
	local, err := sys.IsLocalAddress(net.IP(ip.AsSlice()))
	if err != nil {
		return &cfgerr.Error{Path: path, Msg: "cannot list this router's addresses: " + err.Error()}
	}
	if !local {
		return &cfgerr.Error{Path: path, Msg: c.ListenAddress + " is not an address of this router"}
	}
	return nil
}

// Generate implements handler.Handler: nothing to write.
func (h *Handler) Generate(cfg any, env *handler.Env) ([]handler.File, error) { return nil, nil }

// Apply implements handler.Handler. The new address is bound before the
// old listener closes, so a bind that fails (the port is taken) fails
// the commit with the listener where it was; a rollback re-applies the
// previous address the same way.
func (h *Handler) Apply(ctx context.Context, prev, cfg any, env *handler.Env) (string, error) {
	c, _ := cfg.(*Config)
	l := h.listener()
	if c == nil {
		if l.Addr() == "" {
			return "", nil
		}
		if err := l.Set(""); err != nil {
			return "", err
		}
		return "stopped", nil
	}
	if l.Addr() == c.Addr() {
		return "", nil
	}
	if err := l.Set(c.Addr()); err != nil {
		return "", &cfgerr.Error{Path: Owned, Msg: err.Error()}
	}
	return "serving on http://" + c.Addr() + "/metrics", nil
}
