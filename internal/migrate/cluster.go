package migrate

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/ctsync/ctsync/internal/configtree"
)

// --- cluster 1 -> vrrp: VyOS 1.2's heartbeat cluster ---
//
// VyOS 1.2 (and Vyatta) could fail over with a heartbeat-based `cluster`:
//
//	cluster {
//	    group G { primary A  secondary B  service ADDR/LEN[/IF]  auto-failback true|false  monitor IP }
//	    interface IF  pre-shared-secret S  keepalive-interval MS  dead-interval MS ...
//	}
//
// VyOS 1.4 migrates each group to `high-availability vrrp group G`; so does
// this step, the same way: the services' addresses on the cluster's
// interface (or the one a service names), the lowest VRID no VRRP group
// uses yet (1 on a router without VRRP), keepalive-interval in whole
// seconds (at least 1) as advertise-interval, plaintext-password
// authentication from the secret, no-preempt unless auto-failback is
// true, monitor as a ping health check. Where VyOS refuses to migrate
// (addresses on several interfaces), ctsync keeps the others with
// `address A interface IF`. A conntrack-sync `failover-mechanism cluster
// group G` then names a sync-group of the new group.

var clusterPath = []string{"cluster"}

// reClusterService is an address service: IPv4/LEN, optionally /IF.
var reClusterService = regexp.MustCompile(`^([0-9.]+/[0-9]{1,2})(?:/([A-Za-z][A-Za-z0-9._@-]{0,14}))?$`)

// clusterService parses one `service` of a cluster group: an IPv4 prefix
// and the interface it names, if any. Services that are not addresses
// (cluster once allowed init scripts) have no VRRP equivalent.
func clusterService(s string) (addr, iface string, ok bool) {
	m := reClusterService.FindStringSubmatch(s)
	if m == nil {
		return "", "", false
	}
	p, err := netip.ParsePrefix(m[1])
	if err != nil || !p.Addr().Is4() {
		return "", "", false
	}
	return p.String(), m[2], true
}

func leafValue(n *configtree.Node, name string) (string, bool) {
	c := n.Child(name)
	if c == nil || !c.Leaf || len(c.Values) == 0 {
		return "", false
	}
	return c.Values[0], true
}

// usedVRIDs are the VRIDs the tree's VRRP groups use already, in today's
// place and in Vyatta's (interfaces ... vrrp vrrp-group N), which a later
// step moves.
func usedVRIDs(t *configtree.Node) map[int]bool {
	used := map[int]bool{}
	if groups := t.Get(append(slices.Clone(haPath), "group")...); groups != nil && groups.Tag {
		for _, g := range groups.Children {
			if v, ok := leafValue(g, "vrid"); ok {
				if n, err := strconv.Atoi(v); err == nil {
					used[n] = true
				}
			}
		}
	}
	var walk func(n *configtree.Node)
	walk = func(n *configtree.Node) {
		for _, c := range n.Children {
			if c.Name == "vrrp-group" && c.Tag {
				for _, e := range c.Children {
					if n, err := strconv.Atoi(e.Name); err == nil {
						used[n] = true
					}
				}
				continue
			}
			walk(c)
		}
	}
	if ifs := t.Child("interfaces"); ifs != nil {
		walk(ifs)
	}
	return used
}

func cluster1toVRRP(t *configtree.Node, r *Report) {
	cl := t.Get(clusterPath...)
	if cl == nil {
		return
	}
	defer remove(t, "cluster")
	if !container(cl) {
		r.warn("cluster: dropped, not a configuration block")
		return
	}
	globalIf, _ := leafValue(cl, "interface")
	advert := "1"
	if ms, ok := leafValue(cl, "keepalive-interval"); ok {
		// Cluster counted in milliseconds; VRRPv2 in whole seconds.
		if n, err := strconv.Atoi(ms); err == nil && n >= 2000 {
			advert = strconv.Itoa(n / 1000)
		}
	}
	secret, hasSecret := leafValue(cl, "pre-shared-secret")
	if hasSecret && len(secret) > 8 {
		// VRRPv2 carries 8 bytes of password; keepalived uses the first 8.
		r.warn("cluster pre-shared-secret: longer than VRRP's 8 characters; the first 8 are the group's password")
		secret = secret[:8]
	}
	for _, c := range cl.Children {
		switch c.Name {
		case "group", "interface", "keepalive-interval", "pre-shared-secret":
		default:
			r.warn("cluster %s: dropped, no equivalent in high-availability vrrp", c.Name)
		}
	}
	used := usedVRIDs(t)
	migrated := map[string]bool{}
	if groups := cl.Child("group"); groups != nil && groups.Tag {
		for _, g := range groups.Children {
			if clusterGroup(t, r, g, globalIf, advert, secret, hasSecret, used) {
				migrated[g.Name] = true
			}
		}
	}
	clusterFailover(t, r, migrated)
}

// clusterGroup migrates one cluster group; false when it could not.
func clusterGroup(t *configtree.Node, r *Report, g *configtree.Node, globalIf, advert, secret string, hasSecret bool, used map[int]bool) bool {
	at := path("cluster", "group", g.Name)
	type vip struct{ addr, iface string }
	var vips []vip
	for _, s := range values(g.Child("service")) {
		addr, iface, ok := clusterService(s)
		if !ok {
			r.warn("%s service %s: dropped, not an IPv4 address service (ADDR/LEN[/IF])", at, s)
			continue
		}
		if iface == "" {
			iface = globalIf
		}
		if iface == "" {
			r.warn("%s service %s: dropped, no interface (neither cluster interface nor /IF)", at, s)
			continue
		}
		vips = append(vips, vip{addr, iface})
	}
	if len(vips) == 0 {
		r.drop("%s: no address service to move, not migrated to high-availability vrrp", at)
		return false
	}
	if t.Get(append(slices.Clone(haPath), "group", g.Name)...) != nil {
		r.drop("%s: high-availability vrrp group %s exists already, not migrated", at, g.Name)
		return false
	}
	vrid := 1
	for used[vrid] && vrid < 255 {
		vrid++
	}
	if used[vrid] {
		r.drop("%s: every VRID is in use, not migrated", at)
		return false
	}
	used[vrid] = true
	gp := append(slices.Clone(haPath), "#group", g.Name)
	sub := func(w ...string) []configtree.Step { return steps(append(slices.Clone(gp), w...)...) }
	iface := vips[0].iface
	t.Set(sub("interface"), true, false, true, iface)
	t.Set(sub("vrid"), true, false, true, strconv.Itoa(vrid))
	t.Set(sub("advertise-interval"), true, false, true, advert)
	for _, v := range vips {
		st := sub("#address", v.addr)
		t.Set(st, false, false, false, "")
		if v.iface != iface {
			// VyOS refuses such a group; ctsync can say where it goes.
			t.Set(append(st, configtree.Step{Name: "interface"}), true, false, true, v.iface)
			r.warn("%s service %s/%s: on another interface than the group's %s; kept as address %s interface %s", at, v.addr, v.iface, iface, v.addr, v.iface)
		}
	}
	if hasSecret {
		t.Set(sub("authentication", "type"), true, false, true, "plaintext-password")
		t.Set(sub("authentication", "password"), true, false, true, secret)
	}
	if af, _ := leafValue(g, "auto-failback"); af != "true" {
		// Cluster's default was not to fail back.
		t.Set(sub("no-preempt"), true, false, false, "")
	}
	if mon, ok := leafValue(g, "monitor"); ok {
		t.Set(sub("health-check", "ping"), true, false, true, mon)
	}
	p, _ := leafValue(g, "primary")
	s, _ := leafValue(g, "secondary")
	for _, c := range g.Children {
		switch c.Name {
		case "service", "auto-failback", "monitor", "primary", "secondary":
		default:
			r.warn("%s %s: dropped, no equivalent in high-availability vrrp", at, c.Name)
		}
	}
	r.change("%s -> %s (interface %s, vrid %d, advertise-interval %s%s)", at, path(append(slices.Clone(haPath), "group", g.Name)...),
		iface, vrid, advert, map[bool]string{true: ", plaintext-password from pre-shared-secret", false: ""}[hasSecret])
	r.warn("%s: primary %s and secondary %s are host names; VRRP elects by priority (both routers get %s): set high-availability vrrp group %s priority on %s higher",
		at, orUnset(p), orUnset(s), "100 unless set", g.Name, orUnset(p))
	return true
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// clusterFailover points conntrack-sync's `failover-mechanism cluster
// group G` at a sync-group holding the migrated VRRP group G: the one it
// is a member of already, else a new sync-group G. A group that was not
// migrated is left for the conntrack-sync step, which drops it.
func clusterFailover(t *configtree.Node, r *Report, migrated map[string]bool) {
	fm := t.Get(append(slices.Clone(ctsPath), "failover-mechanism")...)
	if fm == nil {
		return
	}
	cl := fm.Child("cluster")
	if cl == nil {
		return
	}
	g, _ := leafValue(cl, "group")
	if g == "" {
		if gn := cl.Child("group"); gn != nil && gn.Tag && len(gn.Children) == 1 {
			g = gn.Children[0].Name
		}
	}
	if !migrated[g] {
		return
	}
	sync := ""
	if sgs := t.Get(append(slices.Clone(haPath), "sync-group")...); sgs != nil && sgs.Tag {
		for _, sg := range sgs.Children {
			if slices.Contains(values(sg.Child("member")), g) {
				sync = sg.Name
			}
		}
	}
	if sync == "" {
		sync = g
		t.Set(steps(append(slices.Clone(haPath), "#sync-group", sync, "member")...), true, true, true, g)
		r.change("%s %s -> %s", path(append(slices.Clone(ctsPath), "failover-mechanism", "cluster", "group")...), g,
			path(append(slices.Clone(haPath), "sync-group", sync, "member", g)...))
	}
	remove(fm, "cluster")
	if fm.Child("vrrp") == nil {
		t.Set(steps(append(slices.Clone(ctsPath), "failover-mechanism", "vrrp", "sync-group")...), true, false, true, sync)
	}
	r.warn("%s group %s -> %s vrrp sync-group %s: the heartbeat cluster is VRRP group %s now; check its priorities and addresses on both routers before commit",
		path(append(slices.Clone(ctsPath), "failover-mechanism", "cluster")...), g, path(append(slices.Clone(ctsPath), "failover-mechanism")...), sync, g)
}

// inManaged says a path lies under a subtree whose every setting changes
// how the pair fails over: dropping one silently is not an import.
func inManaged(p string) bool {
	return strings.HasPrefix(p+" ", "high-availability ") || strings.HasPrefix(p+" ", "service conntrack-sync ")
}
