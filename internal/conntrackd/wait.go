package conntrackd

import (
	"context"
	"errors"
	"time"
)

// ErrExited is WaitAnswer's error when the process it waits for ends.
var ErrExited = errors.New("the process exited")

// WaitAnswer calls probe until it succeeds, ctx ends, or exited (nil:
// never) is closed. A conntrackd that has just started refuses for a
// while: it opens its control socket only after it has set up its sync
// links. The first retry comes after 10 ms, then twice as long each time
// up to 200 ms. When ctx ends, the error holds the last refusal too.
func WaitAnswer(ctx context.Context, probe func(context.Context) error, exited <-chan struct{}) error {
	wait := 10 * time.Millisecond
	for {
		last := probe(ctx)
		if last == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), last)
		case <-exited:
			t.Stop()
			return ErrExited
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}
