package conntracksync

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/ctsync/ctsync/internal/proc"
	"io"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
)

// Status is what "show conntrack-sync status" reports.
type Status struct {
	Config      *Config            `json:"config"`
	VRRPState   string             `json:"vrrp_state,omitempty"`
	VRRPSince   *time.Time         `json:"vrrp_since,omitempty"`
	Transition  *transition.Record `json:"last_transition,omitempty"`
	Conntrackd  Daemon             `json:"conntrackd"`
	Replication Replication        `json:"replication"`
}

// Daemon is conntrackd's process.
type Daemon struct {
	Running bool       `json:"running"`
	Pid     int        `json:"pid,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
}

// Replication is the verdict on state replication and what it rests on.
type Replication struct {
	Verdict   string `json:"verdict"` // healthy, messages lost, malformed messages, peer silent, link down, conntrackd down
	Healthy   bool   `json:"healthy"`
	Detail    string `json:"detail"`
	Lost      uint64 `json:"lost"`
	Malformed uint64 `json:"malformed"`
	// PeerHeard is how long it took, watching, to see a packet from the
	// peer; absent when none came within the watch window.
	PeerHeardSeconds *float64 `json:"peer_heard_within_s,omitempty"`
	Internal         uint64   `json:"internal_entries"`
	External         uint64   `json:"external_entries"`
}

// peerWatch is how long status watches for a packet from the peer. FTFW
// peers send an alive message at least every second when idle.
var peerWatch = 2500 * time.Millisecond

func runStatus(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("show conntrack-sync status", args); err != nil {
		return err
	}
	cfg, err := LoadConfig(env.Root)
	if err != nil {
		return err
	}
	st := CollectStatus(ctx, env.Root, cfg)
	return WriteStatus(env.Out, st, env.JSON)
}

// CollectStatus gathers everything status shows. Failures of one part
// (conntrackd down, no hook record) become part of the status.
func CollectStatus(ctx context.Context, root paths.Root, cfg *Config) *Status {
	st := &Status{Config: cfg}
	if m, err := transition.ReadVRRPState(root); err == nil {
		if gs, ok := m[cfg.SyncGroup]; ok {
			st.VRRPState = gs.State
			since := gs.Since
			st.VRRPSince = &since
		}
	}
	if r, err := transition.ReadRecord(root); err == nil && r != nil {
		st.Transition = r
		if st.VRRPState == "" && r.Group == cfg.SyncGroup {
			st.VRRPState = strings.ToUpper(r.State)
		}
	}
	if pid, ok := livePid(root); ok {
		st.Conntrackd = Daemon{Running: true, Pid: pid, Since: proc.StartTime(pid)}
	}
	st.Replication = replication(ctx, root, st.Conntrackd.Running)
	return st
}

func replication(ctx context.Context, root paths.Root, running bool) Replication {
	down := Replication{Verdict: "conntrackd down", Detail: "conntrackd is not running"}
	c, err := engine(root)
	if err != nil {
		down.Detail = err.Error()
		return down
	}
	first, err := readStats(ctx, c, conntrackd.Stats)
	if err != nil {
		down.Detail = err.Error()
		return down
	}
	_ = running
	r := Replication{}
	r.fill(first)
	start := time.Now()
	last := first
	for time.Since(start) < peerWatch {
		select {
		case <-ctx.Done():
			return r
		case <-time.After(250 * time.Millisecond):
		}
		cur, err := readStats(ctx, c, conntrackd.Stats)
		if err != nil {
			break
		}
		last = cur
		if recv(cur) != recv(first) {
			s := time.Since(start).Seconds()
			r.PeerHeardSeconds = &s
			break
		}
	}
	r.fill(last)
	newLost := tracking(last).Lost - tracking(first).Lost
	newMalformed := tracking(last).Malformed - tracking(first).Malformed
	counts := fmt.Sprintf("%d lost, %d malformed since conntrackd started", r.Lost, r.Malformed)
	switch {
	case last.Link == nil:
		r.Verdict, r.Detail = "link down", "conntrackd reports no sync channel"
	case newMalformed > 0:
		r.Verdict, r.Detail = "malformed messages", fmt.Sprintf("%d malformed while watching; %s", newMalformed, counts)
	case newLost > 0:
		r.Verdict, r.Detail = "messages lost", fmt.Sprintf("%d lost while watching; %s", newLost, counts)
	case r.PeerHeardSeconds == nil:
		r.Verdict, r.Detail = "peer silent", fmt.Sprintf("nothing received from the peer in %.1f s; %s", peerWatch.Seconds(), counts)
	default:
		r.Verdict, r.Healthy = "healthy", true
		r.Detail = fmt.Sprintf("peer heard within %.1f s, %s", *r.PeerHeardSeconds, counts)
	}
	return r
}

func (r *Replication) fill(st *ctdstats.Stats) {
	t := tracking(st)
	r.Lost, r.Malformed = t.Lost, t.Malformed
	if c := st.Cache["internal"]; c != nil {
		r.Internal = c.Current
	}
	if c := st.Cache["external"]; c != nil {
		r.External = c.Current
	}
}

func tracking(st *ctdstats.Stats) ctdstats.Tracking {
	if st.Tracking == nil {
		return ctdstats.Tracking{}
	}
	return *st.Tracking
}

func recv(st *ctdstats.Stats) uint64 {
	if st.Link == nil {
		return 0
	}
	return st.Link.PacketsRecv
}

// WriteStatus prints st like the design's first session, or as JSON.
func WriteStatus(w io.Writer, st *Status, asJSON bool) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(st)
	}
	cfg := st.Config
	var ifs []string
	for _, i := range cfg.Interfaces {
		if i.Peer != "" {
			ifs = append(ifs, fmt.Sprintf("%s (unicast, peer %s, port %d)", i.Name, i.Peer, i.Port))
		} else {
			ifs = append(ifs, fmt.Sprintf("%s (multicast, group %s, port %d)", i.Name, cfg.McastGroup, i.Port))
		}
	}
	if len(ifs) == 0 {
		ifs = []string{"none"}
	}
	fmt.Fprintf(w, "sync interface        : %s\n", strings.Join(ifs, ", "))
	vs := st.VRRPState
	if vs == "" {
		vs = "unknown: no transition recorded"
	}
	fmt.Fprintf(w, "failover mechanism    : vrrp sync-group %s (this node: %s)\n", cfg.SyncGroup, vs)
	fmt.Fprintf(w, "last state transition : %s\n", transitionLine(st.Transition))
	if d := st.Conntrackd; d.Running {
		since := ""
		if d.Since != nil {
			since = ", since " + d.Since.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "conntrackd            : running, pid %d%s\n", d.Pid, since)
	} else {
		fmt.Fprintf(w, "conntrackd            : not running\n")
	}
	fmt.Fprintf(w, "cache entries         : %d internal, %d external\n", st.Replication.Internal, st.Replication.External)
	fmt.Fprintf(w, "replication           : %s (%s)\n", st.Replication.Verdict, st.Replication.Detail)
	return nil
}

func transitionLine(r *transition.Record) string {
	if r == nil {
		return "none recorded"
	}
	if r.Skipped != "" {
		return fmt.Sprintf("%s at %s (skipped: %s)", strings.ToUpper(r.State), r.Started.Local().Format("2006-01-02 15:04:05"), r.Skipped)
	}
	outcome := "ok"
	if !r.OK {
		outcome = "FAILED"
		if r.Error != "" {
			outcome += ": " + r.Error
		}
	}
	what := ""
	if r.Committed > 0 || strings.EqualFold(r.State, "master") {
		what = fmt.Sprintf("commit %d entries, ", r.Committed)
	}
	return fmt.Sprintf("%s at %s (%s%s, took %s)", strings.ToUpper(r.State), r.Started.Local().Format("2006-01-02 15:04:05"),
		what, outcome, r.Duration.Round(time.Millisecond))
}
