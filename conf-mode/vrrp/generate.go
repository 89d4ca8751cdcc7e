package vrrp

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"text/template"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/templates"
)

// TemplateName is the file under templates/ this handler renders.
const TemplateName = "keepalived.conf.tmpl"

var (
	tmplOnce sync.Once
	tmpl     *template.Template
	tmplErr  error
)

func loadTemplate() (*template.Template, error) {
	tmplOnce.Do(func() {
		tmpl, tmplErr = template.New(TemplateName).Option("missingkey=error").ParseFS(templates.Files, TemplateName)
	})
	return tmpl, tmplErr
}

// ReloadFile is the file keepalived deletes once it has read its config:
// Apply creates it before a reload and waits for it to go, which is the
// only way keepalived tells that a SIGHUP was taken.
func ReloadFile(root paths.Root) string { return root.KeepalivedReload() }

// view is keepalived.conf as the template sees it: every value already a
// checked string, so the template only lays them out.
type view struct {
	ReloadFile string
	// WeightFile is the track_file whose number keepalived adds to each
	// instance's priority: maintenance and handover (internal/pair)
	// change it at run time, with no reload.
	WeightFile string
	Global     *globalView
	GarpGroups []garpGroupView
	Scripts    []scriptView
	Instances  []instanceView
	SyncGroups []syncGroupView
}

type globalView struct {
	Version      int
	StartupDelay int
	Garp         *garpView
}

type garpView struct {
	Interval            string
	MasterDelay         string
	MasterRefresh       string
	MasterRefreshRepeat string
	MasterRepeat        string
}

type garpGroupView struct {
	Interface    string
	GarpInterval string
	GnaInterval  string
}

type scriptView struct {
	Name     string
	Command  string
	Interval int
	Fall     int
}

type vipView struct{ Addr, Dev string }

type notifyView struct{ Master, Backup, Fault, Stop string }

type instanceView struct {
	Name             string
	Interface        string
	VRID             int
	Priority         int
	AdvertInt        string
	NoPreempt        bool
	PreemptDelay     int
	Vmac             string
	McastSrc         string
	UnicastSrc       string
	Peers            []string
	AuthType         string
	AuthPass         string
	VIPs             []vipView
	ExcludedVIPs     []vipView
	DontTrackPrimary bool
	TrackInterfaces  []string
	TrackScript      string
	Garp             *garpView
	Notify           notifyView
}

type syncGroupView struct {
	Name        string
	Members     []string
	TrackScript string
	Notify      notifyView
}

// Generate implements handler.Handler.
func (h *Handler) Generate(c any, env *handler.Env) ([]handler.File, error) {
	conf := env.Root.KeepalivedConf()
	cfg, _ := c.(*Config)
	if cfg == nil || cfg.Disabled {
		// No VRRP runs: no file, so nothing can start keepalived on it.
		return []handler.File{{Path: conf}}, nil
	}
	data, err := Render(cfg, env)
	if err != nil {
		return nil, err
	}
	// 0600: it carries the VRRP password.
	return []handler.File{{Path: conf, Data: data, Mode: 0o600}}, nil
}

// Render returns keepalived.conf for cfg, which Verify accepted. It
// re-checks every value it writes and refuses rather than write one that
// would change the file's structure.
func Render(cfg *Config, env *handler.Env) ([]byte, error) {
	v, err := buildView(cfg, env)
	if err != nil {
		return nil, fmt.Errorf("rendering keepalived.conf: %w", err)
	}
	t, err := loadTemplate()
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", TemplateName, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("rendering keepalived.conf: %w", err)
	}
	return b.Bytes(), nil
}

func buildView(cfg *Config, env *handler.Env) (*view, error) {
	reload := ReloadFile(env.Root)
	if !reSafeShell.MatchString(reload) {
		return nil, fmt.Errorf("root %q: only letters, digits and ._+/@:=,- are allowed in paths written to keepalived.conf", env.Root.Dir)
	}
	weight := env.Root.VRRPWeight()
	if !reSafeShell.MatchString(weight) {
		return nil, fmt.Errorf("root %q: only letters, digits and ._+/@:=,- are allowed in paths written to keepalived.conf", env.Root.Dir)
	}
	v := &view{ReloadFile: reload, WeightFile: weight}

	if gp := cfg.GlobalParameters; gp != nil {
		gv := &globalView{Version: gp.Version, StartupDelay: gp.StartupDelay}
		var err error
		if gv.Garp, err = garp(gp.Garp); err != nil {
			return nil, fmt.Errorf("global-parameters: %w", err)
		}
		v.Global = gv
	}

	// Groups that are disabled are left out, and so are they from their
	// sync-groups.
	enabled := map[string]bool{}
	garpGroups := map[string]*garpGroupView{}
	for _, name := range cfg.GroupNames() {
		g := cfg.Group[name]
		if g.Disable {
			continue
		}
		enabled[name] = true
		if err := safe(name, reName, "group name"); err != nil {
			return nil, err
		}
		if err := safe(g.Interface, reIfname, "interface"); err != nil {
			return nil, fmt.Errorf("group %s: %w", name, err)
		}
		advert, err := advertCentis(g.AdvertiseInterval)
		if err != nil {
			return nil, fmt.Errorf("group %s: advertise-interval: %w", name, err)
		}
		version := 0
		if cfg.GlobalParameters != nil {
			version = cfg.GlobalParameters.Version
		}
		if advert%100 != 0 && !g.runsVersion3(version) {
			return nil, fmt.Errorf("group %s: advertise-interval %s: a fraction needs VRRP version 3", name, g.AdvertiseInterval)
		}
		iv := instanceView{
			Name:      name,
			Interface: g.Interface,
			VRID:      g.VRID,
			Priority:  g.Priority,
			AdvertInt: formatCentis(advert),
			NoPreempt: g.NoPreempt,
		}
		if !g.NoPreempt {
			// keepalived ignores a preempt delay with nopreempt; the
			// schema's default of 0 is there on every group.
			iv.PreemptDelay = g.PreemptDelay
		}
		if g.RFC3768Compatibility {
			iv.Vmac = vmacName(g)
			if err := safe(iv.Vmac, reIfname, "virtual MAC interface"); err != nil {
				return nil, fmt.Errorf("group %s: %w", name, err)
			}
		}
		fam := g.family()
		for _, a := range sortedKeys(g.Address) {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("group %s: address %q: %w", name, a, err)
			}
			dev := g.Address[a].Interface
			if dev != "" {
				if err := safe(dev, reIfname, "interface"); err != nil {
					return nil, fmt.Errorf("group %s address %s: %w", name, a, err)
				}
			}
			iv.VIPs = append(iv.VIPs, vipView{Addr: p.String(), Dev: dev})
		}
		for _, a := range sortedKeys(g.ExcludedAddress) {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return nil, fmt.Errorf("group %s: excluded-address %q: %w", name, a, err)
			}
			dev := ""
			if x := g.ExcludedAddress[a]; x != nil {
				dev = x.Interface
			}
			if dev != "" {
				if err := safe(dev, reIfname, "interface"); err != nil {
					return nil, fmt.Errorf("group %s excluded-address %s: %w", name, a, err)
				}
			}
			iv.ExcludedVIPs = append(iv.ExcludedVIPs, vipView{Addr: p.String(), Dev: dev})
		}
		for _, peer := range g.PeerAddress {
			a, err := netip.ParseAddr(peer)
			if err != nil {
				return nil, fmt.Errorf("group %s: peer-address %q: %w", name, peer, err)
			}
			iv.Peers = append(iv.Peers, a.String())
		}
		if g.HelloSourceAddress != "" {
			a, err := netip.ParseAddr(g.HelloSourceAddress)
			if err != nil {
				return nil, fmt.Errorf("group %s: hello-source-address %q: %w", name, g.HelloSourceAddress, err)
			}
			// Without peers the adverts are multicast, and the source is
			// the multicast one.
			if len(iv.Peers) > 0 {
				iv.UnicastSrc = a.String()
			} else {
				iv.McastSrc = a.String()
			}
		}
		if a := g.Authentication; a != nil {
			switch a.Type {
			case "plaintext-password":
				iv.AuthType = "PASS"
			case "ah":
				iv.AuthType = "AH"
			default:
				return nil, fmt.Errorf("group %s: authentication type %q", name, a.Type)
			}
			if err := safe(a.Password, rePassword, "authentication password"); err != nil {
				return nil, fmt.Errorf("group %s: %w", name, err)
			}
			iv.AuthPass = a.Password
		}
		if t := g.Track; t != nil {
			iv.DontTrackPrimary = t.ExcludeVRRPInterface
			for _, i := range t.Interface {
				if err := safe(i, reIfname, "track interface"); err != nil {
					return nil, fmt.Errorf("group %s: %w", name, err)
				}
			}
			iv.TrackInterfaces = sortedUnique(t.Interface)
		}
		if g.HealthCheck.Configured() {
			s, err := healthScript("healthcheck_group_"+name, g.HealthCheck)
			if err != nil {
				return nil, fmt.Errorf("group %s: %w", name, err)
			}
			v.Scripts = append(v.Scripts, s)
			iv.TrackScript = s.Name
		}
		gv, err := garp(g.Garp)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", name, err)
		}
		if gv != nil {
			// keepalived has no per-instance GARP interval: it belongs to
			// the interface (garp_group). Verify refused two intervals on
			// one interface.
			if nonZero(gv.Interval) && fam != 0 {
				gg := garpGroups[g.Interface]
				if gg == nil {
					gg = &garpGroupView{Interface: g.Interface}
					garpGroups[g.Interface] = gg
				}
				if fam == 4 {
					gg.GarpInterval = gv.Interval
				} else {
					gg.GnaInterval = gv.Interval
				}
			}
			iv.Garp = gv
		}
		if iv.Notify, err = notify(g.TransitionScript); err != nil {
			return nil, fmt.Errorf("group %s: %w", name, err)
		}
		v.Instances = append(v.Instances, iv)
	}
	for _, i := range sortedKeys(garpGroups) {
		v.GarpGroups = append(v.GarpGroups, *garpGroups[i])
	}

	for _, name := range cfg.SyncGroupNames() {
		sg := cfg.SyncGroup[name]
		if err := safe(name, reName, "sync-group name"); err != nil {
			return nil, err
		}
		sv := syncGroupView{Name: name}
		for _, m := range sortedUnique(sg.Member) {
			if enabled[m] {
				sv.Members = append(sv.Members, m)
			}
		}
		if len(sv.Members) == 0 {
			// keepalived refuses an empty sync group; with every member
			// disabled there is nothing to synchronise.
			continue
		}
		if sg.HealthCheck.Configured() {
			s, err := healthScript("healthcheck_sync_"+name, sg.HealthCheck)
			if err != nil {
				return nil, fmt.Errorf("sync-group %s: %w", name, err)
			}
			v.Scripts = append(v.Scripts, s)
			sv.TrackScript = s.Name
		}
		var err error
		if sv.Notify, err = notify(sg.TransitionScript); err != nil {
			return nil, fmt.Errorf("sync-group %s: %w", name, err)
		}
		if cfg.Hooked(name) {
			if sv.Notify, err = hooks(sv.Notify, name, env); err != nil {
				return nil, fmt.Errorf("sync-group %s: %w", name, err)
			}
		}
		v.SyncGroups = append(v.SyncGroups, sv)
	}
	return v, nil
}

// hooks points the sync-group's master, backup and fault notifies at
// `ctsync vrrp-transition`, with the root this router runs under. The
// whole command is one quoted keepalived string, split by keepalived on
// spaces, so no part of it may hold a space or a quote.
//
// keepalived runs notify scripts asynchronously, so two can overlap; its
// notify_fifo would keep them in order, but only with a reader process
// alive all the time, and failover must not depend on one. The hook
// serializes itself with a lock (paths.Root.TransitionLock) instead.
func hooks(n notifyView, group string, env *handler.Env) (notifyView, error) {
	if !reSafeShell.MatchString(env.Self) {
		return n, fmt.Errorf("ctsync binary path %q: it must be absolute and hold only letters, digits and ._+/@:=,-", env.Self)
	}
	root := env.Root.Dir
	if root == "" {
		root = "/"
	}
	if !reSafeShell.MatchString(root) {
		return n, fmt.Errorf("root %q: it must be absolute and hold only letters, digits and ._+/@:=,-", root)
	}
	cmd := func(state string) string {
		return fmt.Sprintf("%s --root %s vrrp-transition %s %s", env.Self, root, state, group)
	}
	n.Master, n.Backup, n.Fault = cmd("master"), cmd("backup"), cmd("fault")
	return n, nil
}

func notify(t *TransitionScript) (notifyView, error) {
	var n notifyView
	if t == nil {
		return n, nil
	}
	for _, s := range []string{t.Master, t.Backup, t.Fault, t.Stop} {
		if s != "" {
			if err := safe(s, reScript, "transition-script"); err != nil {
				return n, err
			}
		}
	}
	return notifyView{Master: t.Master, Backup: t.Backup, Fault: t.Fault, Stop: t.Stop}, nil
}

func healthScript(name string, h *HealthCheck) (scriptView, error) {
	s := scriptView{Name: name, Interval: h.Interval, Fall: h.FailureCount}
	if err := safe(name, reName, "health-check name"); err != nil {
		// Group names are at most 64 characters: only a bug gets here.
		return s, err
	}
	switch {
	case h.Script != "":
		if err := safe(h.Script, reScript, "health-check script"); err != nil {
			return s, err
		}
		s.Command = h.Script
	case h.Ping != "":
		a, err := netip.ParseAddr(h.Ping)
		if err != nil {
			return s, fmt.Errorf("health-check ping %q: %w", h.Ping, err)
		}
		// One echo, one second: a check must finish well inside its
		// interval or keepalived kills it and counts a failure anyway.
		s.Command = fmt.Sprintf("%s -q -n -c 1 -W 1 %s", PingPath, a)
	}
	return s, nil
}

func garp(g *Garp) (*garpView, error) {
	if g == nil {
		return nil, nil
	}
	gv := &garpView{}
	if g.Interval != "" {
		if err := safe(g.Interval, reDecimal, "garp interval"); err != nil {
			return nil, err
		}
		// 0 is keepalived's own default: leave it out.
		if nonZero(g.Interval) {
			gv.Interval = g.Interval
		}
	}
	itoa := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	gv.MasterDelay = itoa(g.MasterDelay)
	gv.MasterRefresh = itoa(g.MasterRefresh)
	gv.MasterRefreshRepeat = itoa(g.MasterRefreshRepeat)
	gv.MasterRepeat = itoa(g.MasterRepeat)
	return gv, nil
}

func safe(v string, re interface{ MatchString(string) bool }, what string) error {
	if !re.MatchString(v) {
		return fmt.Errorf("%s %q holds characters keepalived.conf cannot carry", what, v)
	}
	return nil
}

func sortedUnique(in []string) []string {
	m := make(map[string]bool, len(in))
	for _, s := range in {
		m[s] = true
	}
	return sortedKeys(m)
}
