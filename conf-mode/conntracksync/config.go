// Package conntracksync is the conf-mode handler of `service
// conntrack-sync`: it turns the subtree into conntrackd.conf and keeps
// conntrackd running with it.
package conntracksync

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/kernelinfo"
)

// Owned is where the subtree lives in the tree.
var Owned = []string{"service", "conntrack-sync"}

// Config is `service conntrack-sync`, decoded, plus what the rest of the
// tree says about it.
type Config struct {
	AcceptProtocol       []string             `mapstructure:"accept-protocol"`
	DisableExternalCache bool                 `mapstructure:"disable-external-cache"`
	DisableSyslog        bool                 `mapstructure:"disable-syslog"`
	EventListenQueueSize int                  `mapstructure:"event-listen-queue-size"`
	ExpectSync           []string             `mapstructure:"expect-sync"`
	FailoverMechanism    FailoverMechanism    `mapstructure:"failover-mechanism"`
	IgnoreAddress        []string             `mapstructure:"ignore-address"`
	Interface            map[string]Interface `mapstructure:"interface"`
	ListenAddress        []string             `mapstructure:"listen-address"`
	McastGroup           string               `mapstructure:"mcast-group"`
	PurgeTimeout         int                  `mapstructure:"purge-timeout"`
	StartupResync        bool                 `mapstructure:"startup-resync"`
	SyncQueueSize        int                  `mapstructure:"sync-queue-size"`

	// SyncGroupExists records, from the rest of the tree, whether the
	// failover sync-group is configured under high-availability vrrp.
	SyncGroupExists bool `mapstructure:"-"`
	// VIPs are the virtual addresses of the sync-group's member groups,
	// for the switchover guard.
	VIPs []string `mapstructure:"-"`
}

// FailoverMechanism is `failover-mechanism vrrp sync-group NAME`.
type FailoverMechanism struct {
	VRRP struct {
		SyncGroup string `mapstructure:"sync-group"`
	} `mapstructure:"vrrp"`
}

// Interface is one `interface NAME` entry: with Peer it is a unicast UDP
// link, without it a multicast one.
type Interface struct {
	Peer string `mapstructure:"peer"`
	Port int    `mapstructure:"port"`
}

// Facts are what the live system said when Verify ran: with the Config,
// all that Generate needs, so that it is a pure function of the two.
type Facts struct {
	// Local is, per sync interface, the IPv4 address conntrackd binds to
	// on it: a listen-address assigned to that interface if there is
	// one, else the interface's first IPv4 address.
	Local map[string]string
	// Addrs is every address of the sync interfaces, which conntrackd
	// must not replicate (traffic to the router itself).
	Addrs []string
	// Kernel sizes conntrackd's hash table.
	Kernel kernelinfo.Info
}

// Unicast reports whether the links are unicast UDP (every interface has
// a peer). Verify has refused a mix.
func (c *Config) Unicast() bool {
	for _, i := range c.Interface {
		if i.Peer != "" {
			return true
		}
	}
	return false
}

// InterfaceNames returns the sync interfaces in a stable order, so the
// generated file does not depend on map iteration.
func (c *Config) InterfaceNames() []string {
	names := make([]string, 0, len(c.Interface))
	for n := range c.Interface {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// State is the handler's state as the commit engine holds it.
type State = handler.State[Config, Facts]

// FromTree decodes the subtree of tree, which has the schema's defaults
// (they are written nowhere else); present is false when it is absent.
// multi says which leaves are leaf-lists, by full path from the root.
func FromTree(tree *configtree.Node, multi func(path []string) bool) (cfg Config, present bool, err error) {
	if found, err := handler.Decode(tree, Owned, multi, &cfg); !found || err != nil {
		return Config{}, false, err
	}
	if sg := cfg.FailoverMechanism.VRRP.SyncGroup; sg != "" {
		cfg.SyncGroupExists = tree.Exists("high-availability", "vrrp", "sync-group", sg)
		cfg.VIPs = syncGroupVIPs(tree, sg)
	}
	return cfg, true, nil
}

// syncGroupVIPs lists the addresses (without prefix length) of the VRRP
// groups that are members of sync-group sg, sorted. The vrrp handler
// verifies them; an address that does not parse is left out here rather
// than guessed at.
func syncGroupVIPs(tree *configtree.Node, sg string) []string {
	members := tree.Get("high-availability", "vrrp", "sync-group", sg, "member")
	if members == nil {
		return nil
	}
	var vips []string
	for _, m := range members.Values {
		addrs := tree.Get("high-availability", "vrrp", "group", m, "address")
		if addrs == nil {
			continue
		}
		for _, a := range addrs.Children {
			s := a.Name
			if i := strings.IndexByte(s, '/'); i >= 0 {
				s = s[:i]
			}
			if ip, err := netip.ParseAddr(s); err == nil {
				vips = append(vips, ip.String())
			}
		}
	}
	slices.Sort(vips)
	return slices.Compact(vips)
}
