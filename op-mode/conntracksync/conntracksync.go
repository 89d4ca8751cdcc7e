// Package conntracksync is the op-mode family for conntrackd: show
// conntrack-sync statistics|status|cache, reset conntrack-sync
// internal-cache|external-cache and restart conntrack-sync.
package conntracksync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

// The one-line failures every command of the family can end with.
var (
	ErrNotConfigured = errors.New("conntrack-sync is not configured (no service conntrack-sync in the running configuration)")
	ErrNotRunning    = conntrackd.ErrNotRunning
	ErrPermission    = errors.New("no permission to use conntrackd's control socket (run as root)")
	ErrUsage         = errors.New("usage")
)

func init() {
	for _, c := range []opcmd.Command{
		{Path: []string{"show", "conntrack-sync", "statistics"}, Help: "Show conntrackd's cache, traffic and message counters", Run: runStatistics},
		{Path: []string{"show", "conntrack-sync", "status"}, Help: "Show sync interfaces, failover state, conntrackd and replication health", Run: runStatus},
		{Path: []string{"show", "conntrack-sync", "cache"}, Args: "internal|external [main|expect]", Help: "List conntrackd's internal or external cache", Run: runCache},
		{Path: []string{"reset", "conntrack-sync", "internal-cache"}, Help: "Flush the internal cache and resync it with the kernel table", Run: runResetInternal},
		{Path: []string{"reset", "conntrack-sync", "external-cache"}, Help: "Flush the external cache and ask the peer to resend its table", Run: runResetExternal},
		{Path: []string{"restart", "conntrack-sync"}, Help: "Restart conntrackd (refused while a commit runs)", Run: runRestart},
	} {
		opcmd.Register(c)
	}
}

// Iface is one sync interface of the configuration.
type Iface struct {
	Name string `json:"name"`
	Peer string `json:"peer,omitempty"`
	Port int    `json:"port"`
}

// Config is the part of service conntrack-sync the commands need.
type Config struct {
	Interfaces           []Iface `json:"interfaces"`
	Mode                 string  `json:"mode"` // unicast or multicast
	McastGroup           string  `json:"mcast_group,omitempty"`
	SyncGroup            string  `json:"sync_group"`
	ExpectSync           bool    `json:"expect_sync"`
	DisableExternalCache bool    `json:"disable_external_cache"`
}

// LoadConfig reads service conntrack-sync from the running config, with
// the schema's defaults.
func LoadConfig(root paths.Root) (*Config, error) {
	tree, err := schema.Default().ReadConfig(root.RunningConfig())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, ErrNotConfigured
	case errors.As(err, new(*os.PathError)):
		return nil, fmt.Errorf("reading running config: %w", err)
	case err != nil:
		return nil, fmt.Errorf("reading running config %s: %w", root.RunningConfig(), err)
	}
	return configFromTree(tree)
}

// configFromTree reads the commands' Config from tree, which has the
// schema's defaults.
func configFromTree(tree *configtree.Node) (*Config, error) {
	cs := tree.Get("service", "conntrack-sync")
	if cs == nil {
		return nil, ErrNotConfigured
	}
	c := &Config{Mode: "multicast", McastGroup: leaf(cs.Get("mcast-group"))}
	for _, in := range cs.Get("interface").Children {
		i := Iface{Name: in.Name, Peer: leaf(in.Get("peer"))}
		// A port that is not a number is left at 0: the schema refuses
		// it at commit, and status only shows it.
		i.Port, _ = strconv.Atoi(leaf(in.Get("port")))
		if i.Peer != "" {
			c.Mode = "unicast"
		}
		c.Interfaces = append(c.Interfaces, i)
	}
	if c.Mode == "unicast" {
		c.McastGroup = ""
	}
	c.SyncGroup = leaf(cs.Get("failover-mechanism", "vrrp", "sync-group"))
	c.ExpectSync = cs.Get("expect-sync") != nil
	c.DisableExternalCache = cs.Get("disable-external-cache") != nil
	return c, nil
}

func leaf(n *configtree.Node) string {
	if n == nil || len(n.Values) == 0 {
		return ""
	}
	return n.Values[0]
}

// engine is conntrackd's control socket after the checks that turn the
// usual failures into one clear line.
func engine(root paths.Root) (*conntrackd.Client, error) {
	path := root.ConntrackdSocket()
	if err := unix.Access(path, unix.W_OK); err != nil {
		switch {
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return nil, ErrPermission
		case errors.Is(err, unix.ENOENT):
			return nil, fmt.Errorf("%w (no control socket %s)", ErrNotRunning, path)
		}
		return nil, fmt.Errorf("%w (%s: %v)", ErrNotRunning, path, err)
	}
	return &conntrackd.Client{Path: path}, nil
}

// ask sends code and maps a dial failure to ErrNotRunning.
func ask(ctx context.Context, c *conntrackd.Client, code int32) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b, err := c.Do(ctx, code)
	switch {
	case errors.Is(err, os.ErrPermission):
		return nil, ErrPermission
	case errors.Is(err, ErrNotRunning):
		return nil, fmt.Errorf("%w (%s)", ErrNotRunning, c.Path)
	}
	return b, err
}

func readStats(ctx context.Context, c *conntrackd.Client, code int32) (*ctdstats.Stats, error) {
	b, err := ask(ctx, c, code)
	if err != nil {
		return nil, err
	}
	st, err := ctdstats.Parse(strings.NewReader(string(b)))
	if err != nil {
		return nil, fmt.Errorf("conntrackd statistics (request %d): %w", code, err)
	}
	return st, nil
}

// prepare does the checks every command starts with.
func prepare(env *opcmd.Env) (*Config, *conntrackd.Client, error) {
	cfg, err := LoadConfig(env.Root)
	if err != nil {
		return nil, nil, err
	}
	c, err := engine(env.Root)
	if err != nil {
		return cfg, nil, err
	}
	return cfg, c, nil
}

func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: %s takes no arguments", ErrUsage, name)
	}
	return nil
}
