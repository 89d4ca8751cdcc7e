package configd

import (
	"encoding/json"
	"fmt"
	"io"
)

// Restarted is ctsyncd's answer to a restart request (`restart
// conntrack-sync`, `restart vrrp`): which engine, and its pid before and
// after. On the wire it is its text line, which older clients print as
// it is; ParseRestarted reads it back for --json.
type Restarted struct {
	Engine      string `json:"engine"`
	Pid         int    `json:"pid"`
	PreviousPid int    `json:"previous_pid"`
}

const restartedFormat = "%s restarted: pid %d (was %d)\n"

func (r Restarted) String() string {
	return fmt.Sprintf(restartedFormat, r.Engine, r.Pid, r.PreviousPid)
}

// ParseRestarted reads the answer String wrote.
func ParseRestarted(s string) (Restarted, error) {
	var r Restarted
	if _, err := fmt.Sscanf(s, restartedFormat, &r.Engine, &r.Pid, &r.PreviousPid); err != nil {
		return Restarted{}, fmt.Errorf("unexpected answer to a restart: %q: %w", s, err)
	}
	return r, nil
}

// Write prints r for the operator: its line, or one JSON object.
func (r Restarted) Write(w io.Writer, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	_, err := io.WriteString(w, r.String())
	return err
}

// Restart asks ctsyncd to restart engine (see Request.Op "restart").
func (c *Client) Restart(engine string) (Restarted, error) {
	out, err := c.Operate("restart", engine)
	if err != nil {
		return Restarted{}, err
	}
	return ParseRestarted(out)
}
