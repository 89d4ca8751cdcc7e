package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/paths"
)

// State is the last thing done to the guard, and by whom. It lives under
// the run directory, which, like the kernel's tables, does not survive a
// reboot. The commit reads it to keep what the hook decided (a ctsyncd
// that starts must not raise a guard a master lifted); status reads it
// to say since when the guard is up.
type State struct {
	Up bool `json:"up"`
	// By is "backup hook", "fault hook", "master hook", "commit".
	By  string    `json:"by"`
	Seq uint64    `json:"seq,omitempty"` // the hook's ticket
	At  time.Time `json:"at"`
	// Until is set when the guard was raised with a bound: the kernel
	// lifts it by itself then.
	Until time.Time `json:"until,omitzero"`
	VIPs  []string  `json:"vips,omitempty"`
}

// StatePath is the state file under root.
func StatePath(root paths.Root) string { return root.GuardState() }

// ReadState returns the recorded state, nil when there is none.
func ReadState(root paths.Root) (*State, error) {
	b, err := os.ReadFile(StatePath(root))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading guard state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading guard state %s: %w", StatePath(root), err)
	}
	return &s, nil
}

// WriteState records s.
func WriteState(root paths.Root, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding guard state: %w", err)
	}
	// The hook runs under keepalived's umask (077): a run directory it
	// creates first must still be searchable by op-mode.
	if err := atomicfile.MkdirAll(root.RunDir(), 0o755); err != nil {
		return fmt.Errorf("writing guard state: %w", err)
	}
	return atomicfile.WriteFile(StatePath(root), append(b, '\n'), 0o644)
}

// RemoveState forgets the state (conntrack-sync deleted).
func RemoveState(root paths.Root) error {
	if err := os.Remove(StatePath(root)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing guard state: %w", err)
	}
	return nil
}

// Report is the guard as `show conntrack-sync status` tells it: what the
// kernel holds, and what was last done to it.
type Report struct {
	Up      bool    `json:"up"`
	Present Present `json:"kernel"`
	Last    *State  `json:"last,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// Inspect builds the report from the kernel (g) and the state file.
func Inspect(root paths.Root, g Guard) *Report {
	r := &Report{}
	var errs []error
	p, err := g.Inspect()
	errs = append(errs, err)
	r.Present, r.Up = p, p.Up()
	st, err := ReadState(root)
	errs = append(errs, err)
	r.Last = st
	if err := errors.Join(errs...); err != nil {
		r.Error = err.Error()
	}
	return r
}

// Line is the report in one line, for status's text form.
func (r *Report) Line() string {
	if r == nil {
		return "unknown"
	}
	if r.Error != "" && !r.Present.Table {
		return "unknown (" + r.Error + ")"
	}
	var s string
	switch {
	case r.Up:
		s = "UP: non-SYN TCP packets unknown to conntrack are dropped"
		if r.Present.Expires > 0 {
			s += fmt.Sprintf(", lifts itself in %.1f s", r.Present.Expires.Seconds())
		}
	case r.Present.Table:
		s = "down (expired)"
	default:
		s = "down"
	}
	if l := r.Last; l != nil && l.By != "" {
		verb := "lifted"
		if l.Up {
			verb = "raised"
		}
		s += fmt.Sprintf(" (%s by the %s at %s)", verb, l.By, l.At.Local().Format("15:04:05.000"))
	}
	return s
}
