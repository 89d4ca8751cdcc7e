package conntracksync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/service"
)

// cacheCount is one cache's current size from conntrackd -s.
func cacheCount(ctx context.Context, c *conntrackd.Client, name string) (uint64, error) {
	st, err := readStats(ctx, c, conntrackd.Stats)
	if err != nil {
		return 0, err
	}
	cc, ok := st.Cache[name]
	if !ok {
		return 0, fmt.Errorf("conntrackd statistics have no %s cache", name)
	}
	return cc.Current, nil
}

// As VyOS does: flush the internal cache, then resync it from the kernel
// table; the outcome is checked through the cache's size afterwards.
func runResetInternal(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("reset conntrack-sync internal-cache", args); err != nil {
		return err
	}
	cfg, c, err := prepare(env)
	if err != nil {
		return err
	}
	before, err := cacheCount(ctx, c, "internal")
	if err != nil {
		return err
	}
	if _, err := ask(ctx, c, conntrackd.FlushInternal); err != nil {
		return err
	}
	resync := conntrackd.Resync
	if cfg.ExpectSync {
		resync = conntrackd.ResyncAll
	}
	if _, err := ask(ctx, c, resync); err != nil {
		return err
	}
	// The resync is a kernel dump conntrackd reads after answering: give
	// the count a moment to settle.
	after, err := settle(ctx, c, "internal", 3*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "internal cache flushed (%d entries) and resynced with the kernel table: %d entries\n", before, after)
	return nil
}

// As VyOS does: flush the external cache, then ask the peer to send its
// internal cache again.
func runResetExternal(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("reset conntrack-sync external-cache", args); err != nil {
		return err
	}
	cfg, c, err := prepare(env)
	if err != nil {
		return err
	}
	if cfg.DisableExternalCache {
		return errors.New("the external cache is disabled (service conntrack-sync disable-external-cache): nothing to reset")
	}
	before, err := cacheCount(ctx, c, "external")
	if err != nil {
		return err
	}
	if _, err := ask(ctx, c, conntrackd.FlushExternal); err != nil {
		return err
	}
	flushed, err := cacheCount(ctx, c, "external")
	if err != nil {
		return err
	}
	if flushed != 0 {
		return fmt.Errorf("external cache still holds %d entries after the flush", flushed)
	}
	if _, err := ask(ctx, c, conntrackd.RequestResync); err != nil {
		return err
	}
	after, err := settle(ctx, c, "external", 3*time.Second)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Out, "external cache flushed (%d entries); resync requested from the peer: %d entries received\n", before, after)
	return nil
}

// settle polls a cache's size until it stops changing (two equal
// readings 300 ms apart, the first non-zero) or max passes.
func settle(ctx context.Context, c *conntrackd.Client, name string, max time.Duration) (uint64, error) {
	deadline := time.Now().Add(max)
	last, err := cacheCount(ctx, c, name)
	if err != nil {
		return 0, err
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
		n, err := cacheCount(ctx, c, name)
		if err != nil {
			return 0, err
		}
		if n == last && n != 0 {
			return n, nil
		}
		last = n
	}
	return last, nil
}

// ErrCommitInProgress refuses a restart while ctsyncd commits.
var ErrCommitInProgress = service.ErrCommitInProgress

// restartTimeout bounds the wait for the new conntrackd to answer.
var restartTimeout = 20 * time.Second

// runRestart asks ctsyncd to restart conntrackd: ctsyncd's supervisor owns
// the engine and its spec, and ctsyncd refuses while a commit runs. It
// then checks that the new daemon answers on its control socket.
func runRestart(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("restart conntrack-sync", args); err != nil {
		return err
	}
	if _, err := LoadConfig(env.Root); err != nil {
		return err
	}
	cl := &conntrackd.Client{Path: env.Root.ConntrackdSocket()}
	answers := func(ctx context.Context) error {
		_, err := cl.Do(ctx, conntrackd.Stats)
		return err
	}
	res, err := configd.RestartEngine(ctx, env.Root, conntrackd.EngineName, restartTimeout, answers)
	switch {
	case errors.Is(err, service.ErrCommitInProgress):
		return ErrCommitInProgress
	case err != nil:
		return fmt.Errorf("restart conntrack-sync: %w", err)
	}
	return res.Write(env.Out, env.JSON)
}
