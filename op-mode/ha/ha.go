// Package ha is the op-mode family of the pair: show high-availability
// [identity], request high-availability failover [force] and request
// high-availability maintenance on|off.
package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/pair"
	"github.com/ctsync/ctsync/internal/service"
)

func init() {
	for _, c := range []opcmd.Command{
		{Path: []string{"show", "high-availability"}, Help: "Show both nodes of the pair and the alarms they raise", Run: runShow},
		{Path: []string{"show", "high-availability", "identity"}, Help: "Show this node's identity, for the peer's peer-identity", Run: runIdentity},
		{Path: []string{"request", "high-availability", "failover"}, Args: "[force]", Help: "Hand mastership to the peer when it is ready (force: even when not)", Run: runFailover},
		{Path: []string{"request", "high-availability", "maintenance"}, Args: "on|off", Help: "Keep this node out of mastership, across restarts and reboots", Run: runMaintenance},
	} {
		opcmd.Register(c)
	}
}

// MaintenanceWait bounds how long `maintenance on` waits for the node to
// leave mastership.
var MaintenanceWait = 20 * time.Second

func usage(s string) error { return errors.New("usage: " + s) }

func ask(env *opcmd.Env, req configd.Request) (string, error) {
	c, err := configd.Dial(env.Root.CtsyncdSocket())
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.Do(req)
}

func runShow(ctx context.Context, env *opcmd.Env, args []string) error {
	if len(args) != 0 {
		return usage("show high-availability [identity]")
	}
	out, err := ask(env, configd.Request{Op: "pair-view"})
	if err != nil {
		if errors.Is(err, service.ErrNotRunning) {
			return fmt.Errorf("%w: the pair view comes from ctsyncd (failover does not need it)", err)
		}
		return err
	}
	var v pair.View
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return fmt.Errorf("reading the pair view from ctsyncd: %w", err)
	}
	return pair.WriteView(env.Out, &v, env.JSON)
}

func runIdentity(ctx context.Context, env *opcmd.Env, args []string) error {
	if len(args) != 0 {
		return usage("show high-availability identity")
	}
	fp, err := pair.ReadFingerprint(env.Root)
	if err != nil {
		return err
	}
	if env.JSON {
		return json.NewEncoder(env.Out).Encode(map[string]string{"identity": fp})
	}
	fmt.Fprintln(env.Out, fp)
	return nil
}

func runFailover(ctx context.Context, env *opcmd.Env, args []string) error {
	if len(args) > 1 || (len(args) == 1 && args[0] != "force") {
		return usage("request high-availability failover [force]")
	}
	out, err := ask(env, configd.Request{Op: "pair-failover", Args: args})
	fmt.Fprint(env.Out, out)
	return err
}

func runMaintenance(ctx context.Context, env *opcmd.Env, args []string) error {
	if len(args) != 1 || (args[0] != "on" && args[0] != "off") {
		return usage("request high-availability maintenance on|off")
	}
	out, err := pair.SetMaintenance(ctx, env.Root, args[0] == "on", MaintenanceWait)
	fmt.Fprint(env.Out, strings.TrimLeft(out, "\n"))
	return err
}
