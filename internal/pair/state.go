package pair

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/paths"
)

// The values written to the VRRP weight file. keepalived adds the value
// (weight 1) to each instance's priority and limits the result to
// [1,254]: -253 takes any priority to 1, so the peer is master whenever
// it runs; +253 takes any priority to 254, above any peer not boosted
// itself. Neither reaches the -254 that would put the instance in FAULT:
// a node in maintenance stays a BACKUP whose conntrackd keeps its
// external cache filled, ready to come back.
const (
	weightMaintenance = -253
	weightPreferred   = 253
)

// State is what the operator asked of this node: it lives under the
// root's var/lib, so it outlasts ctsyncd, keepalived and a reboot.
type State struct {
	// Maintenance keeps the node out of mastership until turned off.
	Maintenance      bool       `json:"maintenance"`
	MaintenanceSince *time.Time `json:"maintenance_since,omitempty"`
	// Preferred is set on the node a handover gave mastership to, so
	// that the old master, once backup, does not preempt it back. The
	// next handover moves it.
	Preferred bool `json:"preferred,omitempty"`
}

// Weight is the value keepalived's track_file reads for st.
func (st State) Weight() int {
	switch {
	case st.Maintenance:
		return weightMaintenance
	case st.Preferred:
		return weightPreferred
	}
	return 0
}

// ReadState returns the recorded state; none recorded is the zero State.
func ReadState(root paths.Root) (State, error) {
	var st State
	b, err := os.ReadFile(root.PairState())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading the pair state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("reading the pair state %s: %w", root.PairState(), err)
	}
	return st, nil
}

// UpdateState changes the recorded state with f and writes the weight
// file keepalived tracks, under a lock shared by every writer. The weight
// file is written last: it is what acts, and it never says more than the
// state file.
func UpdateState(root paths.Root, f func(*State)) (State, error) {
	if err := os.MkdirAll(root.RunDir(), 0o755); err != nil {
		return State{}, err
	}
	lf, err := os.OpenFile(root.PairLock(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return State{}, err
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		return State{}, fmt.Errorf("locking %s: %w", root.PairLock(), err)
	}
	st, err := ReadState(root)
	if err != nil {
		// A corrupt record must not keep the operator from setting it.
		st = State{}
	}
	f(&st)
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return st, err
	}
	if err := os.MkdirAll(filepath.Dir(root.PairState()), 0o750); err != nil {
		return st, err
	}
	if err := atomicfile.WriteFile(root.PairState(), append(b, '\n'), 0o644); err != nil {
		return st, fmt.Errorf("writing the pair state: %w", err)
	}
	if err := WriteWeight(root, st.Weight()); err != nil {
		return st, err
	}
	return st, nil
}

// WriteWeight writes the number keepalived's track_file reads. keepalived
// watches the file with inotify and applies a new value at once, without
// a reload; the rename of an atomic write is such a change.
func WriteWeight(root paths.Root, w int) error {
	if err := os.MkdirAll(filepath.Dir(root.VRRPWeight()), 0o750); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(root.VRRPWeight(), []byte(strconv.Itoa(w)+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing the VRRP weight file: %w", err)
	}
	return nil
}
