package pair

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
)

// HandoverTimeout bounds how long a failover request waits for the peer
// to be master: VRRP detection is a few adverts.
var HandoverTimeout = 30 * time.Second

// TakeOverLocal is what a node does when its peer hands mastership to
// it: refuse when in maintenance, or (unless forced) when not ready;
// otherwise raise its priority above the peer's through the weight file.
func TakeOverLocal(ctx context.Context, c *Collector, force bool) (string, error) {
	st, err := ReadState(c.Root)
	if err != nil {
		return "", err
	}
	if st.Maintenance {
		return "", errors.New("in maintenance: turn it off first (request high-availability maintenance off)")
	}
	if !force && c.Ready != nil {
		if ok, why := c.Ready(ctx); !ok {
			return "", fmt.Errorf("not ready for failover: %s", why)
		}
	}
	if _, err := UpdateState(c.Root, func(s *State) { s.Preferred = true }); err != nil {
		return "", err
	}
	return "priority raised: taking over", nil
}

// Failover hands mastership to the peer: the peer must be up and ready
// (force skips readiness), it raises its priority, this node drops its
// own preference, and Failover waits until the peer reports master of
// every sync-group this node was master of, and this node no longer is.
func (s *Service) Failover(ctx context.Context, force bool) (string, error) {
	v := s.View(ctx, true)
	groups, err := handoverGroups(v, force)
	if err != nil {
		return "", err
	}
	start := time.Now()
	resp, err := s.Ask(ctx, Request{Op: OpTakeover, Force: force})
	if err != nil {
		return "", fmt.Errorf("asking %s to take over: %w", v.Peer.Name, err)
	}
	if resp.Err != "" {
		return "", fmt.Errorf("refused by %s: %s", v.Peer.Name, resp.Err)
	}
	if _, err := UpdateState(s.Collector.Root, func(st *State) { st.Preferred = false }); err != nil {
		return "", err
	}
	cfg := s.Configured()
	deadline := time.Now().Add(HandoverTimeout)
	for {
		if cfg != nil {
			s.PollOnce(ctx, *cfg)
		}
		s.mu.Lock()
		peer := s.peer
		s.mu.Unlock()
		local, _ := transition.ReadVRRPState(s.Collector.Root)
		done := peer != nil
		for _, g := range groups {
			if peer == nil || !peer.Master(g) || strings.EqualFold(local[g].State, "master") {
				done = false
			}
		}
		if done {
			return fmt.Sprintf("%s is master of sync-group %s (took over in %.2f s); %s is backup\n",
				peer.Name, strings.Join(groups, ", "), time.Since(start).Seconds(), v.Local.Name), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s has not become master of sync-group %s within %s", v.Peer.Name, strings.Join(groups, ", "), HandoverTimeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// SetMaintenance turns maintenance on or off and, turning it on, waits
// (up to wait) for this node to leave mastership. It needs no ctsyncd:
// the weight file is all keepalived reads.
func SetMaintenance(ctx context.Context, root paths.Root, on bool, wait time.Duration) (string, error) {
	was, _ := ReadState(root)
	st, err := UpdateState(root, func(s *State) {
		if on && !s.Maintenance {
			now := time.Now().UTC()
			s.MaintenanceSince = &now
		}
		if !on {
			s.MaintenanceSince = nil
		}
		s.Maintenance = on
		// Maintenance hands mastership away: a preference from an
		// earlier handover must not pull it back when it ends.
		s.Preferred = false
	})
	if err != nil {
		return "", err
	}
	if !on {
		if !was.Maintenance {
			return "maintenance was already off\n", nil
		}
		return "maintenance off: VRRP priorities are back to their configured values (weight 0); this node preempts if its priority is the higher\n", nil
	}
	msg := fmt.Sprintf("maintenance on: VRRP priorities lowered (weight %+d) until `request high-availability maintenance off`; kept across restarts and reboots\n", st.Weight())
	deadline := time.Now().Add(wait)
	for {
		states, _ := transition.ReadVRRPState(root)
		master := ""
		for g, gs := range states {
			if strings.EqualFold(gs.State, "master") {
				master = g
			}
		}
		if master == "" {
			return msg + "this node is not master\n", nil
		}
		if time.Now().After(deadline) {
			return msg, fmt.Errorf("this node is still master of sync-group %s after %s: is the peer up, and does it preempt?", master, wait)
		}
		select {
		case <-ctx.Done():
			return msg, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RestoreWeight rewrites the weight file from the recorded state, at
// ctsyncd's start: the file is what keepalived reads, and it must say
// what the operator asked even if it was lost.
func RestoreWeight(root paths.Root) error {
	st, err := ReadState(root)
	if err != nil {
		return err
	}
	return WriteWeight(root, st.Weight())
}

// handoverGroups decides from the pair view whether a handover may go
// ahead, and of which sync-groups (those this node is master of). The
// peer must answer and not be in maintenance; unless forced it must also
// be ready by its own account and hold in its external cache what this
// node's internal cache holds (cacheLag), the cross-check its own
// readiness cannot make.
func handoverGroups(v *View, force bool) ([]string, error) {
	if !v.Configured {
		return nil, errors.New("high-availability pair is not configured")
	}
	if v.Channel != ChannelUp || v.Peer == nil {
		return nil, fmt.Errorf("refused: the peer does not answer (%s): a handover needs it", strings.TrimSuffix(v.Channel+": "+v.ChannelInfo, ": "))
	}
	var groups []string
	for _, g := range v.Local.SyncGroups {
		if v.Local.Master(g.Name) {
			groups = append(groups, g.Name)
		}
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("refused: %s is not master of any sync-group: nothing to hand over", v.Local.Name)
	}
	if v.Peer.State.Maintenance {
		return nil, fmt.Errorf("refused: %s is in maintenance", v.Peer.Name)
	}
	if force {
		return groups, nil
	}
	if !v.Peer.Ready {
		return nil, fmt.Errorf("refused: %s is not ready for failover (%s); `request high-availability failover force` overrides", v.Peer.Name, v.Peer.ReadyReason)
	}
	if lag := cacheLag(v.Local, v.Peer); lag != "" {
		return nil, fmt.Errorf("refused: %s; `request high-availability failover force` overrides", lag)
	}
	return groups, nil
}
