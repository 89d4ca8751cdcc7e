package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/handler"
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

// Values reaching keepalived.conf are re-checked here even though the
// schema validated them: keepalived's parser splits on white space, treats
// '#' and '!' as comments and braces as blocks, so one stray character
// would change the file's meaning rather than fail.
var (
	reName      = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)
	reIfname    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,14}$`)
	reScript    = regexp.MustCompile(`^/[A-Za-z0-9._+/-]{1,254}$`)
	rePassword  = regexp.MustCompile(`^[!$-&(-:<-\[\]-z|~]{1,8}$`)
	reDecimal   = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,3})?$`)
	reSafeShell = regexp.MustCompile(`^/[A-Za-z0-9._+/@:=,-]*$`)
)

// Verify implements handler.Handler.
func (h *Handler) Verify(ctx context.Context, c any, sys handler.System) error {
	cfg, _ := c.(*Config)
	if cfg == nil {
		return nil
	}
	return verify(cfg, sys)
}

func verify(cfg *Config, sys handler.System) error {
	var errs []error
	add := func(e *cfgerr.Error) { errs = append(errs, e) }
	base := Owned
	ifaceExists := func(path []string, name string) {
		if sys == nil || !reIfname.MatchString(name) {
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
		p := at(base, "global-parameters")
		version = gp.Version
		if gp.Version != 0 && gp.Version != 2 && gp.Version != 3 {
			add(&cfgerr.Error{Path: at(p, "version"), Msg: "must be 2 or 3"})
		}
		if gp.StartupDelay < 0 || gp.StartupDelay > 600 {
			add(&cfgerr.Error{Path: at(p, "startup-delay"), Msg: "must be 0-600 seconds"})
		}
		verifyGarp(at(p, "garp"), gp.Garp, add)
	}

	// Which sync-group each group belongs to.
	memberOf := map[string]string{}
	for _, sname := range cfg.SyncGroupNames() {
		sg := cfg.SyncGroup[sname]
		p := at(base, "sync-group", sname)
		if !reName.MatchString(sname) {
			add(&cfgerr.Error{Path: p, Msg: "invalid sync-group name", Hint: "letters, digits, '.', '_' and '-', at most 64 characters"})
		}
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
			ts := sg.TransitionScript
			for _, s := range []struct{ name, val string }{{"master", ts.Master}, {"backup", ts.Backup}, {"fault", ts.Fault}} {
				if s.val != "" {
					add(&cfgerr.Error{
						Path: at(p, "transition-script", s.name),
						Msg:  "this sync-group runs the conntrack-sync failover hook on " + s.name,
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
		if !reName.MatchString(name) {
			add(&cfgerr.Error{Path: p, Msg: "invalid group name", Hint: "letters, digits, '.', '_' and '-', at most 64 characters"})
		}
		if g.VRID == 0 {
			add(cfgerr.New(p, "vrid is required").WithHint("set %s vrid <1-255>", cfgerr.JoinPath(p)))
		} else if g.VRID < 1 || g.VRID > 255 {
			add(&cfgerr.Error{Path: at(p, "vrid"), Msg: "must be 1-255"})
		}
		if g.Interface == "" {
			add(cfgerr.New(p, "interface is required").WithHint("set %s interface <name>", cfgerr.JoinPath(p)))
		} else if !reIfname.MatchString(g.Interface) {
			add(&cfgerr.Error{Path: at(p, "interface"), Msg: "invalid interface name"})
		}
		if len(g.Address) == 0 {
			add(cfgerr.New(p, "at least one address is required").WithHint("set %s address <ip/len>", cfgerr.JoinPath(p)))
		}
		if g.Priority < 1 || g.Priority > 255 {
			add(&cfgerr.Error{Path: at(p, "priority"), Msg: "must be 1-255"})
		}
		if c, err := advertCentis(g.AdvertiseInterval); err != nil {
			add(&cfgerr.Error{Path: at(p, "advertise-interval"), Msg: "must be 1-255 seconds, or 0.01-255 with VRRP version 3"})
		} else if c%100 != 0 && !g.runsVersion3(version) {
			// VRRPv2 counts adverts in whole seconds (RFC 3768); keepalived
			// would round or refuse a fraction.
			add(&cfgerr.Error{Path: at(p, "advertise-interval"),
				Msg:  fmt.Sprintf("%s: fractions of a second need VRRP version 3 (version 2 adverts are whole seconds, 1-255)", g.AdvertiseInterval),
				Hint: "set " + cfgerr.JoinPath(base) + " global-parameters version 3"})
		}
		if g.PreemptDelay < 0 || g.PreemptDelay > 1000 {
			add(&cfgerr.Error{Path: at(p, "preempt-delay"), Msg: "must be 0-1000 seconds"})
		}

		fams := map[int]bool{}
		for _, a := range sortedKeys(g.Address) {
			ap := at(p, "address", a)
			pfx, err := netip.ParsePrefix(a)
			if err != nil {
				add(&cfgerr.Error{Path: ap, Msg: "not an IP address with a prefix length"})
				continue
			}
			fams[familyOf(pfx.Addr())] = true
			if dev := g.Address[a].Interface; dev != "" {
				if !reIfname.MatchString(dev) {
					add(&cfgerr.Error{Path: at(ap, "interface"), Msg: "invalid interface name"})
				} else if !g.Disable {
					ifaceExists(at(ap, "interface"), dev)
				}
			}
		}
		if len(fams) > 1 {
			add(&cfgerr.Error{Path: at(p, "address"), Msg: "IPv4 and IPv6 addresses cannot be mixed in one group", Hint: "use one group per address family"})
		}
		// Excluded addresses move with the group but are not in its
		// adverts: either family, any number.
		for _, a := range sortedKeys(g.ExcludedAddress) {
			ap := at(p, "excluded-address", a)
			pfx, err := netip.ParsePrefix(a)
			if err != nil {
				add(&cfgerr.Error{Path: ap, Msg: "not an IP address with a prefix length"})
				continue
			}
			if _, dup := g.Address[pfx.String()]; dup {
				add(&cfgerr.Error{Path: ap, Msg: "is also an address of the group", Hint: "keep it in one of address and excluded-address"})
			}
			if x := g.ExcludedAddress[a]; x != nil && x.Interface != "" {
				if !reIfname.MatchString(x.Interface) {
					add(&cfgerr.Error{Path: at(ap, "interface"), Msg: "invalid interface name"})
				} else if !g.Disable {
					ifaceExists(at(ap, "interface"), x.Interface)
				}
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
			switch {
			case a.Type == "" || a.Password == "":
				add(&cfgerr.Error{Path: ap, Msg: "type and password are both required"})
			case a.Type != "plaintext-password" && a.Type != "ah":
				add(&cfgerr.Error{Path: at(ap, "type"), Msg: "must be plaintext-password or ah"})
			}
			if len(a.Password) > 8 {
				add(&cfgerr.Error{Path: at(ap, "password"), Msg: "at most 8 characters are allowed"})
			} else if a.Password != "" && !rePassword.MatchString(a.Password) {
				add(&cfgerr.Error{Path: at(ap, "password"), Msg: "printable characters only, without spaces, quotes, braces, '#', ';' or backslashes"})
			}
			if fam == 6 || version == 3 {
				add(&cfgerr.Error{Path: ap, Msg: "VRRP version 3 has no authentication (IPv6 groups always run version 3)"})
			}
		}

		if g.RFC3768Compatibility && g.Interface != "" && g.VRID != 0 {
			if vmac := vmacName(g); len(vmac) > 15 {
				add(&cfgerr.Error{Path: at(p, "rfc3768-compatibility"), Msg: fmt.Sprintf("the virtual MAC interface name %s is longer than 15 characters", vmac), Hint: "use a shorter interface name"})
			}
		}

		if t := g.Track; t != nil {
			for _, i := range t.Interface {
				if !reIfname.MatchString(i) {
					add(&cfgerr.Error{Path: at(p, "track", "interface", i), Msg: "invalid interface name"})
				} else if !g.Disable {
					ifaceExists(at(p, "track", "interface", i), i)
				}
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
		verifyGarp(at(p, "garp"), g.Garp, add)

		// A disabled group is not rendered: it cannot clash with anything
		// on the live system.
		if g.Disable || g.Interface == "" || !reIfname.MatchString(g.Interface) {
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

func verifyPeer(path []string, addr string, fam int, add func(*cfgerr.Error)) {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		add(&cfgerr.Error{Path: path, Msg: "not an IP address"})
		return
	}
	if fam != 0 && familyOf(a) != fam {
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
	if h.Ping != "" {
		if _, err := netip.ParseAddr(h.Ping); err != nil {
			add(&cfgerr.Error{Path: at(path, "ping"), Msg: "not an IP address"})
		} else if !executable(PingPath) {
			add(&cfgerr.Error{Path: at(path, "ping"), Msg: PingPath + " is not installed", Hint: "install iputils-ping"})
		}
	}
	if h.Script != "" {
		verifyScript(at(path, "script"), h.Script, add)
	}
	if h.Interval < 1 || h.Interval > 86400 {
		add(&cfgerr.Error{Path: at(path, "interval"), Msg: "must be 1-86400 seconds"})
	}
	if h.FailureCount < 1 || h.FailureCount > 1000 {
		add(&cfgerr.Error{Path: at(path, "failure-count"), Msg: "must be 1-1000"})
	}
}

func verifyScripts(path []string, t *TransitionScript, add func(*cfgerr.Error)) {
	if t == nil {
		return
	}
	for _, s := range []struct{ name, val string }{{"master", t.Master}, {"backup", t.Backup}, {"fault", t.Fault}, {"stop", t.Stop}} {
		if s.val != "" {
			verifyScript(at(path, s.name), s.val, add)
		}
	}
}

func verifyScript(path []string, script string, add func(*cfgerr.Error)) {
	switch {
	case !reScript.MatchString(script):
		add(&cfgerr.Error{Path: path, Msg: "must be an absolute path of letters, digits, '.', '_', '+', '/' and '-'"})
	case !executable(script):
		add(&cfgerr.Error{Path: path, Msg: fmt.Sprintf("%s does not exist or is not executable", script)})
	default:
		if err := scriptSafe(script); err != nil {
			add(&cfgerr.Error{Path: path, Msg: fmt.Sprintf("keepalived runs it as root, so only root may be able to change it: %v", err),
				Hint: "install the script root-owned, mode 0755 or stricter, in a directory only root can write (such as /usr/local/sbin)"})
		}
	}
}

func verifyGarp(path []string, g *Garp, add func(*cfgerr.Error)) {
	if g == nil {
		return
	}
	if g.Interval != "" && !reDecimal.MatchString(g.Interval) {
		add(&cfgerr.Error{Path: at(path, "interval"), Msg: "must be a number of seconds, at most 3 decimals"})
	}
	for _, f := range []struct {
		name   string
		v      *int
		lo, hi int
	}{
		{"master-delay", g.MasterDelay, 1, 1000},
		{"master-refresh", g.MasterRefresh, 0, 255},
		{"master-refresh-repeat", g.MasterRefreshRepeat, 1, 255},
		{"master-repeat", g.MasterRepeat, 1, 255},
	} {
		if f.v != nil && (*f.v < f.lo || *f.v > f.hi) {
			add(&cfgerr.Error{Path: at(path, f.name), Msg: fmt.Sprintf("must be %d-%d", f.lo, f.hi)})
		}
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
