package transition

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/paths"
)

// Record is the last transition the hook ran for the conntrack-sync
// sync-group, as stored in Root.TransitionState().
type Record struct {
	// Seq orders transitions: the later call has the larger number.
	Seq   uint64 `json:"seq"`
	State string `json:"state"`
	Group string `json:"group"`
	// Mode is "external-cache" or "no-external-cache" (states injected
	// straight into the kernel table), or empty when nothing was done.
	Mode     string        `json:"mode,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Steps    []Step        `json:"steps"`
	// ExternalEntries is the external cache's size before the commit;
	// KernelEntries the kernel table's size after it. A commit is only
	// called done when the second is at least the first.
	ExternalEntries int `json:"external_entries,omitempty"`
	KernelEntries   int `json:"kernel_entries,omitempty"`
	// Committed is how many entries the commit brought into the kernel
	// table (growth of the table; entries already there are not counted).
	Committed int `json:"committed,omitempty"`
	// DaemonCommitted is how many flows conntrackd says it committed
	// (its log line "Committed N new entries"); -1 when it logged a
	// commit without that line, 0 when its log was not readable.
	DaemonCommitted int `json:"daemon_committed,omitempty"`
	// KernelReady is the time from the hook's start until the commit was
	// checked complete: when old flows can pass again.
	KernelReady time.Duration `json:"kernel_ready_ns,omitempty"`
	// Skipped says why nothing was done (conntrack-sync not configured).
	Skipped string `json:"skipped,omitempty"`
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
}

// Step is one request to conntrackd (or one check) and its outcome.
type Step struct {
	Name     string        `json:"name"`
	Code     int32         `json:"code,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	OK       bool          `json:"ok"`
	Detail   string        `json:"detail,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// GroupState is one VRRP group's state as the hook last saw it.
type GroupState struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
	Seq   uint64    `json:"seq"`
}

// ReadRecord returns the last recorded transition, or nil and no error
// when the hook never ran under this root.
func ReadRecord(root paths.Root) (*Record, error) {
	b, err := os.ReadFile(root.TransitionState())
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading transition record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading transition record %s: %w", root.TransitionState(), err)
	}
	return &r, nil
}

// ReadVRRPState returns each VRRP group's last state as the hook saw it
// (empty when the hook never ran).
func ReadVRRPState(root paths.Root) (map[string]GroupState, error) {
	b, err := os.ReadFile(root.VRRPState())
	if err != nil {
		if os.IsNotExist(err) {
			return map[string]GroupState{}, nil
		}
		return nil, fmt.Errorf("reading vrrp state: %w", err)
	}
	m := map[string]GroupState{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading vrrp state %s: %w", root.VRRPState(), err)
	}
	return m, nil
}

func writeRecord(root paths.Root, r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding transition record: %w", err)
	}
	return atomicfile.WriteFile(root.TransitionState(), append(b, '\n'), 0o644)
}

// setGroupState updates one group in the VRRP state map. The caller holds
// the bookkeeping lock: this is a read-modify-write shared by every group's
// hook. A state older than the recorded one (smaller Seq) is not applied.
func setGroupState(root paths.Root, group string, gs GroupState) error {
	m, err := ReadVRRPState(root)
	if err != nil {
		// A corrupt file must not stop failover: start a fresh map.
		m = map[string]GroupState{}
	}
	if old, ok := m[group]; ok && old.Seq > gs.Seq {
		return nil
	}
	m[group] = gs
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding vrrp state: %w", err)
	}
	return atomicfile.WriteFile(root.VRRPState(), append(b, '\n'), 0o644)
}
