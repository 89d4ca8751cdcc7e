// Package migrate brings config.boot files from the field — written by
// Vyatta 6.x, by older VyOS, or by an older ctsync — to today's schema.
//
// Each component (conntrack-sync, vrrp) has a schema version. ctsync's own
// saved files record them in the VyOS footer (// vyos-config-version:
// "conntrack-sync@2:vrrp@3"); Vyatta wrote the same in a /* */ comment.
// Migrations are ordered steps per component, N to N+1, each a small
// function that rewrites the old shape it knows and leaves anything else
// alone, so a step run on a tree that is already migrated changes nothing.
// A file with no version recorded runs every step.
//
// Versions:
//
//	conntrack-sync 1  Vyatta 6.x / VyOS 1.2: accept-protocol "tcp,udp",
//	                  interface as a plain leaf, ignore-address ipv4 X,
//	                  failover-mechanism cluster
//	conntrack-sync 2  today's: lists, interface <name> { peer port }
//	vrrp 1            Vyatta 6.x: interfaces <type> <if> [vif N] vrrp
//	                  vrrp-group N { virtual-address ... }
//	vrrp 2            VyOS 1.2-1.3: high-availability vrrp group G
//	                  virtual-address X
//	vrrp 3            today's: high-availability vrrp group G address X/len,
//	                  excluded-address X/len (VyOS 1.3:
//	                  virtual-address-excluded)
//	cluster           VyOS 1.2 / Vyatta heartbeat cluster: always migrated
//	                  to vrrp groups when present (see cluster.go)
//
// Settings under high-availability or service conntrack-sync that no
// step can carry over are Report.Dropped: load refuses the file unless
// told `force`, since the pair would fail over differently without them.
package migrate

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
)

// Current is each component's schema version today; save writes it.
var Current = map[string]int{"conntrack-sync": 2, "vrrp": 3}

// Footer is the version footer save appends.
func Footer() []string { return configtree.VersionFooter(Current) }

// Step is one migration of one component from version From to From+1.
type Step struct {
	Component string
	From      int
	Summary   string
	Run       func(t *configtree.Node, r *Report)
}

// Steps in the order they run: by component, then version.
var Steps = []Step{
	// First: it writes today's vrrp and rewrites conntrack-sync's cluster
	// failover-mechanism before the conntrack-sync step would drop it. No
	// file records a cluster version ctsync keeps, so it always runs; on
	// a tree without `cluster` it does nothing.
	{"cluster", 1, "cluster: heartbeat cluster groups to high-availability vrrp", cluster1toVRRP},
	{"conntrack-sync", 1, "conntrack-sync: lists, interface tag node, ignore-address, no cluster", conntrackSync1to2},
	{"vrrp", 1, "vrrp: interfaces ... vrrp vrrp-group to high-availability vrrp", vrrp1to2},
	{"vrrp", 2, "vrrp: virtual-address to address", vrrp2to3},
}

// Report says what a migration and import did, for the operator.
type Report struct {
	From     map[string]int // versions the file declared (nil: none)
	Applied  []string       // steps that changed something
	Changes  []string       // one line per rewrite ("old path -> new path")
	Warnings []string       // guessed settings, or dropped ones that change nothing
	Skipped  []string       // config paths outside what ctsync manages
	// Dropped are settings under high-availability or service
	// conntrack-sync (or what migrates there) that ctsync does not manage
	// and that change how the pair fails over: load refuses a file with
	// any unless told `force`.
	Dropped []string
}

func (r *Report) drop(format string, args ...any) {
	r.Dropped = append(r.Dropped, fmt.Sprintf(format, args...))
}

func (r *Report) change(format string, args ...any) {
	r.Changes = append(r.Changes, fmt.Sprintf(format, args...))
}

func (r *Report) warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// Lines renders the report, one finding a line; nil when there is
// nothing to say (a file ctsync saved itself).
func (r *Report) Lines() []string {
	var out []string
	for _, c := range r.Changes {
		out = append(out, "migrated: "+c)
	}
	for _, w := range r.Warnings {
		out = append(out, "warning: "+w)
	}
	for _, s := range r.Skipped {
		out = append(out, "skipped (not managed by ctsync): "+s)
	}
	for _, d := range r.Dropped {
		out = append(out, "dropped (not managed by ctsync, changes failover): "+d)
	}
	return out
}

// Migrate runs, in place, every step above the version the file declared
// for its component (all of them for a component not declared).
func Migrate(t *configtree.Node, from map[string]int, r *Report) {
	for _, s := range Steps {
		v, ok := from[s.Component]
		if !ok {
			v = 1
		}
		if s.From < v {
			continue
		}
		before := len(r.Changes) + len(r.Warnings) + len(r.Dropped)
		s.Run(t, r)
		if len(r.Changes)+len(r.Warnings)+len(r.Dropped) > before {
			r.Applied = append(r.Applied, fmt.Sprintf("%s %d->%d", s.Component, s.From, s.From+1))
		}
	}
}

var vyattaVersion = regexp.MustCompile(`/\*\s*===\s*vyatta-config-version:\s*"([^"]*)"\s*===\s*\*/`)

// Versions returns the component versions a file declares: the VyOS
// footer, else Vyatta's comment. Only components ctsync knows are kept;
// nil when the file declares none.
func Versions(raw string, f *configtree.File) (map[string]int, error) {
	v, err := f.Versions()
	if err != nil {
		return nil, err
	}
	if v == nil {
		if m := vyattaVersion.FindStringSubmatch(raw); m != nil {
			v = map[string]int{}
			for _, part := range strings.Split(m[1], ":") {
				name, num, ok := strings.Cut(part, "@")
				n, err := strconv.Atoi(num)
				if ok && err == nil && n >= 0 {
					v[name] = n
				}
			}
		}
	}
	if v == nil {
		return nil, nil
	}
	out := map[string]int{}
	for c := range Current {
		if n, ok := v[c]; ok {
			out[c] = n
		}
	}
	return out, nil
}

// --- small tree helpers; every step must survive any shape of tree ---

func path(words ...string) string { return strings.Join(words, " ") }

// values returns a leaf's values, or the keys of a tag node written as
// "name key { }", the two shapes old configs use for lists.
func values(n *configtree.Node) []string {
	switch {
	case n == nil:
		return nil
	case n.Leaf:
		return n.Values
	case n.Tag:
		var out []string
		for _, e := range n.Children {
			out = append(out, e.Name)
		}
		return out
	}
	return nil
}

func setLeaf(t *configtree.Node, steps []configtree.Step, multi bool, vals ...string) {
	if len(vals) == 0 {
		t.Set(steps, true, multi, false, "")
		return
	}
	for _, v := range vals {
		t.Set(steps, true, multi, true, v)
	}
}

func steps(words ...string) []configtree.Step {
	out := make([]configtree.Step, 0, len(words))
	for _, w := range words {
		tag := false
		if strings.HasPrefix(w, "#") { // "#group" marks a tag node; its key follows
			w, tag = w[1:], true
		}
		out = append(out, configtree.Step{Name: w, Tag: tag})
	}
	return out
}

func remove(parent *configtree.Node, name string) {
	parent.Children = slices.DeleteFunc(parent.Children, func(c *configtree.Node) bool { return c.Name == name })
}

func container(n *configtree.Node) bool { return n != nil && !n.Leaf && !n.Tag }

// --- conntrack-sync 1 -> 2 ---

var ctsPath = []string{"service", "conntrack-sync"}

func conntrackSync1to2(t *configtree.Node, r *Report) {
	cs := t.Get(ctsPath...)
	if !container(cs) {
		return
	}
	// "accept-protocol tcp,udp,icmp": one comma-joined value in Vyatta.
	if ap := cs.Child("accept-protocol"); ap != nil && ap.Leaf && slices.ContainsFunc(ap.Values, func(v string) bool { return strings.Contains(v, ",") }) {
		var out []string
		for _, v := range ap.Values {
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
		r.change("%s %q -> %s", path(append(ctsPath, "accept-protocol")...), strings.Join(ap.Values, " "), strings.Join(out, ", ")+" (a list)")
		if len(out) == 0 {
			remove(cs, "accept-protocol")
		} else {
			ap.Values = out
		}
	}
	// "interface eth1" was a leaf; today each interface is an entry that
	// may carry a peer and a port.
	if in := cs.Child("interface"); in != nil && in.Leaf {
		names := slices.Clone(in.Values)
		remove(cs, "interface")
		for _, n := range names {
			cs.Set(steps("#interface", n), false, false, false, "")
			r.change("%s %s -> %s", path(append(ctsPath, "interface")...), n, path(append(ctsPath, "interface", n)...)+" { }")
		}
	}
	// "ignore-address { ipv4 X }" became "ignore-address X".
	if ig := cs.Child("ignore-address"); container(ig) {
		var addrs []string
		for _, c := range ig.Children {
			if (c.Name == "ipv4" || c.Name == "ipv6") && (c.Leaf || c.Tag) {
				addrs = append(addrs, values(c)...)
			} else {
				r.drop("%s: not an address list", path(append(ctsPath, "ignore-address", c.Name)...))
			}
		}
		remove(cs, "ignore-address")
		for _, a := range addrs {
			cs.Set(steps("ignore-address"), true, true, true, a)
		}
		if len(addrs) > 0 {
			r.change("%s ipv4/ipv6 -> %s %s", path(append(ctsPath, "ignore-address")...), path(append(ctsPath, "ignore-address")...), strings.Join(addrs, ", "))
		}
	}
	// Vyatta could fail over with its own clustering; ctsync drives
	// failover from VRRP only.
	if fm := cs.Child("failover-mechanism"); fm != nil && fm.Child("cluster") != nil {
		remove(fm, "cluster")
		r.drop("%s: ctsync fails over with VRRP only (set %s vrrp sync-group <name>)", path(append(ctsPath, "failover-mechanism", "cluster")...), path(append(ctsPath, "failover-mechanism")...))
		if !fm.Leaf && len(fm.Children) == 0 {
			remove(cs, "failover-mechanism")
		}
	}
}

// --- vrrp 1 -> 2: out of interfaces ---

var haPath = []string{"high-availability", "vrrp"}

// vrrpGroupSettings are the vrrp-group settings that keep their name.
var vrrpGroupSettings = []string{"advertise-interval", "description", "hello-source-address", "preempt-delay", "priority", "rfc3768-compatibility"}

func vrrp1to2(t *configtree.Node, r *Report) {
	ifs := t.Child("interfaces")
	if !container(ifs) {
		return
	}
	for _, typ := range ifs.Children {
		if !typ.Tag {
			continue
		}
		for _, ife := range typ.Children {
			vrrpFromInterface(t, r, []string{"interfaces", typ.Name, ife.Name}, ife, ife.Name)
			if vif := ife.Child("vif"); vif != nil && vif.Tag {
				for _, v := range vif.Children {
					vrrpFromInterface(t, r, []string{"interfaces", typ.Name, ife.Name, "vif", v.Name}, v, ife.Name+"."+v.Name)
				}
			}
		}
	}
}

// vrrpFromInterface moves the vrrp-groups of one interface (or vif) entry
// into high-availability vrrp, naming each group IFNAME-VRID.
func vrrpFromInterface(t *configtree.Node, r *Report, at []string, ife *configtree.Node, ifname string) {
	v := ife.Child("vrrp")
	if v == nil {
		return
	}
	vg := v.Child("vrrp-group")
	if vg == nil || !vg.Tag {
		r.warn("%s: dropped, no vrrp-group inside", path(append(at, "vrrp")...))
		remove(ife, "vrrp")
		return
	}
	for _, g := range vg.Children {
		name := ifname + "-" + g.Name
		gp := append(slices.Clone(haPath), "#group", name)
		base := steps(gp...)
		sub := func(w ...string) []configtree.Step { return append(slices.Clip(base), steps(w...)...) }
		t.Set(sub("interface"), true, false, true, ifname)
		t.Set(sub("vrid"), true, false, true, g.Name)
		for _, c := range g.Children {
			old := path(append(at, "vrrp", "vrrp-group", g.Name, c.Name)...)
			switch {
			case c.Name == "virtual-address":
				setLeaf(t, sub("virtual-address"), true, values(c)...)
			case slices.Contains(vrrpGroupSettings, c.Name) && c.Leaf:
				setLeaf(t, sub(c.Name), false, c.Values...)
			case c.Name == "preempt" && c.Leaf:
				if slices.Contains(c.Values, "false") {
					t.Set(sub("no-preempt"), true, false, false, "")
				}
			case c.Name == "sync-group" && c.Leaf:
				for _, s := range c.Values {
					t.Set(steps(append(slices.Clone(haPath), "#sync-group", s, "member")...), true, true, true, name)
					r.change("%s %s -> %s", old, s, path(append(slices.Clone(haPath), "sync-group", s, "member", name)...))
				}
			case c.Name == "authentication" && container(c):
				for _, a := range c.Children {
					if (a.Name == "type" || a.Name == "password") && a.Leaf {
						setLeaf(t, sub("authentication", a.Name), false, a.Values...)
					}
				}
			case c.Name == "run-transition-scripts" && container(c):
				for _, s := range c.Children {
					if s.Leaf {
						setLeaf(t, sub("transition-script", s.Name), false, s.Values...)
					}
				}
			default:
				r.drop("%s: no equivalent in high-availability vrrp", old)
			}
		}
		r.change("%s -> %s (interface %s, vrid %s)", path(append(at, "vrrp", "vrrp-group", g.Name)...), path(append(slices.Clone(haPath), "group", name)...), ifname, g.Name)
	}
	remove(ife, "vrrp")
}

// --- vrrp 2 -> 3: virtual-address becomes address ---

func vrrp2to3(t *configtree.Node, r *Report) {
	groups := t.Get(append(slices.Clone(haPath), "group")...)
	if groups == nil || !groups.Tag {
		return
	}
	for _, g := range groups.Children {
		gp := append(slices.Clone(haPath), "group", g.Name)
		// Deprecated in VyOS 1.3 and removed by its 1.4 migration.
		if ts := g.Child("transition-script"); container(ts) && ts.Child("mode-force") != nil {
			remove(ts, "mode-force")
			r.change("%s: removed (deprecated; keepalived runs the scripts on every transition)", path(append(gp, "transition-script", "mode-force")...))
			if len(ts.Children) == 0 {
				remove(g, "transition-script")
			}
		}
		vrrpAddresses(t, r, g, "virtual-address", "address")
		vrrpAddresses(t, r, g, "virtual-address-excluded", "excluded-address")
	}
}

// vrrpAddresses moves a group's addresses from the old node name to the
// new one (virtual-address to address, virtual-address-excluded to
// excluded-address), giving a bare address a prefix length.
func vrrpAddresses(t *configtree.Node, r *Report, g *configtree.Node, from, to string) {
	{
		va := g.Child(from)
		if va == nil || (!va.Leaf && !va.Tag) {
			return
		}
		ifname := ""
		if in := g.Child("interface"); in != nil && in.Leaf && len(in.Values) > 0 {
			ifname = in.Values[0]
		}
		type vip struct{ addr, iface string }
		var vips []vip
		if va.Tag {
			for _, e := range va.Children {
				x := vip{addr: e.Name}
				if i := e.Child("interface"); i != nil && i.Leaf && len(i.Values) > 0 {
					x.iface = i.Values[0]
				}
				vips = append(vips, x)
			}
		} else {
			for _, a := range va.Values {
				vips = append(vips, vip{addr: a})
			}
		}
		remove(g, from)
		gp := append(slices.Clone(haPath), "group", g.Name)
		for _, x := range vips {
			addr := x.addr
			if !strings.Contains(addr, "/") {
				addr = withPrefix(t, addr, firstNonEmpty(x.iface, ifname))
				r.warn("%s %s: no prefix length; using %s (from the interface's own address, else a host route)", path(append(gp, from)...), x.addr, addr)
			}
			// The whole group is reached through Set from the root.
			st := steps(append(append(slices.Clone(haPath), "#group", g.Name), "#"+to, addr)...)
			t.Set(st, false, false, false, "")
			if x.iface != "" {
				t.Set(append(st, configtree.Step{Name: "interface"}), true, false, true, x.iface)
			}
			r.change("%s %s -> %s %s", path(append(gp, from)...), x.addr, path(append(gp, to)...), addr)
		}
	}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// withPrefix gives a bare virtual address the prefix length of the
// interface address on the same subnet, as Vyatta configured the VIP; a
// host prefix when no such address is found.
func withPrefix(t *configtree.Node, addr, ifname string) string {
	ip := net.ParseIP(addr)
	if ip == nil {
		return addr // left for validation to name
	}
	host := "/32"
	if ip.To4() == nil {
		host = "/128"
	}
	ifs := t.Child("interfaces")
	if !container(ifs) {
		return addr + host
	}
	for _, typ := range ifs.Children {
		for _, e := range typ.Children {
			cands := []*configtree.Node{e}
			if vif := e.Child("vif"); vif != nil {
				cands = append(cands, vif.Children...)
			}
			for _, c := range cands {
				for _, a := range values(c.Child("address")) {
					_, n, err := net.ParseCIDR(a)
					if err == nil && n.Contains(ip) {
						ones, _ := n.Mask.Size()
						return addr + "/" + strconv.Itoa(ones)
					}
				}
			}
		}
	}
	return addr + host
}
