package configd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/service"
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

// RestartEngine is `restart conntrack-sync` and `restart vrrp`: it asks
// the ctsyncd of root to restart engine (its supervisor owns the engine
// and the spec it runs with, and refuses while a commit runs, with
// service.ErrCommitInProgress), then waits up to timeout until answers
// says the new process does: an engine's pid comes before it is ready.
func RestartEngine(ctx context.Context, root paths.Root, engine string, timeout time.Duration, answers func(context.Context) error) (Restarted, error) {
	c, err := Dial(root.CtsyncdSocket())
	if err != nil {
		if errors.Is(err, service.ErrNotRunning) {
			return Restarted{}, fmt.Errorf("ctsyncd is not running (%s): nothing would start %s again", root.CtsyncdSocket(), engine)
		}
		return Restarted{}, err
	}
	defer c.Close()
	res, err := c.Restart(engine)
	if err != nil {
		return Restarted{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := conntrackd.WaitAnswer(wctx, answers, nil); err != nil {
		return Restarted{}, fmt.Errorf("%s was restarted (pid %d) but does not answer within %s (%v): check ctsyncd's log", engine, res.Pid, timeout, err)
	}
	return res, nil
}
