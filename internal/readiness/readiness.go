// Package readiness answers the product's question: could this node take
// over now without losing a flow? It is computed from what the parts
// record, never assumed: a node is ready when its engines run, the peer
// is heard over the sync link, and its caches have been refilled since
// conntrackd last started (transition.RefillRecord of that very process).
//
// Evaluate takes one statistics reply from conntrackd and compares it
// with the previous look (Root.PeerObservation), so it answers in
// milliseconds when something (ctsyncd's Watch) looks every second; with
// no recent look it watches the link for at most watchMax.
package readiness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/supervise"
	"github.com/ctsync/ctsync/internal/transition"
)

// PeerSilentAfter is how long without a packet from the peer makes it
// silent: an FTFW peer sends an alive message every second when it has
// nothing else to send, so this is three missed.
const PeerSilentAfter = 3 * time.Second

// watchMax bounds the watch when no recent look exists (ctsyncd stopped):
// one alive interval and a margin.
var watchMax = 1200 * time.Millisecond

// Report is the verdict and what it rests on.
type Report struct {
	Ready bool `json:"ready"`
	// Reason says why not; empty when ready.
	Reason string `json:"ready_reason"`
	// Role is this node's VRRP role as the hook last recorded it:
	// master, backup or unknown.
	Role       string `json:"role"`
	Conntrackd Engine `json:"conntrackd"`
	Keepalived Engine `json:"keepalived"`
	// PeerHeard: a packet from the peer arrived within PeerSilentAfter.
	PeerHeard     bool       `json:"peer_heard"`
	PeerLastHeard *time.Time `json:"peer_last_heard,omitempty"`
	LinkUp        bool       `json:"link_up"`
	Internal      uint64     `json:"internal_entries"`
	External      uint64     `json:"external_entries"`
	// ExternalCache is false with disable-external-cache.
	ExternalCache bool                     `json:"external_cache"`
	Lost          uint64                   `json:"lost"`
	Malformed     uint64                   `json:"malformed"`
	Refill        *transition.RefillRecord `json:"refill,omitempty"`
	At            time.Time                `json:"at"`
}

// Engine is one engine process.
type Engine struct {
	Running bool       `json:"running"`
	Pid     int        `json:"pid,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
}

// observation is one look at the sync link, kept for the next.
type observation struct {
	Pid        int       `json:"pid"`
	StartTicks uint64    `json:"start_ticks"`
	Recv       uint64    `json:"recv_packets"`
	At         time.Time `json:"at"`
	LastHeard  time.Time `json:"last_heard,omitzero"`
}

// Evaluate computes the report for the node under root. It never fails:
// whatever cannot be read is the reason the node is not ready.
func Evaluate(ctx context.Context, root paths.Root) Report {
	now := time.Now()
	rep := Report{Role: transition.RoleUnknown, At: now, ExternalCache: true}
	facts, err := transition.ReadFacts(root)
	if err != nil {
		return rep.not(err.Error())
	}
	if facts == nil {
		return rep.not("conntrack-sync is not configured")
	}
	rep.ExternalCache = !facts.DisableExternalCache
	rep.Role = transition.Role(root, facts)

	st, err := transition.ConntrackdStarted(root)
	if err != nil {
		return rep.not(err.Error())
	}
	if st == nil || !st.Running() {
		return rep.not("conntrackd is not running")
	}
	at := st.At
	rep.Conntrackd = Engine{Running: true, Pid: st.Pid, Since: &at}
	rep.Keepalived = keepalived(root)

	c := &conntrackd.Client{Path: root.ConntrackdSocket()}
	sample := func() (*ctdstats.Stats, error) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		b, err := c.Do(sctx, conntrackd.Stats)
		if err != nil {
			return nil, err
		}
		return ctdstats.Parse(bytes.NewReader(b))
	}
	stats, err := sample()
	if err != nil {
		return rep.not(fmt.Sprintf("conntrackd pid %d does not answer: %v", st.Pid, err))
	}
	rep.fill(stats)

	// The peer: compare with the previous look, or watch briefly.
	obs := readObservation(root)
	usable := obs != nil && obs.Pid == st.Pid && obs.StartTicks == st.StartTicks && recv(stats) >= obs.Recv
	var lastHeard time.Time
	if usable {
		lastHeard = obs.LastHeard
		if recv(stats) > obs.Recv {
			// It arrived after the previous look: at least that recent.
			lastHeard = obs.At
		}
	}
	// A recent look is trusted as it is: watching now would make every
	// status of a silent peer take watchMax.
	recent := usable && now.Sub(obs.At) <= PeerSilentAfter
	if stats.Link != nil && !recent && now.Sub(lastHeard) > PeerSilentAfter {
		first := recv(stats)
		end := time.Now().Add(watchMax)
		for time.Now().Before(end) && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			cur, err := sample()
			if err != nil {
				break
			}
			stats = cur
			if recv(cur) != first {
				lastHeard = time.Now()
				break
			}
		}
		rep.fill(stats)
		now = time.Now()
	}
	if !lastHeard.IsZero() {
		lh := lastHeard
		rep.PeerLastHeard = &lh
		rep.PeerHeard = now.Sub(lastHeard) <= PeerSilentAfter
	}
	writeObservation(root, observation{Pid: st.Pid, StartTicks: st.StartTicks, Recv: recv(stats), At: now, LastHeard: lastHeard})

	// The refill of this very process, moved on by what conntrackd
	// reports now (the hook starts a refill and does not wait for it).
	rf, err := transition.ReadRefill(root)
	if err == nil && rf.For(st) && rf.Observe(stats, now) {
		_ = transition.WriteRefill(root, rf)
	}
	if rf.For(st) {
		rep.Refill = rf
	}

	var why []string
	if !rep.Keepalived.Running {
		why = append(why, "keepalived is not running")
	}
	if r := refillReason(rep.Refill, st, rep.Role, rep.ExternalCache); r != "" {
		why = append(why, r)
	}
	switch {
	case !rep.LinkUp:
		why = append(why, "conntrackd reports no sync channel")
	case !rep.PeerHeard && rep.PeerLastHeard == nil:
		why = append(why, "peer silent: nothing received over the sync link since conntrackd started")
	case !rep.PeerHeard:
		why = append(why, fmt.Sprintf("peer silent: nothing received over the sync link for %.0f s", now.Sub(*rep.PeerLastHeard).Seconds()))
	}
	if len(why) > 0 {
		return rep.not(strings.Join(why, "; "))
	}
	rep.Ready = true
	return rep
}

func (r Report) not(reason string) Report {
	r.Ready, r.Reason = false, reason
	return r
}

func (r *Report) fill(st *ctdstats.Stats) {
	if c := st.Cache["internal"]; c != nil {
		r.Internal = c.Current
	}
	if c := st.Cache["external"]; c != nil {
		r.External = c.Current
	}
	r.LinkUp = st.Link != nil
	if st.Tracking != nil {
		r.Lost, r.Malformed = st.Tracking.Lost, st.Tracking.Malformed
	}
}

// refillReason is why the caches of the conntrackd st describes are not
// known to be refilled; empty when they are.
func refillReason(rf *transition.RefillRecord, st *supervise.Started, role string, external bool) string {
	what := "external cache emptied"
	if !external {
		what = "caches emptied"
	}
	if role == transition.RoleMaster {
		what = "internal cache emptied"
	}
	since := fmt.Sprintf("%s by a conntrackd restart at %s", what, clock(st.At))
	switch {
	case rf == nil:
		return since + "; no refill recorded"
	case rf.State == transition.RefillFailed:
		return since + "; refill failed: " + rf.Error
	case rf.State == transition.RefillPending:
		s := fmt.Sprintf("%s; resync requested at %s, %d entries received", since, clock(rf.Requested), rf.Received)
		if rf.Attempts > 1 {
			s += fmt.Sprintf(" (asked %d times)", rf.Attempts)
		}
		return s
	}
	return ""
}

func clock(t time.Time) string { return t.Local().Format("15:04:05") }

func recv(st *ctdstats.Stats) uint64 {
	if st.Link == nil {
		return 0
	}
	return st.Link.PacketsRecv
}

// keepalived is keepalived's process, from its Started record while the
// process it names still runs (pid, start ticks, command line): the
// supervisor's own check. A pid file and a process name are not enough:
// any process can be named keepalived.
func keepalived(root paths.Root) Engine {
	st, err := supervise.ReadStarted(handler.EngineSpec{StartedFile: root.KeepalivedStarted()})
	if err == nil && st != nil && st.Running() {
		at := st.At
		return Engine{Running: true, Pid: st.Pid, Since: &at}
	}
	return Engine{}
}

func readObservation(root paths.Root) *observation {
	b, err := os.ReadFile(root.PeerObservation())
	if err != nil {
		return nil
	}
	var o observation
	if json.Unmarshal(b, &o) != nil {
		return nil
	}
	return &o
}

// writeObservation keeps this look for the next; a reader without write
// access (an operator who is not root) just watches next time.
func writeObservation(root paths.Root, o observation) {
	b, err := json.Marshal(o)
	if err != nil {
		return
	}
	_ = atomicfile.WriteFile(root.PeerObservation(), append(b, '\n'), 0o644)
}

// Watch evaluates every interval until ctx ends, so that each Evaluate
// elsewhere (status, a metrics gauge) finds a recent look and a pending
// refill moved on.
func Watch(ctx context.Context, root paths.Root, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			Evaluate(ctx, root)
		}
	}
}
