package conntracksync

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"unicode"

	"github.com/ctsync/ctsync/internal/cfgerr"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/kernelinfo"
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

// Socket buffers are MB in the config and bytes in conntrackd.conf, which
// reads them into an int: keep the product in range.
const maxQueueMB = 2047

func path(p ...string) []string { return append(slices.Clone(Owned), p...) }

// verify checks cfg and returns the live-system facts Generate needs.
func verify(cfg *Config, sys handler.System, kernel func() (kernelinfo.Info, error)) (Facts, error) {
	var errs []error
	add := func(e error) { errs = append(errs, e) }

	// Values that reach conntrackd.conf verbatim. The schema refuses these
	// at set; checking again here keeps a hand-edited config.boot or a
	// schema bug from injecting into the file.
	for _, name := range cfg.InterfaceNames() {
		if !validIfName(name) {
			add(cfgerr.New(path("interface", name), "not a valid interface name"))
		}
	}
	if sg := cfg.FailoverMechanism.VRRP.SyncGroup; sg != "" && !safeToken(sg) {
		add(cfgerr.New(path("failover-mechanism", "vrrp", "sync-group", sg), "contains characters not allowed (whitespace, quotes, braces, #)"))
	}
	if len(errs) > 0 {
		// Names that are not names would make every later message (and
		// the netlink lookups) misleading.
		return Facts{}, errors.Join(errs...)
	}

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
		if ic.Port < 1 || ic.Port > 65535 {
			add(cfgerr.New(path("interface", name, "port", fmt.Sprint(ic.Port)), "must be 1-65535"))
		}
		if ic.Peer != "" {
			ip, err := netip.ParseAddr(ic.Peer)
			if err != nil || !ip.Is4() {
				add(cfgerr.New(path("interface", name, "peer", ic.Peer), "not an IPv4 address"))
				continue
			}
			local, err := sys.IsLocalAddress(net.IP(ip.AsSlice()))
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

	if len(multicast) > 0 || cfg.McastGroup != DefaultMcastGroup {
		ip, err := netip.ParseAddr(cfg.McastGroup)
		if err != nil || !ip.Is4() || !ip.IsMulticast() {
			add(cfgerr.New(path("mcast-group", cfg.McastGroup), "not an IPv4 multicast address").
				WithHint("224.0.0.0/4"))
		}
	}

	for _, p := range cfg.AcceptProtocol {
		if _, ok := protocols[p]; !ok {
			add(cfgerr.New(path("accept-protocol", p), "unknown protocol").WithHint("one of tcp, udp, icmp, icmp6, sctp, dccp"))
		}
	}
	for _, p := range cfg.ExpectSync {
		if _, ok := helpers[p]; !ok && p != "all" {
			add(cfgerr.New(path("expect-sync", p), "unknown protocol").WithHint("one of all, ftp, sip, h323, nfs, sqlnet"))
		}
	}
	if slices.Contains(cfg.ExpectSync, "all") && len(cfg.ExpectSync) > 1 {
		add(cfgerr.New(path("expect-sync"), "all cannot be combined with other protocols").
			WithHint("delete service conntrack-sync expect-sync, then set only all"))
	}

	for _, a := range cfg.IgnoreAddress {
		if _, err := netip.ParsePrefix(a); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(a); err == nil && !strings.Contains(a, "%") {
			continue
		}
		add(cfgerr.New(path("ignore-address", a), "not an IPv4 or IPv6 address or prefix"))
	}

	for _, q := range []struct {
		name string
		v    int
	}{{"sync-queue-size", cfg.SyncQueueSize}, {"event-listen-queue-size", cfg.EventListenQueueSize}} {
		if q.v < 1 || q.v > maxQueueMB {
			add(cfgerr.New(path(q.name, fmt.Sprint(q.v)), "must be 1-%d (MB)", maxQueueMB))
		}
	}
	if cfg.PurgeTimeout < 0 {
		add(cfgerr.New(path("purge-timeout", fmt.Sprint(cfg.PurgeTimeout)), "must not be negative"))
	}

	listen := map[string]bool{}
	for _, a := range cfg.ListenAddress {
		ip, err := netip.ParseAddr(a)
		if err != nil || strings.Contains(a, "%") {
			add(cfgerr.New(path("listen-address", a), "not an IP address"))
			continue
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

// validIfName follows the kernel's rule (dev_valid_name): 1-15 bytes, not
// "." or "..", no '/', ':' or whitespace; we also refuse what would break
// the file.
func validIfName(s string) bool {
	if len(s) == 0 || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return safeToken(s) && !strings.ContainsAny(s, "/:")
}

// safeToken reports whether s can stand as one word of conntrackd.conf:
// printable, no whitespace, and none of the characters its lexer treats
// specially.
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
