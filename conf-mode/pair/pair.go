// Package pair is the conf-mode handler of `high-availability pair`: the
// channel to the peer's ctsyncd (internal/pair). Apply starts, rebinds or
// stops the listener and poller inside ctsyncd; nothing is generated,
// and no engine is touched.
package pair

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	ipair "github.com/ctsync/ctsync/internal/pair"
	"github.com/ctsync/ctsync/internal/schema"
)

var (
	// Owned is where the subtree lives in the tree.
	Owned         = []string{"high-availability", "pair"}
	conntrackSync = []string{"service", "conntrack-sync"}
)

// Channel is what Apply drives: *ipair.Service in ctsyncd.
type Channel interface {
	Configure(cfg *ipair.Config) error
}

var (
	mu      sync.Mutex
	channel Channel
)

// Attach gives the registered handler ctsyncd's channel. Until then an
// Apply with a pair configured fails: a commit must not say the channel
// runs when nothing runs it.
func Attach(c Channel) {
	mu.Lock()
	defer mu.Unlock()
	channel = c
}

func attached() Channel {
	mu.Lock()
	defer mu.Unlock()
	return channel
}

func init() { handler.Register(&Handler{}) }

// Config is high-availability pair, decoded.
type Config struct {
	Name         string `mapstructure:"name"`
	PeerAddress  string `mapstructure:"peer-address"`
	PeerIdentity string `mapstructure:"peer-identity"`
	LocalAddress string `mapstructure:"local-address"`
	Port         int    `mapstructure:"port"`
	// SyncInterfaces are the conntrack-sync interfaces, whose first IPv4
	// address is the default local address.
	SyncInterfaces []string `mapstructure:"-"`
}

// Handler is the high-availability pair handler.
type Handler struct {
	// channel overrides Attach, for tests.
	channel Channel
	// ifaceAddr finds an interface's first IPv4 address at Apply.
	ifaceAddr func(name string) (string, error)
}

var _ handler.Handler = (*Handler)(nil)

// Name implements handler.Handler.
func (h *Handler) Name() string { return "pair" }

// Owns implements handler.Handler.
func (h *Handler) Owns() []string { return Owned }

// Reads implements handler.Handler: the default local address is the
// conntrack-sync interface's.
func (h *Handler) Reads() [][]string { return [][]string{Owned, conntrackSync} }

// GetConfig implements handler.Handler.
func (h *Handler) GetConfig(tree *configtree.Node) (any, error) {
	cfg := &Config{}
	found, err := handler.Decode(tree, Owned, schema.Default().IsMulti, cfg)
	if err != nil || !found {
		return nil, err
	}
	if cfg.Port == 0 {
		cfg.Port = ipair.DefaultPort
	}
	if ifs := tree.Get(append(conntrackSync, "interface")...); ifs != nil {
		for _, c := range ifs.Children {
			cfg.SyncInterfaces = append(cfg.SyncInterfaces, c.Name)
		}
	}
	return cfg, nil
}

func path(leaf string) []string { return append(slices.Clip(Owned), leaf) }

// Verify implements handler.Handler.
func (h *Handler) Verify(ctx context.Context, c any, sys handler.System) error {
	cfg, _ := c.(*Config)
	if cfg == nil {
		return nil
	}
	var errs []error
	peer, err := netip.ParseAddr(cfg.PeerAddress)
	if err != nil {
		errs = append(errs, &cfgerr.Error{Path: path("peer-address"), Msg: "not an IP address"})
	}
	if !ipair.ValidFingerprint(cfg.PeerIdentity) {
		errs = append(errs, &cfgerr.Error{Path: path("peer-identity"), Msg: "must be sha256: and 64 lowercase hex digits", Hint: "as `ctsync show high-availability identity` prints it on the peer"})
	}
	if cfg.LocalAddress != "" {
		ip := net.ParseIP(cfg.LocalAddress)
		ok, err := sys.IsLocalAddress(ip)
		switch {
		case err != nil:
			errs = append(errs, &cfgerr.Error{Path: path("local-address"), Msg: "cannot check the address: " + err.Error()})
		case !ok:
			errs = append(errs, &cfgerr.Error{Path: path("local-address"), Msg: cfg.LocalAddress + " is not assigned to any local interface"})
		}
		if la, err := netip.ParseAddr(cfg.LocalAddress); err == nil && peer.IsValid() && la == peer {
			errs = append(errs, &cfgerr.Error{Path: path("peer-address"), Msg: "is this router's own local-address"})
		}
	} else {
		if len(cfg.SyncInterfaces) == 0 {
			errs = append(errs, &cfgerr.Error{Path: path("local-address"), Msg: "not set, and no service conntrack-sync interface to take it from",
				Hint: "set high-availability pair local-address, or configure conntrack-sync"})
		} else {
			ifc, err := sys.Interface(cfg.SyncInterfaces[0])
			switch {
			case errors.Is(err, handler.ErrNoInterface):
				errs = append(errs, &cfgerr.Error{Path: path("local-address"), Msg: "not set, and the conntrack-sync interface " + cfg.SyncInterfaces[0] + " does not exist"})
			case err != nil:
				errs = append(errs, &cfgerr.Error{Path: path("local-address"), Msg: err.Error()})
			case firstIPv4(ifc.Addrs) == "":
				errs = append(errs, &cfgerr.Error{Path: path("local-address"), Msg: "not set, and the conntrack-sync interface " + cfg.SyncInterfaces[0] + " has no IPv4 address"})
			}
		}
	}
	return errors.Join(errs...)
}

func firstIPv4(addrs []*net.IPNet) string {
	for _, a := range addrs {
		if v4 := a.IP.To4(); v4 != nil {
			return v4.String()
		}
	}
	return ""
}

// Generate implements handler.Handler: the channel has no files.
func (h *Handler) Generate(c any, env *handler.Env) ([]handler.File, error) { return nil, nil }

// Apply implements handler.Handler. Running it twice with one config
// changes nothing (Service.Configure compares).
func (h *Handler) Apply(ctx context.Context, prev, c any, env *handler.Env) (string, error) {
	ch := h.channel
	if ch == nil {
		ch = attached()
	}
	cfg, _ := c.(*Config)
	if ch == nil {
		if cfg == nil {
			return "", nil
		}
		return "", errors.New("no pair channel in this process")
	}
	if cfg == nil {
		if err := ch.Configure(nil); err != nil {
			return "", err
		}
		if prev == nil {
			return "", nil
		}
		return "pair channel stopped", nil
	}
	local := cfg.LocalAddress
	if local == "" {
		find := h.ifaceAddr
		if find == nil {
			find = interfaceIPv4
		}
		var err error
		if local, err = find(cfg.SyncInterfaces[0]); err != nil {
			return "", fmt.Errorf("local address: %w", err)
		}
	}
	pc := &ipair.Config{Name: cfg.Name, PeerAddress: cfg.PeerAddress, PeerIdentity: cfg.PeerIdentity, LocalAddress: local, Port: cfg.Port}
	if err := ch.Configure(pc); err != nil {
		return "", err
	}
	return fmt.Sprintf("pair channel on %s port %d, peer %s", local, cfg.Port, cfg.PeerAddress), nil
}

// interfaceIPv4 is the first IPv4 address of the interface, in the
// network namespace ctsyncd runs in.
func interfaceIPv4(name string) (string, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return "", err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", err
	}
	var nets []*net.IPNet
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			nets = append(nets, n)
		}
	}
	if ip := firstIPv4(nets); ip != "" {
		return ip, nil
	}
	return "", fmt.Errorf("interface %s has no IPv4 address", name)
}
