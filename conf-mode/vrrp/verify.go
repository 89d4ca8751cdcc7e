package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/schema"
)

// PingPath is the ping a `health-check ping` runs. keepalived silently
// disables a track script it cannot run, which would turn a health check
// into none, so Verify refuses the config when it is missing.
var PingPath = "/usr/bin/ping"

// executable reports whether path is a regular file someone may execute;
// a variable so unit tests do not depend on the machine's files.
var executable = defaultExecutable

// scriptSafe checks that a script keepalived will run as root could only
// have been written by root; a variable for the same reason.
var scriptSafe = defaultScriptSafe

// defaultScriptSafe is keepalived's enable_script_security rule, checked
// at commit so the operator hears of it rather than keepalived silently
// disabling the script: the file and every directory above it (and
// above what a symlink points to) are owned by root and writable by
// nobody else. Otherwise a member of the ctsync group (or anyone) who
// can write the script, or rename it away, runs code as root.
func defaultScriptSafe(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	for _, p := range []string{path, real} {
		for q := p; ; q = filepath.Dir(q) {
			fi, err := os.Lstat(q)
			if err != nil {
				return err
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok {
				return fmt.Errorf("%s: cannot tell its owner", q)
			}
			if st.Uid != 0 {
				return fmt.Errorf("%s is owned by uid %d, not root", q, st.Uid)
			}
			if fi.Mode()&os.ModeSymlink == 0 && fi.Mode().Perm()&0o022 != 0 {
				return fmt.Errorf("%s is writable by group or others (mode %04o)", q, fi.Mode().Perm())
			}
			if q == "/" {
				break
			}
		}
	}
	return nil
}

func defaultExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// values lists every value of cfg that reaches keepalived.conf, with the
// path of the schema node whose type it has: keepalived's parser splits
// on white space, treats '#' and '!' as comments and braces as blocks,
// so one stray character would change the file's meaning rather than
// fail, and the YANG types are what keep such characters out.
func (c *Config) values() []schema.Value {
	var vs []schema.Value
	add := func(v string, p ...string) { vs = append(vs, schema.Value{Path: at(Owned, p...), Value: v}) }
	num := func(v int, p ...string) { add(strconv.Itoa(v), p...) }
	garp := func(g *Garp, p ...string) {
		if g == nil {
			return
		}
		p = append(p, "garp")
		if g.Interval != "" {
			add(g.Interval, at(p, "interval")...)
		}
		for _, f := range []struct {
			name string
			v    *int
		}{{"master-delay", g.MasterDelay}, {"master-refresh", g.MasterRefresh}, {"master-refresh-repeat", g.MasterRefreshRepeat}, {"master-repeat", g.MasterRepeat}} {
			if f.v != nil {
				num(*f.v, at(p, f.name)...)
			}
		}
	}
	health := func(h *HealthCheck, p ...string) {
		if h == nil {
			return
		}
		p = append(p, "health-check")
		num(h.FailureCount, at(p, "failure-count")...)
		num(h.Interval, at(p, "interval")...)
		if h.Ping != "" {
			add(h.Ping, at(p, "ping")...)
		}
		if h.Script != "" {
			add(h.Script, at(p, "script")...)
		}
	}
	scripts := func(t *TransitionScript, p ...string) {
		if t == nil {
			return
		}
		for _, s := range t.scripts() {
			add(s.path, at(p, "transition-script", s.state)...)
		}
	}

	if gp := c.GlobalParameters; gp != nil {
		if gp.Version != 0 {
			num(gp.Version, "global-parameters", "version")
		}
		if gp.StartupDelay != 0 {
			num(gp.StartupDelay, "global-parameters", "startup-delay")
		}
		garp(gp.Garp, "global-parameters")
	}
	for _, name := range c.SyncGroupNames() {
		sg := c.SyncGroup[name]
		add(name, "sync-group")
		for _, m := range sg.Member {
			add(m, "sync-group", name, "member")
		}
		health(sg.HealthCheck, "sync-group", name)
		scripts(sg.TransitionScript, "sync-group", name)
	}
	for _, name := range c.GroupNames() {
		g := c.Group[name]
		p := []string{"group", name}
		add(name, "group")
		if g.VRID != 0 {
			num(g.VRID, at(p, "vrid")...)
		}
		if g.Interface != "" {
			add(g.Interface, at(p, "interface")...)
		}
		num(g.Priority, at(p, "priority")...)
		add(g.AdvertiseInterval, at(p, "advertise-interval")...)
		num(g.PreemptDelay, at(p, "preempt-delay")...)
		for _, list := range []struct {
			name  string
			addrs map[string]*Address
		}{{"address", g.Address}, {"excluded-address", g.ExcludedAddress}} {
			for _, a := range sortedKeys(list.addrs) {
				add(a, at(p, list.name)...)
				if x := list.addrs[a]; x != nil && x.Interface != "" {
					add(x.Interface, at(p, list.name, a, "interface")...)
				}
			}
		}
		for _, peer := range g.PeerAddress {
			add(peer, at(p, "peer-address")...)
		}
		if g.HelloSourceAddress != "" {
			add(g.HelloSourceAddress, at(p, "hello-source-address")...)
		}
		if a := g.Authentication; a != nil {
			if a.Type != "" {
				add(a.Type, at(p, "authentication", "type")...)
			}
			if a.Password != "" {
				add(a.Password, at(p, "authentication", "password")...)
			}
		}
		if t := g.Track; t != nil {
			for _, i := range t.Interface {
				add(i, at(p, "track", "interface")...)
			}
		}
		health(g.HealthCheck, p...)
		scripts(g.TransitionScript, p...)
		garp(g.Garp, p...)
	}
	return vs
}

// Verify implements handler.Handler.
func (h *Handler) Verify(ctx context.Context, cfg Config, sys handler.System) (handler.NoFacts, error) {
	return handler.NoFacts{}, verify(&cfg, sys)
}

// verify checks what the schema cannot: rules across nodes and groups,
// and the live system.
func verify(cfg *Config, sys handler.System) error {
	// The schema refused bad values at set; asking it again keeps a
	// hand-edited config.boot or a schema bug out of the file, and the
	// checks below may take every value as well formed.
	if err := schema.Default().CheckValues(cfg.values()); err != nil {
		return err
	}
	var errs []error
	add := func(e *cfgerr.Error) { errs = append(errs, e) }
	base := Owned
	ifaceExists := func(path []string, name string) {
		if sys == nil {
			return
		}
		if _, err := sys.Interface(name); err != nil {
			if errors.Is(err, handler.ErrNoInterface) {
				add(&cfgerr.Error{Path: path, Msg: fmt.Sprintf("interface %s does not exist", name)})
			} else {
				add(&cfgerr.Error{Path: path, Msg: fmt.Sprintf("cannot look up interface %s: %v", name, err)})
			}
		}
	}

	version := 0
	if gp := cfg.GlobalParameters; gp != nil {
		version = gp.Version
	}

	// Which sync-group each group belongs to.
	memberOf := map[string]string{}
	for _, sname := range cfg.SyncGroupNames() {
		sg := cfg.SyncGroup[sname]
		p := at(base, "sync-group", sname)
		if len(sg.Member) == 0 {
			add(&cfgerr.Error{Path: p, Msg: "a sync-group needs at least one member", Hint: fmt.Sprintf("set %s member <group>", cfgerr.JoinPath(p))})
		}
		for _, m := range sg.Member {
			mp := at(p, "member", m)
			if cfg.Group[m] == nil {
				add(&cfgerr.Error{Path: mp, Msg: fmt.Sprintf("group %s is not configured", m)})
				continue
			}
			if other, dup := memberOf[m]; dup {
				add(&cfgerr.Error{Path: mp, Msg: fmt.Sprintf("group %s is already a member of sync-group %s", m, other)})
				continue
			}
			memberOf[m] = sname
		}
		verifyHealth(at(p, "health-check"), sg.HealthCheck, add)
		verifyScripts(at(p, "transition-script"), sg.TransitionScript, add)
		if cfg.Hooked(sname) && sg.TransitionScript != nil {
			for _, s := range sg.TransitionScript.scripts() {
				if s.state != "stop" {
					add(&cfgerr.Error{
						Path: at(p, "transition-script", s.state),
						Msg:  "this sync-group runs the conntrack-sync failover hook on " + s.state,
						Hint: "set the script on a member group instead, or use transition-script stop",
					})
				}
			}
		}
	}

	type vridKey struct {
		iface  string
		family int
		vrid   int
	}
	vrids := map[vridKey]string{}
	type garpKey struct {
		iface  string
		family int
	}
	garps := map[garpKey]string{}

	for _, name := range cfg.GroupNames() {
		g := cfg.Group[name]
		p := at(base, "group", name)
		if g.VRID == 0 {
			add(cfgerr.New(p, "vrid is required").WithHint("set %s vrid <1-255>", cfgerr.JoinPath(p)))
		}
		if g.Interface == "" {
			add(cfgerr.New(p, "interface is required").WithHint("set %s interface <name>", cfgerr.JoinPath(p)))
		}
		if len(g.Address) == 0 {
			add(cfgerr.New(p, "at least one address is required").WithHint("set %s address <ip/len>", cfgerr.JoinPath(p)))
		}
		if c, err := advertCentis(g.AdvertiseInterval); err == nil && c%100 != 0 && !g.runsVersion3(version) {
			// VRRPv2 counts adverts in whole seconds (RFC 3768); keepalived
			// would round or refuse a fraction.
			add(&cfgerr.Error{Path: at(p, "advertise-interval"),
				Msg:  fmt.Sprintf("%s: fractions of a second need VRRP version 3 (version 2 adverts are whole seconds, 1-255)", g.AdvertiseInterval),
				Hint: "set " + cfgerr.JoinPath(base) + " global-parameters version 3"})
		}

		fams := map[int]bool{}
		for _, a := range sortedKeys(g.Address) {
			ap := at(p, "address", a)
			if pfx, err := netip.ParsePrefix(a); err == nil {
				fams[familyOf(pfx.Addr())] = true
			}
			if dev := g.Address[a].Interface; dev != "" && !g.Disable {
				ifaceExists(at(ap, "interface"), dev)
			}
		}
		if len(fams) > 1 {
			add(&cfgerr.Error{Path: at(p, "address"), Msg: "IPv4 and IPv6 addresses cannot be mixed in one group", Hint: "use one group per address family"})
		}
		// Excluded addresses move with the group but are not in its
		// adverts: either family, any number.
		for _, a := range sortedKeys(g.ExcludedAddress) {
			ap := at(p, "excluded-address", a)
			if pfx, err := netip.ParsePrefix(a); err == nil {
				if _, dup := g.Address[pfx.String()]; dup {
					add(&cfgerr.Error{Path: ap, Msg: "is also an address of the group", Hint: "keep it in one of address and excluded-address"})
				}
			}
			if x := g.ExcludedAddress[a]; x != nil && x.Interface != "" && !g.Disable {
				ifaceExists(at(ap, "interface"), x.Interface)
			}
		}
		fam := g.family()

		for _, peer := range g.PeerAddress {
			verifyPeer(at(p, "peer-address", peer), peer, fam, add)
		}
		if g.HelloSourceAddress != "" {
			verifyPeer(at(p, "hello-source-address"), g.HelloSourceAddress, fam, add)
		}

		if a := g.Authentication; a != nil {
			ap := at(p, "authentication")
			if a.Type == "" || a.Password == "" {
				add(&cfgerr.Error{Path: ap, Msg: "type and password are both required"})
			}
			if fam == 6 || version == 3 {
				add(&cfgerr.Error{Path: ap, Msg: "VRRP version 3 has no authentication (IPv6 groups always run version 3)"})
			}
		}

		if g.RFC3768Compatibility && g.Interface != "" && g.VRID != 0 {
			if vmac := vmacName(g); len(vmac) > maxIfname {
				add(&cfgerr.Error{Path: at(p, "rfc3768-compatibility"), Msg: fmt.Sprintf("the virtual MAC interface name %s is longer than %d characters", vmac, maxIfname), Hint: "use a shorter interface name"})
			}
		}

		if t := g.Track; t != nil && !g.Disable {
			for _, i := range t.Interface {
				ifaceExists(at(p, "track", "interface", i), i)
			}
		}
		verifyHealth(at(p, "health-check"), g.HealthCheck, add)
		if sg, ok := memberOf[name]; ok && g.HealthCheck.Configured() {
			add(&cfgerr.Error{
				Path: at(p, "health-check"),
				Msg:  fmt.Sprintf("group %s is a member of sync-group %s and cannot have its own health-check", name, sg),
				Hint: fmt.Sprintf("set it on the sync-group: set %s sync-group %s health-check ...", cfgerr.JoinPath(base), sg),
			})
		}
		verifyScripts(at(p, "transition-script"), g.TransitionScript, add)

		// A disabled group is not rendered: it cannot clash with anything
		// on the live system.
		if g.Disable || g.Interface == "" {
			continue
		}
		ifaceExists(at(p, "interface"), g.Interface)
		if g.VRID != 0 && fam != 0 {
			k := vridKey{g.Interface, fam, g.VRID}
			if other, dup := vrids[k]; dup {
				add(&cfgerr.Error{Path: at(p, "vrid"), Msg: fmt.Sprintf("vrid %d is already used by group %s on %s for IPv%d", g.VRID, other, g.Interface, fam)})
			} else {
				vrids[k] = name
			}
		}
		if g.Garp != nil && nonZero(g.Garp.Interval) && fam != 0 {
			k := garpKey{g.Interface, fam}
			if other, dup := garps[k]; dup && cfg.Group[other].Garp.Interval != g.Garp.Interval {
				add(&cfgerr.Error{Path: at(p, "garp", "interval"), Msg: fmt.Sprintf("group %s on %s uses garp interval %s: one interval applies per interface", other, g.Interface, cfg.Group[other].Garp.Interval)})
			} else if !dup {
				garps[k] = name
			}
		}
	}
	return errors.Join(errs...)
}

// maxIfname is the kernel's limit on an interface name (IFNAMSIZ less
// the terminating NUL).
const maxIfname = 15

func verifyPeer(path []string, addr string, fam int, add func(*cfgerr.Error)) {
	if a, err := netip.ParseAddr(addr); err == nil && fam != 0 && familyOf(a) != fam {
		add(&cfgerr.Error{Path: path, Msg: fmt.Sprintf("must be an IPv%d address, like the group's addresses", fam)})
	}
}

func verifyHealth(path []string, h *HealthCheck, add func(*cfgerr.Error)) {
	if h == nil {
		return
	}
	if h.Ping != "" && h.Script != "" {
		add(&cfgerr.Error{Path: path, Msg: "ping and script cannot both be set"})
	}
	if h.Ping != "" && !executable(PingPath) {
		add(&cfgerr.Error{Path: at(path, "ping"), Msg: PingPath + " is not installed", Hint: "install iputils-ping"})
	}
	if h.Script != "" {
		verifyScript(at(path, "script"), h.Script, add)
	}
}

func verifyScripts(path []string, t *TransitionScript, add func(*cfgerr.Error)) {
	if t == nil {
		return
	}
	for _, s := range t.scripts() {
		verifyScript(at(path, s.state), s.path, add)
	}
}

func verifyScript(path []string, script string, add func(*cfgerr.Error)) {
	if !executable(script) {
		add(&cfgerr.Error{Path: path, Msg: fmt.Sprintf("%s does not exist or is not executable", script)})
		return
	}
	if err := scriptSafe(script); err != nil {
		add(&cfgerr.Error{Path: path, Msg: fmt.Sprintf("keepalived runs it as root, so only root may be able to change it: %v", err),
			Hint: "install the script root-owned, mode 0755 or stricter, in a directory only root can write (such as /usr/local/sbin)"})
	}
}

// at is path p extended by words, in a slice of its own: paths are built
// from shared prefixes.
func at(p []string, words ...string) []string { return append(slices.Clip(p), words...) }

// nonZero reports whether a decimal interval asks for anything.
func nonZero(interval string) bool {
	return strings.Trim(interval, "0.") != ""
}

// vmacName is the macvlan keepalived creates for rfc3768-compatibility,
// named as VyOS names it.
func vmacName(g *Group) string { return fmt.Sprintf("%sv%d", g.Interface, g.VRID) }
