package vrrp

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"sync"
	"text/template"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
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
func (h *Handler) Generate(s State, env *handler.Env) ([]handler.File, error) {
	conf := env.Root.KeepalivedConf()
	if !s.Present || s.Config.Disabled {
		// No VRRP runs: no file, so nothing can start keepalived on it.
		return []handler.File{{Path: conf}}, nil
	}
	data, err := Render(&s.Config, env)
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

// reSafeShell is what a path ctsync writes into keepalived.conf (its
// own binary, files under the root) may hold: they are not config
// values the schema has checked, and keepalived splits a notify command
// on spaces.
var reSafeShell = regexp.MustCompile(`^/[A-Za-z0-9._+/@:=,-]*$`)

func buildView(cfg *Config, env *handler.Env) (*view, error) {
	// Whatever Verify let through, no value the schema would refuse
	// reaches the file.
	if err := schema.Default().CheckValues(cfg.values()); err != nil {
		return nil, err
	}
	v := &view{ReloadFile: ReloadFile(env.Root), WeightFile: env.Root.VRRPWeight()}
	for _, p := range []string{v.ReloadFile, v.WeightFile} {
		if !reSafeShell.MatchString(p) {
			return nil, fmt.Errorf("root %q: only letters, digits and ._+/@:=,- are allowed in paths written to keepalived.conf", env.Root.Dir)
		}
	}
	version := 0
	if gp := cfg.GlobalParameters; gp != nil {
		v.Global = &globalView{Version: gp.Version, StartupDelay: gp.StartupDelay, Garp: garp(gp.Garp)}
		version = gp.Version
	}

	// Groups that are disabled are left out, and so are they from their
	// sync-groups.
	garpGroups := map[string]*garpGroupView{}
	for _, name := range cfg.GroupNames() {
		g := cfg.Group[name]
		if g.Disable {
			continue
		}
		iv, err := instance(name, g, version)
		if err != nil {
			return nil, fmt.Errorf("group %s: %w", name, err)
		}
		if g.HealthCheck.Configured() {
			s, err := healthScript("healthcheck_group_"+name, g.HealthCheck)
			if err != nil {
				return nil, fmt.Errorf("group %s: %w", name, err)
			}
			v.Scripts = append(v.Scripts, s)
			iv.TrackScript = s.Name
		}
		// keepalived has no per-instance GARP interval: it belongs to the
		// interface (garp_group). Verify refused two intervals on one
		// interface.
		if fam := g.family(); iv.Garp != nil && nonZero(iv.Garp.Interval) && fam != 0 {
			gg := garpGroups[g.Interface]
			if gg == nil {
				gg = &garpGroupView{Interface: g.Interface}
				garpGroups[g.Interface] = gg
			}
			if fam == 4 {
				gg.GarpInterval = iv.Garp.Interval
			} else {
				gg.GnaInterval = iv.Garp.Interval
			}
		}
		v.Instances = append(v.Instances, iv)
	}
	for _, i := range sortedKeys(garpGroups) {
		v.GarpGroups = append(v.GarpGroups, *garpGroups[i])
	}

	for _, name := range cfg.SyncGroupNames() {
		sg := cfg.SyncGroup[name]
		sv := syncGroupView{Name: name, Notify: notify(sg.TransitionScript)}
		for _, m := range sortedUnique(sg.Member) {
			if g := cfg.Group[m]; g != nil && !g.Disable {
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
		if cfg.Hooked(name) {
			var err error
			if sv.Notify, err = hooks(sv.Notify, name, env); err != nil {
				return nil, fmt.Errorf("sync-group %s: %w", name, err)
			}
		}
		v.SyncGroups = append(v.SyncGroups, sv)
	}
	return v, nil
}

// instance is the vrrp_instance of group name, which runs VRRP version
// (0: keepalived's default) unless it is IPv6. Its health-check is the
// caller's: the script goes beside the instances.
func instance(name string, g *Group, version int) (instanceView, error) {
	advert, err := advertCentis(g.AdvertiseInterval)
	if err != nil {
		return instanceView{}, fmt.Errorf("advertise-interval: %w", err)
	}
	if advert%100 != 0 && !g.runsVersion3(version) {
		return instanceView{}, fmt.Errorf("advertise-interval %s: a fraction needs VRRP version 3", g.AdvertiseInterval)
	}
	iv := instanceView{
		Name:      name,
		Interface: g.Interface,
		VRID:      g.VRID,
		Priority:  g.Priority,
		AdvertInt: formatCentis(advert),
		NoPreempt: g.NoPreempt,
		Garp:      garp(g.Garp),
		Notify:    notify(g.TransitionScript),
	}
	if !g.NoPreempt {
		// keepalived ignores a preempt delay with nopreempt; the schema's
		// default of 0 is there on every group.
		iv.PreemptDelay = g.PreemptDelay
	}
	if g.RFC3768Compatibility {
		iv.Vmac = vmacName(g)
		if len(iv.Vmac) > maxIfname {
			return instanceView{}, fmt.Errorf("virtual MAC interface name %s is longer than %d characters", iv.Vmac, maxIfname)
		}
	}
	if iv.VIPs, err = vips("address", g.Address); err != nil {
		return instanceView{}, err
	}
	if iv.ExcludedVIPs, err = vips("excluded-address", g.ExcludedAddress); err != nil {
		return instanceView{}, err
	}
	for _, peer := range g.PeerAddress {
		a, err := netip.ParseAddr(peer)
		if err != nil {
			return instanceView{}, fmt.Errorf("peer-address %q: %w", peer, err)
		}
		iv.Peers = append(iv.Peers, a.String())
	}
	if g.HelloSourceAddress != "" {
		a, err := netip.ParseAddr(g.HelloSourceAddress)
		if err != nil {
			return instanceView{}, fmt.Errorf("hello-source-address %q: %w", g.HelloSourceAddress, err)
		}
		// Without peers the adverts are multicast, and the source is the
		// multicast one.
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
			return instanceView{}, fmt.Errorf("authentication type %q", a.Type)
		}
		iv.AuthPass = a.Password
	}
	if t := g.Track; t != nil {
		iv.DontTrackPrimary = t.ExcludeVRRPInterface
		iv.TrackInterfaces = sortedUnique(t.Interface)
	}
	return iv, nil
}

// vips lays out a group's address or excluded-address list (named list).
func vips(list string, addrs map[string]*Address) ([]vipView, error) {
	var out []vipView
	for _, a := range sortedKeys(addrs) {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", list, a, err)
		}
		v := vipView{Addr: p.String()}
		if x := addrs[a]; x != nil {
			v.Dev = x.Interface
		}
		out = append(out, v)
	}
	return out, nil
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

func notify(t *TransitionScript) notifyView {
	if t == nil {
		return notifyView{}
	}
	return notifyView{Master: t.Master, Backup: t.Backup, Fault: t.Fault, Stop: t.Stop}
}

func healthScript(name string, h *HealthCheck) (scriptView, error) {
	s := scriptView{Name: name, Interval: h.Interval, Fall: h.FailureCount}
	switch {
	case h.Script != "":
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

func garp(g *Garp) *garpView {
	if g == nil {
		return nil
	}
	gv := &garpView{}
	// 0 is keepalived's own default: leave it out.
	if nonZero(g.Interval) {
		gv.Interval = g.Interval
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
	return gv
}

func sortedUnique(in []string) []string {
	m := make(map[string]bool, len(in))
	for _, s := range in {
		m[s] = true
	}
	return sortedKeys(m)
}
