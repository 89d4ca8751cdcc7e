// Package ha is the op-mode family of the pair: show high-availability
// [identity|config-diff], request high-availability failover [force],
// maintenance on|off and config-sync from-peer|to-peer.
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
		{Path: []string{"show", "high-availability", "config-diff"}, Help: "Show how the synced part differs between this node and the peer", Run: runConfigDiff},
		{Path: []string{"request", "high-availability", "config-sync"}, Args: "from-peer|to-peer", Help: "Settle a config drift: take the peer's synced part, or push this node's", Run: runConfigSync},
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

// fromCtsyncd names ctsyncd's absence: the pair's config comes from it.
func fromCtsyncd(err error) error {
	if errors.Is(err, service.ErrNotRunning) {
		return fmt.Errorf("%w: config sync runs in ctsyncd (failover does not need it)", err)
	}
	return err
}

func runConfigDiff(ctx context.Context, env *opcmd.Env, args []string) error {
	if len(args) != 0 {
		return usage("show high-availability config-diff")
	}
	out, err := ask(env, configd.Request{Op: "pair-config-diff"})
	if err != nil {
		return fromCtsyncd(err)
	}
	var d pair.ConfigDiff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		return fmt.Errorf("reading the config diff from ctsyncd: %w", err)
	}
	return pair.WriteConfigDiff(env.Out, &d, env.JSON)
}

func runConfigSync(ctx context.Context, env *opcmd.Env, args []string) error {
	if len(args) != 1 || (args[0] != "from-peer" && args[0] != "to-peer") {
		return usage("request high-availability config-sync from-peer|to-peer")
	}
	out, err := ask(env, configd.Request{Op: "pair-config-sync", Args: args})
	if env.JSON {
		res := map[string]any{"direction": args[0], "ok": err == nil, "message": strings.TrimSpace(out)}
		if err != nil {
			res["error"] = err.Error()
		}
		if jerr := json.NewEncoder(env.Out).Encode(res); jerr != nil {
			return jerr
		}
		return fromCtsyncd(err)
	}
	fmt.Fprint(env.Out, out)
	return fromCtsyncd(err)
}
