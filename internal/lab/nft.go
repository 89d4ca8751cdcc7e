package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"text/template"
)

// Firewall is the ruleset both routers run: LAN out through SNAT to the
// WAN virtual address, WAN in only for established flows. It is the same
// on both routers so that whichever holds the addresses forwards the
// same way.
type Firewall struct {
	LANIf, WANIf string
	LANPrefix    netip.Prefix
	SNATTo       netip.Addr
}

var nftTmpl = template.Must(template.New("nft").Parse(`table ip ctlab
delete table ip ctlab
table ip ctlab {
	chain forward {
		type filter hook forward priority filter; policy drop;
		# With tcp_loose=0 a mid-stream packet of an unknown flow has no
		# conntrack entry: it is invalid and must not pass un-NATed.
		ct state invalid counter drop
		ct state established,related counter accept
		iifname "{{.LANIf}}" oifname "{{.WANIf}}" ip saddr {{.LANPrefix}} ct state new counter accept
		counter
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "{{.WANIf}}" ip saddr {{.LANPrefix}} counter snat to {{.SNATTo}}
	}
}
`))

// Ruleset renders the nftables script. It first creates then deletes the
// table so that loading it twice replaces rather than duplicates.
func (f Firewall) Ruleset() ([]byte, error) {
	if !f.LANPrefix.IsValid() || !f.SNATTo.Is4() || f.LANIf == "" || f.WANIf == "" {
		return nil, fmt.Errorf("firewall: incomplete %+v", f)
	}
	var b bytes.Buffer
	if err := nftTmpl.Execute(&b, f); err != nil {
		return nil, fmt.Errorf("rendering nftables ruleset: %w", err)
	}
	return b.Bytes(), nil
}

// LabFirewall is the lab routers' ruleset.
func LabFirewall() Firewall {
	return Firewall{LANIf: "lan0", WANIf: "wan0", LANPrefix: LANPrefix, SNATTo: WANVIP}
}

// LoadFirewall loads f into the router's namespace.
func (t *Topology) LoadFirewall(ctx context.Context, router string, f Firewall) error {
	rs, err := f.Ruleset()
	if err != nil {
		return err
	}
	if _, err := t.Run.Run(ctx, rs, "ip", "netns", "exec", t.NS(router), "nft", "-f", "-"); err != nil {
		return fmt.Errorf("loading firewall on %s: %w", router, err)
	}
	return nil
}
