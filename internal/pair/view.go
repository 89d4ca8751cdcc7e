package pair

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// View is the pair as one node sees it: itself, its peer's last answer,
// the channel's state, and the alarms they add up to.
type View struct {
	// Configured is false when high-availability pair is not set: the
	// view then holds only the local node.
	Configured  bool   `json:"configured"`
	PeerAddress string `json:"peer_address,omitempty"`
	// Channel says whether the peer answers: "up", "unreachable",
	// "identity mismatch", "not configured".
	Channel     string      `json:"channel"`
	ChannelInfo string      `json:"channel_detail,omitempty"`
	Local       *NodeStatus `json:"local"`
	Peer        *NodeStatus `json:"peer,omitempty"`
	// PeerAnswered is when the peer last answered; PeerAgo how long ago
	// that was when the view was made.
	PeerAnswered *time.Time `json:"peer_answered,omitempty"`
	PeerAgoS     *float64   `json:"peer_answered_ago_s,omitempty"`
	Alarms       []string   `json:"alarms"`
}

// Channel states.
const (
	ChannelUp            = "up"
	ChannelUnreachable   = "unreachable"
	ChannelMismatch      = "identity mismatch"
	ChannelNotConfigured = "not configured"
)

// StaleAfter is how old the peer's last answer may be before the view
// calls the peer unreachable: three polls missed.
const StaleAfter = 3 * PollInterval

// ComputeAlarms returns the alarms v raises, in words, most serious
// first. It looks only at v, so that both nodes, given the same facts,
// raise the same alarms.
func ComputeAlarms(v *View) []string {
	var out []string
	if !v.Configured {
		return out
	}
	peerName := "the peer"
	if v.Peer != nil && v.Peer.Name != "" {
		peerName = v.Peer.Name
	}
	switch v.Channel {
	case ChannelMismatch:
		out = append(out, "identity mismatch: "+v.ChannelInfo)
	case ChannelUnreachable:
		ago := "never answered"
		if v.PeerAgoS != nil {
			ago = fmt.Sprintf("last answered %s ago", fmtAgo(*v.PeerAgoS))
		}
		msg := fmt.Sprintf("peer unreachable: %s at %s %s", peerName, v.PeerAddress, ago)
		if v.ChannelInfo != "" {
			msg += " (" + v.ChannelInfo + ")"
		}
		out = append(out, msg)
	}
	if v.Peer == nil && v.Local != nil && v.Local.ConfigSync && v.Local.Agreed != "" && v.Local.SyncedHash != v.Local.Agreed {
		// The peer cannot be compared with, but this node knows it moved
		// away from what both last held (commit local).
		out = append(out, fmt.Sprintf("config drift: %s changed high-availability or service conntrack-sync (revision %d) since the pair last agreed, and %s has not got it; `request high-availability config-sync to-peer` settles it once %s answers",
			v.Local.Name, v.Local.Revision, peerName, peerName))
	}
	if v.Peer == nil || v.Local == nil {
		return out
	}
	var both []string
	for _, g := range v.Local.SyncGroups {
		if v.Local.Master(g.Name) && v.Peer.Master(g.Name) {
			both = append(both, g.Name)
		}
	}
	if len(both) > 0 {
		out = append(out, fmt.Sprintf("both nodes MASTER of sync-group %s: %s and %s both hold the virtual addresses (VRRP adverts are not getting through)",
			strings.Join(both, ", "), v.Local.Name, v.Peer.Name))
	}
	for _, mb := range [][2]*NodeStatus{{v.Local, v.Peer}, {v.Peer, v.Local}} {
		if lag := cacheLag(mb[0], mb[1]); lag != "" {
			out = append(out, "backup behind: "+lag)
		}
	}
	if !v.Peer.Ready {
		r := v.Peer.ReadyReason
		if r == "" {
			r = "no reason given"
		}
		out = append(out, fmt.Sprintf("peer not ready: %s could not take over without losing flows (%s)", v.Peer.Name, r))
	}
	if v.Local.SyncedHash != v.Peer.SyncedHash {
		msg := fmt.Sprintf("config drift: high-availability and service conntrack-sync differ between %s (revision %d) and %s (revision %d)",
			v.Local.Name, v.Local.Revision, v.Peer.Name, v.Peer.Revision)
		if agreed := v.Local.Agreed; agreed != "" {
			var moved []string
			for _, n := range []*NodeStatus{v.Local, v.Peer} {
				if n.SyncedHash != agreed {
					moved = append(moved, n.Name)
				}
			}
			msg += "; changed since the pair last agreed: " + strings.Join(moved, " and ")
		}
		msg += "; `show high-availability config-diff` shows it, `request high-availability config-sync from-peer|to-peer` settles it"
		out = append(out, msg)
	}
	if v.Local.Version != v.Peer.Version {
		out = append(out, fmt.Sprintf("version mismatch: %s runs %s, %s runs %s", v.Local.Name, v.Local.Version, v.Peer.Name, v.Peer.Version))
	}
	return out
}

// lagSlack is how many entries a backup's external cache may lack of
// the master's internal cache before the pair view says so: the two
// differ by the flows created in the last moments, not yet sent.
const lagSlack = 32

// cacheLag compares what backup would commit at a failover with what
// master tracks: the backup's external cache against the master's
// internal cache, when master is master of a sync-group backup is not
// master of and both caches answered. A backup's own readiness cannot
// see this: a resync answered with nothing (the master had restarted
// too) reads as a finished refill. More than a tenth and more than
// lagSlack entries missing is a lag; "" otherwise. Without an external
// cache (disable-external-cache) there is nothing to compare.
func cacheLag(master, backup *NodeStatus) string {
	if master == nil || backup == nil || master.Internal == nil || backup.External == nil {
		return ""
	}
	mastered := false
	for _, g := range master.SyncGroups {
		if master.Master(g.Name) && !backup.Master(g.Name) {
			mastered = true
		}
	}
	m, b := *master.Internal, *backup.External
	if !mastered || b >= m {
		return ""
	}
	if missing := m - b; missing <= lagSlack || missing*10 <= m {
		return ""
	}
	return fmt.Sprintf("%s's external cache holds %d entries where master %s's internal cache holds %d: a failover now would lose the flows it lacks (`reset conntrack-sync external-cache` on %s asks %s to send them again)",
		backup.Name, b, master.Name, m, backup.Name, master.Name)
}

func fmtAgo(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// WriteView prints v, as text or as JSON.
func WriteView(w io.Writer, v *View, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	}
	if !v.Configured {
		fmt.Fprintln(w, "pair: not configured (set high-availability pair peer-address and peer-identity)")
	} else {
		ch := v.Channel
		if v.ChannelInfo != "" && v.Channel != ChannelUp {
			ch += ": " + v.ChannelInfo
		}
		fmt.Fprintf(w, "pair channel : %s (peer %s)\n", ch, v.PeerAddress)
	}
	nodes := []*NodeStatus{v.Local}
	labels := []string{"this node"}
	if v.Peer != nil {
		nodes = append(nodes, v.Peer)
		l := "peer"
		if v.PeerAgoS != nil {
			l = "peer, answered " + fmtAgo(*v.PeerAgoS) + " ago"
		}
		labels = append(labels, l)
	}
	fields := []string{"name", "vrrp", "priority", "maintenance", "conntrackd", "cache entries", "kernel entries", "ready", "config", "config sync", "version"}
	table := make([][]string, len(fields))
	for i := range fields {
		table[i] = make([]string, len(nodes))
	}
	for j, n := range nodes {
		table[0][j] = n.Name + " (" + labels[j] + ")"
		table[1][j] = syncGroups(n)
		table[2][j] = priorities(n)
		table[3][j] = maintenance(n)
		table[4][j] = map[bool]string{true: "running", false: "NOT running"}[n.Conntrackd]
		table[5][j] = fmt.Sprintf("%s internal, %s external", optU(n.Internal), optU(n.External))
		table[6][j] = optI(n.Kernel)
		if n.Ready {
			table[7][j] = "yes"
		} else {
			table[7][j] = "NO (" + n.ReadyReason + ")"
		}
		table[8][j] = fmt.Sprintf("revision %d, synced part %s", n.Revision, short(n.SyncedHash))
		table[9][j] = configSync(n)
		table[10][j] = n.Version
	}
	width := 0
	for _, f := range fields {
		width = max(width, len(f))
	}
	colw := 0
	for _, r := range table {
		colw = max(colw, len(r[0]))
	}
	for i, f := range fields {
		line := fmt.Sprintf("%-*s : %-*s", width, f, colw, table[i][0])
		if len(nodes) > 1 {
			line += " | " + table[i][1]
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if len(v.Alarms) == 0 {
		if v.Configured {
			fmt.Fprintln(w, "alarms : none")
		}
		return nil
	}
	fmt.Fprintln(w, "alarms :")
	for _, a := range v.Alarms {
		fmt.Fprintln(w, "  "+a)
	}
	return nil
}

func configSync(n *NodeStatus) string {
	s := "off"
	if n.ConfigSync {
		s = "on"
	}
	switch {
	case n.Agreed == "":
		return s
	case n.Agreed == n.SyncedHash:
		return s + ", as last agreed"
	}
	return s + ", changed since the pair last agreed (" + short(n.Agreed) + ")"
}

func syncGroups(n *NodeStatus) string {
	if len(n.SyncGroups) == 0 {
		return "no sync-group"
	}
	var parts []string
	for _, g := range n.SyncGroups {
		st := g.State
		if st == "" {
			st = "unknown"
		}
		parts = append(parts, g.Name+" "+st)
	}
	return strings.Join(parts, ", ")
}

func priorities(n *NodeStatus) string {
	if len(n.Priorities) == 0 {
		return "-"
	}
	names := make([]string, 0, len(n.Priorities))
	for g := range n.Priorities {
		names = append(names, g)
	}
	sort.Strings(names)
	var parts []string
	for _, g := range names {
		parts = append(parts, fmt.Sprintf("%s %d", g, n.Priorities[g]))
	}
	s := strings.Join(parts, ", ")
	if n.Weight != 0 {
		s += fmt.Sprintf(" (weight %+d)", n.Weight)
	}
	return s
}

func maintenance(n *NodeStatus) string {
	switch {
	case n.State.Maintenance:
		s := "ON"
		if n.State.MaintenanceSince != nil {
			s += " since " + n.State.MaintenanceSince.UTC().Format("2006-01-02 15:04:05Z")
		}
		return s
	case n.State.Preferred:
		return "off (preferred master after a handover)"
	}
	return "off"
}

func optU(p *uint64) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}

func optI(p *int) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// WriteConfigDiff prints d, as text or as JSON.
func WriteConfigDiff(w io.Writer, d *ConfigDiff, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(d)
	}
	line := func(label string, n SyncedInfo) {
		since := "changed since the pair last agreed"
		switch n.Agreed {
		case "":
			since = "never seen alike with the other node"
		case n.Hash:
			since = "as last agreed"
		}
		cs := "config-sync off"
		if n.ConfigSync {
			cs = "config-sync on"
		}
		fmt.Fprintf(w, "%s: revision %d, synced part %s, %s, %s\n", label, n.Revision, short(n.Hash), since, cs)
	}
	local, peer := d.Local.Name, d.Peer.Name
	line(local+" (this node)", d.Local)
	line(peer+" (peer)", d.Peer)
	if d.Identical {
		fmt.Fprintln(w, "the synced parts are identical")
		return nil
	}
	fmt.Fprintf(w, "\nas %s sees it, `request high-availability config-sync from-peer` would change %s so:\n%s", local, local, indentText(d.FromPeer))
	fmt.Fprintf(w, "\nas %s sees it, `request high-availability config-sync to-peer` would change %s so:\n%s", peer, peer, indentText(d.ToPeer))
	return nil
}

func indentText(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
