package pair

import (
	"context"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/kernelinfo"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/supervise"
	"github.com/ctsync/ctsync/internal/transition"
)

// NodeStatus is one node as the pair view shows it. Every node collects
// its own and sends it to the peer: each side reports facts only it can
// see (its caches, its kernel table, its VRRP state).
type NodeStatus struct {
	Name     string `json:"name"`
	Identity string `json:"identity"`
	Version  string `json:"version"`
	// SyncGroups are the VRRP sync-groups of the running config with the
	// state the hook last recorded for each ("" when none yet).
	SyncGroups []SyncGroup `json:"sync_groups"`
	// Priorities are the configured priorities of the VRRP groups; the
	// weight (maintenance, handover) is added to each by keepalived.
	Priorities map[string]int `json:"priorities,omitempty"`
	Weight     int            `json:"weight"`
	State      State          `json:"state"`
	Conntrackd bool           `json:"conntrackd_running"`
	// Cache sizes are nil when conntrackd did not answer.
	Internal *uint64 `json:"internal_entries,omitempty"`
	External *uint64 `json:"external_entries,omitempty"`
	Kernel   *int    `json:"kernel_entries,omitempty"`
	// Ready is the failover-readiness verdict (internal/readiness).
	Ready       bool   `json:"ready"`
	ReadyReason string `json:"ready_reason,omitempty"`
	// Revision is the newest commit archived; SyncedHash the SHA-256 of
	// the synced part of the running config (schema.SyncedPart).
	Revision   int    `json:"revision"`
	SyncedHash string `json:"synced_hash"`
	// ConfigSync says high-availability pair config-sync is set here;
	// Agreed is the synced hash both nodes last held alike ("" when
	// never seen).
	ConfigSync bool      `json:"config_sync"`
	Agreed     string    `json:"agreed_hash,omitempty"`
	Collected  time.Time `json:"collected"`
}

// SyncGroup is one sync-group's VRRP state on one node.
type SyncGroup struct {
	Name  string     `json:"name"`
	State string     `json:"state"`
	Since *time.Time `json:"since,omitempty"`
}

// Master reports whether the node is master of sync-group name.
func (n *NodeStatus) Master(name string) bool {
	for _, g := range n.SyncGroups {
		if g.Name == name {
			return strings.EqualFold(g.State, "master")
		}
	}
	return false
}

// Version is this build's version: the module version and, for a build
// from a checkout, the commit. Two nodes differ in it exactly when they
// run different code.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return v + " " + rev + dirty
	}
	return v
}

// Collector gathers this node's status.
type Collector struct {
	Root   paths.Root
	Schema *schema.Schema
	// Running is the running config and the revision it was archived
	// as.
	Running func() (*configtree.Node, int)
	// Ready evaluates failover readiness.
	Ready    func(ctx context.Context) (bool, string)
	Identity string

	mu   sync.Mutex
	name string // the configured name; "" uses the hostname
}

// SetName sets the name the node shows (high-availability pair name).
func (c *Collector) SetName(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.name = name
}

// NodeName is this node's name in the pair: the configured one, else
// the hostname.
func (c *Collector) NodeName() string {
	c.mu.Lock()
	name := c.name
	c.mu.Unlock()
	if name == "" {
		name, _ = os.Hostname()
	}
	return name
}

// Collect reads everything; a part that fails (conntrackd down) is left
// empty rather than failing the whole.
func (c *Collector) Collect(ctx context.Context) *NodeStatus {
	ns := &NodeStatus{Name: c.NodeName(), Identity: c.Identity, Version: Version(), Collected: time.Now().UTC()}
	tree, rev := c.Running()
	ns.Revision = rev
	ns.SyncedHash = c.Schema.SyncedHash(tree)
	ns.ConfigSync = ConfigSyncOn(tree)
	if a, err := ReadAgreed(c.Root); err == nil {
		ns.Agreed = a.Hash
	}
	states, _ := transition.ReadVRRPState(c.Root)
	if sg := tree.Get("high-availability", "vrrp", "sync-group"); sg != nil {
		for _, g := range sg.Children {
			s := SyncGroup{Name: g.Name}
			if gs, ok := states[g.Name]; ok {
				s.State = strings.ToUpper(gs.State)
				since := gs.Since
				s.Since = &since
			}
			ns.SyncGroups = append(ns.SyncGroups, s)
		}
	}
	if groups := tree.Get("high-availability", "vrrp", "group"); groups != nil {
		ns.Priorities = map[string]int{}
		for _, g := range groups.Children {
			p := 100 // the schema's default
			if l := g.Get("priority"); l != nil && len(l.Values) == 1 {
				if v, err := strconv.Atoi(l.Values[0]); err == nil {
					p = v
				}
			}
			ns.Priorities[g.Name] = p
		}
	}
	ns.State, _ = ReadState(c.Root)
	ns.Weight = ns.State.Weight()
	// Running is what its Started record says of a live process, as the
	// supervisor judges it; a pid file may name anything.
	ns.Conntrackd = supervise.RecordedPid(conntrackd.Spec(c.Root, "")) != 0
	if ns.Conntrackd {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		cl := &conntrackd.Client{Path: c.Root.ConntrackdSocket()}
		if b, err := cl.Do(cctx, conntrackd.Stats); err == nil {
			if st, err := ctdstats.Parse(strings.NewReader(string(b))); err == nil {
				if x := st.Cache["internal"]; x != nil {
					v := x.Current
					ns.Internal = &v
				}
				if x := st.Cache["external"]; x != nil {
					v := x.Current
					ns.External = &v
				}
			}
		}
		cancel()
	}
	// /proc/sys/net is per network namespace: this is the table of the
	// namespace ctsyncd runs in, the router's.
	if b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_count"); err == nil {
		if v, err := kernelinfo.ParseInt(b); err == nil {
			ns.Kernel = &v
		}
	}
	if c.Ready != nil {
		ns.Ready, ns.ReadyReason = c.Ready(ctx)
	} else {
		ns.ReadyReason = "readiness not evaluated"
	}
	sort.Slice(ns.SyncGroups, func(i, j int) bool { return ns.SyncGroups[i].Name < ns.SyncGroups[j].Name })
	return ns
}
