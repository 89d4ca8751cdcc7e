// Package vrrp is the conf-mode handler of `high-availability vrrp`: it
// turns the subtree into keepalived.conf and keeps keepalived running with
// it. The sync-group that `service conntrack-sync failover-mechanism vrrp
// sync-group` names gets the notify hooks that drive conntrackd at
// failover, so this handler also reads that subtree.
package vrrp

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
)

var (
	// Owned is where the subtree lives in the tree.
	Owned = []string{"high-availability", "vrrp"}
	// conntrackSync is the subtree whose failover sync-group gets hooks.
	conntrackSync = []string{"service", "conntrack-sync"}
	// haDisable is `high-availability disable`: keep the subtree, run no
	// VRRP.
	haDisable = []string{"high-availability", "disable"}
)

// Config is `high-availability vrrp`, decoded, plus what the rest of the
// tree says about it.
type Config struct {
	Group            map[string]*Group     `mapstructure:"group"`
	SyncGroup        map[string]*SyncGroup `mapstructure:"sync-group"`
	GlobalParameters *GlobalParameters     `mapstructure:"global-parameters"`

	// ConntrackSync is set when `service conntrack-sync` is configured;
	// HookGroup is then the sync-group it names (possibly one that does
	// not exist: the conntrack-sync handler reports that).
	ConntrackSync bool   `mapstructure:"-"`
	HookGroup     string `mapstructure:"-"`
	// Disabled is `high-availability disable`: the subtree is verified
	// and kept, but keepalived does not run (and has no file).
	Disabled bool `mapstructure:"-"`
}

// Group is one `group NAME`: a keepalived vrrp_instance. Description is
// kept in the config only: keepalived.conf has no place for it.
type Group struct {
	Address              map[string]*Address `mapstructure:"address"`
	ExcludedAddress      map[string]*Address `mapstructure:"excluded-address"`
	AdvertiseInterval    string              `mapstructure:"advertise-interval"` // seconds, as written ("1", "0.1")
	Authentication       *Authentication     `mapstructure:"authentication"`
	Description          string              `mapstructure:"description"`
	Disable              bool                `mapstructure:"disable"`
	Garp                 *Garp               `mapstructure:"garp"`
	HealthCheck          *HealthCheck        `mapstructure:"health-check"`
	HelloSourceAddress   string              `mapstructure:"hello-source-address"`
	Interface            string              `mapstructure:"interface"`
	NoPreempt            bool                `mapstructure:"no-preempt"`
	PeerAddress          []string            `mapstructure:"peer-address"`
	PreemptDelay         int                 `mapstructure:"preempt-delay"`
	Priority             int                 `mapstructure:"priority"`
	RFC3768Compatibility bool                `mapstructure:"rfc3768-compatibility"`
	Track                *Track              `mapstructure:"track"`
	TransitionScript     *TransitionScript   `mapstructure:"transition-script"`
	VRID                 int                 `mapstructure:"vrid"`
}

// Address is one `address IP/LEN` entry; Interface puts it on another
// link than the group's.
type Address struct {
	Interface string `mapstructure:"interface"`
}

// Authentication is a group's `authentication`.
type Authentication struct {
	Type     string `mapstructure:"type"`
	Password string `mapstructure:"password"`
}

// Garp is the gratuitous ARP tuning of a group or of global-parameters.
// Interval is a decimal number of seconds, kept as text.
type Garp struct {
	Interval            string `mapstructure:"interval"`
	MasterDelay         *int   `mapstructure:"master-delay"`
	MasterRefresh       *int   `mapstructure:"master-refresh"`
	MasterRefreshRepeat *int   `mapstructure:"master-refresh-repeat"`
	MasterRepeat        *int   `mapstructure:"master-repeat"`
}

// HealthCheck is a `health-check`. The schema gives interval and
// failure-count defaults, so setting either alone makes the container
// exist: only a ping target or a script makes it a check (Configured).
type HealthCheck struct {
	FailureCount int    `mapstructure:"failure-count"`
	Interval     int    `mapstructure:"interval"`
	Ping         string `mapstructure:"ping"`
	Script       string `mapstructure:"script"`
}

// Configured reports whether h checks anything.
func (h *HealthCheck) Configured() bool { return h != nil && (h.Ping != "" || h.Script != "") }

// Track is a group's `track`.
type Track struct {
	ExcludeVRRPInterface bool     `mapstructure:"exclude-vrrp-interface"`
	Interface            []string `mapstructure:"interface"`
}

// TransitionScript is a `transition-script`.
type TransitionScript struct {
	Master string `mapstructure:"master"`
	Backup string `mapstructure:"backup"`
	Fault  string `mapstructure:"fault"`
	Stop   string `mapstructure:"stop"`
}

// script is one transition-script: the state it is run on and its path.
type script struct{ state, path string }

// scripts lists the scripts that are set, in keepalived's order.
func (t *TransitionScript) scripts() []script {
	var out []script
	for _, s := range []script{{"master", t.Master}, {"backup", t.Backup}, {"fault", t.Fault}, {"stop", t.Stop}} {
		if s.path != "" {
			out = append(out, s)
		}
	}
	return out
}

// SyncGroup is one `sync-group NAME`: a keepalived vrrp_sync_group.
type SyncGroup struct {
	HealthCheck      *HealthCheck      `mapstructure:"health-check"`
	Member           []string          `mapstructure:"member"`
	TransitionScript *TransitionScript `mapstructure:"transition-script"`
}

// GlobalParameters is `global-parameters`.
type GlobalParameters struct {
	Garp         *Garp `mapstructure:"garp"`
	StartupDelay int   `mapstructure:"startup-delay"`
	Version      int   `mapstructure:"version"`
}

// FromTree decodes the subtree of tree, which has the schema's defaults
// (they are written nowhere else); present is false when it is absent.
// multi says which leaves are leaf-lists, by full path from the root.
func FromTree(tree *configtree.Node, multi func(path []string) bool) (cfg Config, present bool, err error) {
	if found, err := handler.Decode(tree, Owned, multi, &cfg); !found || err != nil {
		return Config{}, false, err
	}
	cfg.Disabled = tree.Get(haDisable...) != nil
	if cs := tree.Get(conntrackSync...); cs != nil {
		cfg.ConntrackSync = true
		if sg := cs.Get("failover-mechanism", "vrrp", "sync-group"); sg != nil && sg.Leaf && len(sg.Values) > 0 {
			cfg.HookGroup = sg.Values[0]
		}
	}
	return cfg, true, nil
}

// GroupNames returns the group names in a stable order.
func (c *Config) GroupNames() []string { return sortedKeys(c.Group) }

// SyncGroupNames returns the sync-group names in a stable order.
func (c *Config) SyncGroupNames() []string { return sortedKeys(c.SyncGroup) }

// Hooked reports whether sync-group name gets the conntrack-sync
// failover hooks: conntrack-sync names it and it exists.
func (c *Config) Hooked(name string) bool {
	return c.ConntrackSync && c.HookGroup == name && c.SyncGroup[name] != nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// family is 4 or 6 for the group's virtual addresses, 0 when it has none
// that parse (Verify reports those).
func (g *Group) family() int {
	for _, a := range sortedKeys(g.Address) {
		if p, err := netip.ParsePrefix(a); err == nil {
			return familyOf(p.Addr())
		}
	}
	return 0
}

func familyOf(a netip.Addr) int {
	if a.Unmap().Is4() {
		return 4
	}
	return 6
}

// reAdvert is an advertise-interval as the schema allows it: seconds
// with at most two decimals (VRRPv3 counts adverts in centiseconds).
var reAdvert = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,2})?$`)

// advertCentis parses an advertise-interval into centiseconds, refusing
// anything outside 0.01-255 s.
func advertCentis(s string) (int, error) {
	if !reAdvert.MatchString(s) {
		return 0, fmt.Errorf("%q is not a number of seconds with at most two decimals", s)
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, _ := strconv.Atoi(whole)
	c := w * 100
	if frac != "" {
		f, _ := strconv.Atoi(frac)
		if len(frac) == 1 {
			f *= 10
		}
		c += f
	}
	if c < 1 || c > 25500 {
		return 0, fmt.Errorf("%s is outside 0.01-255 seconds", s)
	}
	return c, nil
}

// formatCentis writes centiseconds as keepalived's advert_int: whole
// seconds without a point, else the shortest decimal ("0.1", "0.25").
func formatCentis(c int) string {
	if c%100 == 0 {
		return strconv.Itoa(c / 100)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%02d", c/100, c%100), "0")
}

// runsVersion3 says the group speaks VRRPv3: the global version says so,
// or the group is IPv6 (keepalived runs IPv6 instances as version 3).
func (g *Group) runsVersion3(global int) bool {
	return global == 3 || g.family() == 6
}
