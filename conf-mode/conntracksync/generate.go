package conntracksync

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"text/template"

	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/templates"
)

const mb = 1 << 20

// netlinkBufferSize is the initial netlink event buffer (2 MB, as VyOS and
// conntrackd's own example use); conntrackd doubles it on overrun up to
// NetlinkBufferSizeMaxGrowth.
const netlinkBufferSize = 2 * mb

var tmpl = template.Must(template.New("conntrackd.conf.tmpl").Funcs(template.FuncMap{
	"onoff": func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	},
}).ParseFS(templates.Files, "conntrackd.conf.tmpl"))

// view is what the template sees: every value already a final word of
// the file.
type view struct {
	DisableExternalCache       bool
	StartupResync              bool
	PurgeTimeout               int
	Channels                   []channel
	ExpectAll                  bool
	ExpectHelpers              []string
	HashSize                   int
	HashLimit                  int
	Syslog                     bool
	LockFile                   string
	Socket                     string
	NetlinkBufferSize          int
	NetlinkBufferSizeMaxGrowth int
	Protocols                  []string
	IgnoreIPv4                 []string
	IgnoreIPv6                 []string
}

type channel struct {
	Unicast      bool
	Interface    string
	Local        string // this router's IPv4 on the link
	Peer         string // unicast destination
	Group        string // multicast group address
	Port         int
	SocketBuffer int
}

// Render returns conntrackd.conf for cfg and the facts its Verify found.
// It is pure: the same arguments always give the same bytes.
func Render(cfg *Config, facts Facts, root paths.Root) ([]byte, error) {
	v, err := buildView(cfg, facts, root)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("rendering conntrackd.conf: %w", err)
	}
	return b.Bytes(), nil
}

func buildView(cfg *Config, facts Facts, root paths.Root) (*view, error) {
	if facts.Kernel.HashSize == 0 || facts.Local == nil {
		return nil, fmt.Errorf("rendering conntrackd.conf: live-system facts missing (Verify did not run)")
	}
	// Whatever Verify let through, no value the schema would refuse
	// reaches the file.
	if err := schema.Default().CheckValues(cfg.values()); err != nil {
		return nil, fmt.Errorf("rendering conntrackd.conf: %w", err)
	}
	v := &view{
		DisableExternalCache:       cfg.DisableExternalCache,
		StartupResync:              cfg.StartupResync,
		PurgeTimeout:               cfg.PurgeTimeout,
		HashSize:                   facts.Kernel.HashSize,
		HashLimit:                  2 * facts.Kernel.ConntrackMax,
		Syslog:                     !cfg.DisableSyslog,
		LockFile:                   root.ConntrackdLock(),
		Socket:                     root.ConntrackdSocket(),
		NetlinkBufferSize:          min(netlinkBufferSize, cfg.EventListenQueueSize*mb),
		NetlinkBufferSizeMaxGrowth: cfg.EventListenQueueSize * mb,
	}
	for _, name := range cfg.InterfaceNames() {
		ic := cfg.Interface[name]
		local, ok := facts.Local[name]
		if !ok {
			return nil, fmt.Errorf("rendering conntrackd.conf: no address known for interface %s", name)
		}
		v.Channels = append(v.Channels, channel{
			Unicast:      ic.Peer != "",
			Interface:    name,
			Local:        local,
			Peer:         ic.Peer,
			Group:        cfg.McastGroup,
			Port:         ic.Port,
			SocketBuffer: cfg.SyncQueueSize * mb,
		})
	}
	for _, p := range cfg.ExpectSync {
		if p == "all" {
			v.ExpectAll = true
			v.ExpectHelpers = nil
			break
		}
		for _, h := range helpers[p] {
			if !slices.Contains(v.ExpectHelpers, h) {
				v.ExpectHelpers = append(v.ExpectHelpers, h)
			}
		}
	}
	for _, p := range cfg.AcceptProtocol {
		if n, ok := protocols[p]; ok && !slices.Contains(v.Protocols, n) {
			v.Protocols = append(v.Protocols, n)
		}
	}

	// Traffic to and from the router itself is not worth replicating:
	// loopback and the sync links' own addresses always, then what the
	// user listed.
	ignore := append([]string{"127.0.0.1", "::1"}, facts.Addrs...)
	ignore = append(ignore, cfg.IgnoreAddress...)
	seen := map[string]bool{}
	for _, a := range ignore {
		p, err := parseAddrOrPrefix(a)
		if err != nil {
			return nil, fmt.Errorf("rendering conntrackd.conf: ignore-address %q: %w", a, err)
		}
		s := p.String()
		if p.IsSingleIP() {
			s = p.Addr().String()
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		if p.Addr().Is4() {
			v.IgnoreIPv4 = append(v.IgnoreIPv4, s)
		} else {
			v.IgnoreIPv6 = append(v.IgnoreIPv6, s)
		}
	}

	if err := v.check(); err != nil {
		return nil, fmt.Errorf("rendering conntrackd.conf: %w", err)
	}
	return v, nil
}

// check is the last line of defence: every word the template writes must
// be one safe token, whatever Verify let through.
func (v *view) check() error {
	words := []string{v.LockFile, v.Socket}
	words = append(words, v.ExpectHelpers...)
	words = append(words, v.Protocols...)
	words = append(words, v.IgnoreIPv4...)
	words = append(words, v.IgnoreIPv6...)
	for _, c := range v.Channels {
		// An empty address is as bad as an unsafe one: safeToken refuses both.
		words = append(words, c.Interface, c.Local)
		if c.Unicast {
			words = append(words, c.Peer)
		} else {
			words = append(words, c.Group)
		}
	}
	for _, w := range words {
		if !safeToken(w) {
			return fmt.Errorf("value %q cannot be written to conntrackd.conf", w)
		}
	}
	return nil
}

func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("zoned address")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
