package conntracksync

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/kernelinfo"
	"github.com/ctsync/ctsync/internal/schema"
)

// protocols maps accept-protocol values to conntrackd's names (it looks
// them up in /etc/protocols, where icmp6 is IPv6-ICMP).
var protocols = map[string]string{
	"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmp6": "IPv6-ICMP", "sctp": "SCTP", "dccp": "DCCP",
}

// helpers maps expect-sync values to the kernel helper names conntrackd
// filters expectations by: h323 is three helpers, nfs is the RPC helper
// and sqlnet Oracle's TNS.
var helpers = map[string][]string{
	"ftp": {"ftp"}, "sip": {"sip"}, "h323": {"ras", "q.931", "h.245"}, "nfs": {"rpc"}, "sqlnet": {"tns"},
}

func path(p ...string) []string { return append(slices.Clone(Owned), p...) }

// values lists every value of cfg that reaches conntrackd.conf, with the
// path of the schema node whose type it has.
func (c *Config) values() []schema.Value {
	var vs []schema.Value
	add := func(v string, p ...string) { vs = append(vs, schema.Value{Path: path(p...), Value: v}) }
	for _, name := range c.InterfaceNames() {
		ic := c.Interface[name]
		add(name, "interface")
		if ic.Peer != "" {
			add(ic.Peer, "interface", name, "peer")
		}
		add(strconv.Itoa(ic.Port), "interface", name, "port")
	}
	if sg := c.FailoverMechanism.VRRP.SyncGroup; sg != "" {
		add(sg, "failover-mechanism", "vrrp", "sync-group")
	}
	add(c.McastGroup, "mcast-group")
	for _, l := range []struct {
		name string
		vs   []string
	}{{"accept-protocol", c.AcceptProtocol}, {"expect-sync", c.ExpectSync}, {"ignore-address", c.IgnoreAddress}, {"listen-address", c.ListenAddress}} {
		for _, v := range l.vs {
			add(v, l.name)
		}
	}
	add(strconv.Itoa(c.SyncQueueSize), "sync-queue-size")
	add(strconv.Itoa(c.EventListenQueueSize), "event-listen-queue-size")
	if c.PurgeTimeout != 0 {
		add(strconv.Itoa(c.PurgeTimeout), "purge-timeout")
	}
	return vs
}

// verify checks what the schema cannot (rules across nodes, the live
// system) and returns the live-system facts Generate needs.
func verify(cfg *Config, sys handler.System, kernel func() (kernelinfo.Info, error)) (Facts, error) {
	// The schema refused bad values at set; asking it again here keeps a
	// hand-edited config.boot or a schema bug from injecting into the
	// file. A name that is not a name would make every later message
	// (and the netlink lookups) misleading.
	if err := schema.Default().CheckValues(cfg.values()); err != nil {
		return Facts{}, err
	}
	var errs []error
	add := func(e error) { errs = append(errs, e) }

	if len(cfg.Interface) == 0 {
		add(cfgerr.New(path("interface"), "at least one interface is required").
			WithHint("set service conntrack-sync interface <name> [peer <address>]"))
	}

	var unicast, multicast []string
	for _, name := range cfg.InterfaceNames() {
		ic := cfg.Interface[name]
		if ic.Peer != "" {
			unicast = append(unicast, name)
		} else {
			multicast = append(multicast, name)
		}
		if ic.Peer != "" {
			local, err := sys.IsLocalAddress(net.ParseIP(ic.Peer))
			if err != nil {
				add(fmt.Errorf("checking peer %s: %w", ic.Peer, err))
			} else if local {
				add(cfgerr.New(path("interface", name, "peer", ic.Peer), "peer address is assigned to this system").
					WithHint("the peer is the other router's address on the sync link"))
			}
		}
	}
	if len(unicast) > 0 && len(multicast) > 0 {
		add(cfgerr.New(path("interface"), "unicast (peer) and multicast interfaces cannot be mixed: %s with peer, %s without",
			strings.Join(unicast, ", "), strings.Join(multicast, ", ")).
			WithHint("conntrackd cannot use UDP with other dedicated link protocols"))
	}

	if slices.Contains(cfg.ExpectSync, "all") && len(cfg.ExpectSync) > 1 {
		add(cfgerr.New(path("expect-sync"), "all cannot be combined with other protocols").
			WithHint("delete service conntrack-sync expect-sync, then set only all"))
	}

	listen := map[string]bool{}
	for _, a := range cfg.ListenAddress {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue // CheckValues refused it
		}
		local, err := sys.IsLocalAddress(net.IP(ip.AsSlice()))
		switch {
		case err != nil:
			add(fmt.Errorf("checking listen-address %s: %w", a, err))
		case !local:
			add(cfgerr.New(path("listen-address", a), "address is not assigned to a local interface"))
		default:
			listen[ip.String()] = true
		}
	}

	sg := cfg.FailoverMechanism.VRRP.SyncGroup
	switch {
	case sg == "":
		add(cfgerr.New(path("failover-mechanism"), "a failover mechanism is required").
			WithHint("set service conntrack-sync failover-mechanism vrrp sync-group <name>"))
	case !cfg.SyncGroupExists:
		add(cfgerr.New(path("failover-mechanism", "vrrp", "sync-group", sg), "VRRP sync-group %s is not configured", sg).
			WithHint("set high-availability vrrp sync-group %s member <group>", sg))
	}

	facts := Facts{Local: map[string]string{}}
	seen := map[string]bool{}
	for _, name := range cfg.InterfaceNames() {
		ifc, err := sys.Interface(name)
		if errors.Is(err, handler.ErrNoInterface) {
			add(cfgerr.New(path("interface", name), "interface does not exist"))
			continue
		}
		if err != nil {
			add(fmt.Errorf("checking interface %s: %w", name, err))
			continue
		}
		if !ifc.HasIPv4() {
			add(cfgerr.New(path("interface", name), "interface has no IPv4 address"))
			continue
		}
		var v4 []string
		for _, a := range ifc.Addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip.Is4() {
				v4 = append(v4, ip.String())
			}
			if !seen[ip.String()] {
				seen[ip.String()] = true
				facts.Addrs = append(facts.Addrs, ip.String())
			}
		}
		facts.Local[name] = v4[0]
		for _, a := range v4 {
			if listen[a] {
				facts.Local[name] = a
				break
			}
		}
	}

	if kernel != nil {
		k, err := kernel()
		if err != nil {
			add(fmt.Errorf("reading kernel conntrack sizes: %w", err))
		}
		facts.Kernel = k
	}

	if err := errors.Join(errs...); err != nil {
		return Facts{}, err
	}
	return facts, nil
}

// safeToken reports whether s can stand as one word of conntrackd.conf:
// printable, no whitespace, and none of the characters its lexer treats
// specially. It is conntrackd's rule, not the schema's: Render applies it
// to every word it writes, those the config did not give included.
func safeToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) || strings.ContainsRune(`{}"'#;\`, r) {
			return false
		}
	}
	return true
}
