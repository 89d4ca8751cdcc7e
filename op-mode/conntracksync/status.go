package conntracksync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/readiness"
	"github.com/ctsync/ctsync/internal/transition"
)

// Status is what "show conntrack-sync status" reports. Ready and
// ReadyReason come first: they answer the question status is asked for,
// "could this node take over now without losing a flow?".
type Status struct {
	Ready       bool               `json:"ready"`
	ReadyReason string             `json:"ready_reason"`
	Config      *Config            `json:"config"`
	VRRPState   string             `json:"vrrp_state,omitempty"`
	VRRPSince   *time.Time         `json:"vrrp_since,omitempty"`
	Transition  *transition.Record `json:"last_transition,omitempty"`
	Conntrackd  Daemon             `json:"conntrackd"`
	Keepalived  Daemon             `json:"keepalived"`
	// Refill is the refill of the running conntrackd's caches after its
	// start; absent when none was recorded for it.
	Refill      *transition.RefillRecord `json:"refill,omitempty"`
	Replication Replication              `json:"replication"`
}

// Daemon is an engine's process.
type Daemon struct {
	Running bool       `json:"running"`
	Pid     int        `json:"pid,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
}

// Replication is the verdict on state replication and what it rests on.
type Replication struct {
	Verdict   string `json:"verdict"` // healthy, external cache empty, peer silent, link down, conntrackd down
	Healthy   bool   `json:"healthy"`
	Detail    string `json:"detail"`
	Lost      uint64 `json:"lost"`
	Malformed uint64 `json:"malformed"`
	// PeerHeardSecondsAgo is how long ago a packet from the peer last
	// arrived, as far as readiness has seen; absent when never.
	PeerHeardSecondsAgo *float64 `json:"peer_heard_s_ago,omitempty"`
	Internal            uint64   `json:"internal_entries"`
	External            uint64   `json:"external_entries"`
}

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
// (conntrackd down, no hook record) become part of the status. It asks
// conntrackd once: whether the peer is heard comes from readiness, which
// compares with its previous look rather than watching the link.
func CollectStatus(ctx context.Context, root paths.Root, cfg *Config) *Status {
	st := &Status{Config: cfg}
	if m, err := transition.ReadVRRPState(root); err == nil {
		if gs, ok := m[cfg.SyncGroup]; ok {
			st.VRRPState = strings.ToUpper(gs.State)
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
	rep := readiness.Evaluate(ctx, root)
	st.Ready, st.ReadyReason = rep.Ready, rep.Reason
	st.Conntrackd = Daemon(rep.Conntrackd)
	st.Keepalived = Daemon(rep.Keepalived)
	st.Refill = rep.Refill
	st.Replication = replication(rep)
	return st
}

func replication(rep readiness.Report) Replication {
	r := Replication{Lost: rep.Lost, Malformed: rep.Malformed, Internal: rep.Internal, External: rep.External}
	if rep.PeerLastHeard != nil {
		ago := rep.At.Sub(*rep.PeerLastHeard).Seconds()
		if ago < 0 {
			ago = 0
		}
		r.PeerHeardSecondsAgo = &ago
	}
	counts := fmt.Sprintf("%d lost, %d malformed since conntrackd started", r.Lost, r.Malformed)
	switch {
	case !rep.Conntrackd.Running:
		r.Verdict, r.Detail = "conntrackd down", "conntrackd is not running"
	case rep.Reason != "" && !rep.LinkUp && strings.Contains(rep.Reason, "does not answer"):
		r.Verdict, r.Detail = "conntrackd down", rep.Reason
	case !rep.LinkUp:
		r.Verdict, r.Detail = "link down", "conntrackd reports no sync channel"
	case !rep.PeerHeard:
		r.Verdict = "peer silent"
		if r.PeerHeardSecondsAgo != nil {
			r.Detail = fmt.Sprintf("nothing received from the peer for %.0f s; %s", *r.PeerHeardSecondsAgo, counts)
		} else {
			r.Detail = "nothing received from the peer since conntrackd started; " + counts
		}
	case rep.ExternalCache && rep.Role != transition.RoleMaster && rep.External == 0:
		// Never "healthy" over an empty external cache: a failover now
		// would find nothing to commit.
		r.Verdict = "external cache empty"
		r.Detail = "peer heard, but no flow received from it; " + counts
	default:
		r.Verdict, r.Healthy = "healthy", true
		r.Detail = fmt.Sprintf("peer heard %.1f s ago, %s", *r.PeerHeardSecondsAgo, counts)
	}
	return r
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
	// The answer first, worded exactly as documented so that scripts can
	// look for it.
	if st.Ready {
		fmt.Fprintf(w, "ready for failover : yes\n")
	} else {
		fmt.Fprintf(w, "ready for failover : NO (%s)\n", st.ReadyReason)
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
	if d := st.Keepalived; d.Running {
		fmt.Fprintf(w, "keepalived            : running, pid %d\n", d.Pid)
	} else {
		fmt.Fprintf(w, "keepalived            : not running\n")
	}
	fmt.Fprintf(w, "cache entries         : %d internal, %d external\n", st.Replication.Internal, st.Replication.External)
	if st.Conntrackd.Running {
		fmt.Fprintf(w, "cache refill          : %s\n", refillLine(st.Refill))
	}
	fmt.Fprintf(w, "replication           : %s (%s)\n", st.Replication.Verdict, st.Replication.Detail)
	return nil
}

func refillLine(r *transition.RefillRecord) string {
	if r == nil {
		return "none recorded since conntrackd started"
	}
	var what string
	switch r.Role {
	case transition.RoleMaster:
		what = "resync with the kernel and bulk send"
	case transition.RoleBackup:
		what = fmt.Sprintf("resync from the peer, %d entries received", r.Received)
	default:
		what = fmt.Sprintf("resync with the kernel, bulk send and resync from the peer, %d entries received", r.Received)
	}
	switch r.State {
	case transition.RefillDone:
		return fmt.Sprintf("done at %s (%s, by %s)", r.Finished.Local().Format("15:04:05"), what, r.By)
	case transition.RefillFailed:
		return fmt.Sprintf("FAILED at %s (%s, by %s): %s", r.Finished.Local().Format("15:04:05"), what, r.By, r.Error)
	}
	asked := "asked once"
	if r.Attempts != 1 {
		asked = fmt.Sprintf("asked %d times", r.Attempts)
	}
	return fmt.Sprintf("pending since %s (%s, %s, by %s)", r.Requested.Local().Format("15:04:05"), what, asked, r.By)
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
