package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EchoServer writes back whatever each connection sends.
type EchoServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewEchoServer serves ln until Close.
func NewEchoServer(ln net.Listener) *EchoServer {
	s := &EchoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

// Addr is the listening address.
func (s *EchoServer) Addr() net.Addr { return s.ln.Addr() }

func (s *EchoServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.conns == nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_, _ = io.Copy(c, c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, closes every connection and waits for them.
func (s *EchoServer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// FlowConfig says how the client's flows behave.
type FlowConfig struct {
	Flows int
	// Interval is the time between the starts of two round trips of one
	// flow: each sends a 16-byte message and waits for its echo.
	Interval time.Duration
	// DeadAfter declares a flow dead when it has had no round trip for
	// this long; TCP itself would keep retransmitting for many minutes.
	DeadAfter time.Duration
	// Dial opens one connection to the echo server.
	Dial func(ctx context.Context) (net.Conn, error)
}

const msgLen = 16

// Flows are long-lived TCP flows, each measuring its round trips.
type Flows struct {
	cfg    FlowConfig
	flows  []*flow
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type flow struct {
	id   int
	conn net.Conn

	mu     sync.Mutex
	lastOK time.Time
	maxGap time.Duration // longest gap that ended since the last Mark
	rts    int64
	dead   bool
	why    string
}

// StartFlows opens every flow, then starts their round trips, spread
// evenly over one interval so the routers see a steady load.
func StartFlows(ctx context.Context, cfg FlowConfig) (*Flows, error) {
	if cfg.Flows <= 0 || cfg.Interval <= 0 || cfg.DeadAfter <= 0 || cfg.Dial == nil {
		return nil, fmt.Errorf("flows: bad config %+v", cfg)
	}
	f := &Flows{cfg: cfg}
	for i := 0; i < cfg.Flows; i++ {
		c, err := cfg.Dial(ctx)
		if err != nil {
			for _, fl := range f.flows {
				fl.conn.Close()
			}
			return nil, fmt.Errorf("opening flow %d of %d: %w", i+1, cfg.Flows, err)
		}
		f.flows = append(f.flows, &flow{id: i, conn: c})
	}
	rctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	now := time.Now()
	for i, fl := range f.flows {
		fl.lastOK = now
		offset := cfg.Interval * time.Duration(i) / time.Duration(len(f.flows))
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			fl.run(rctx, cfg, offset)
		}()
	}
	return f, nil
}

func (fl *flow) run(ctx context.Context, cfg FlowConfig, offset time.Duration) {
	defer fl.conn.Close()
	// Cancellation must interrupt a blocked read at once.
	stop := context.AfterFunc(ctx, func() { _ = fl.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var out, in [msgLen]byte
	binary.BigEndian.PutUint64(out[:8], uint64(fl.id))
	next := time.Now().Add(offset)
	t := time.NewTimer(time.Until(next))
	defer t.Stop()
	for seq := uint64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// After a stall, carry on from now rather than firing a burst of
		// round trips to catch up.
		next = next.Add(cfg.Interval)
		if now := time.Now(); next.Before(now) {
			next = now.Add(cfg.Interval)
		}
		fl.mu.Lock()
		deadline := fl.lastOK.Add(cfg.DeadAfter)
		fl.mu.Unlock()
		binary.BigEndian.PutUint64(out[8:], seq)
		err := fl.conn.SetDeadline(deadline)
		if err == nil {
			_, err = fl.conn.Write(out[:])
		}
		if err == nil {
			_, err = io.ReadFull(fl.conn, in[:])
		}
		if err == nil && in != out {
			err = errors.New("echo does not match")
		}
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		fl.mu.Lock()
		if err != nil {
			fl.dead, fl.why = true, deathReason(err)
			fl.mu.Unlock()
			return
		}
		if gap := now.Sub(fl.lastOK); gap > fl.maxGap {
			fl.maxGap = gap
		}
		fl.lastOK = now
		fl.rts++
		fl.mu.Unlock()
		t.Reset(time.Until(next))
	}
}

// deathReason names why a flow died in a word a report can count.
func deathReason(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.ETIMEDOUT):
		return "tcp timeout"
	default:
		return err.Error()
	}
}

// LocalPorts are the flows' local (client) ports.
func (f *Flows) LocalPorts() map[uint16]bool {
	m := map[uint16]bool{}
	for _, fl := range f.flows {
		if a, ok := fl.conn.LocalAddr().(*net.TCPAddr); ok {
			m[uint16(a.Port)] = true
		}
	}
	return m
}

// Mark starts a new measurement window: each flow's longest gap restarts
// from the gap it is in now.
func (f *Flows) Mark() {
	for _, fl := range f.flows {
		fl.mu.Lock()
		fl.maxGap = 0
		fl.mu.Unlock()
	}
}

// Sample is what the flows saw in one window.
type Sample struct {
	Flows int
	Alive int // not dead (may be stalled)
	Dead  int
	// Stalled counts live flows with no round trip for longer than
	// two intervals: not dead yet, not working either.
	Stalled int
	// LongestGap is the longest time any live flow went without a round
	// trip in this window, including the gap it is in now.
	LongestGap time.Duration
	// Deaths counts dead flows by reason.
	Deaths map[string]int
	// RoundTrips is the total since the flows started.
	RoundTrips int64
}

// DeathSummary is "timeout 50" or "reset 3, timeout 47", sorted.
func (s Sample) DeathSummary() string {
	var parts []string
	for why, n := range s.Deaths {
		parts = append(parts, fmt.Sprintf("%s %d", why, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// Snapshot samples the window so far.
func (f *Flows) Snapshot() Sample {
	now := time.Now()
	s := Sample{Flows: len(f.flows), Deaths: map[string]int{}}
	for _, fl := range f.flows {
		fl.mu.Lock()
		s.RoundTrips += fl.rts
		if fl.dead {
			s.Dead++
			s.Deaths[fl.why]++
			fl.mu.Unlock()
			continue
		}
		s.Alive++
		gap := max(fl.maxGap, now.Sub(fl.lastOK))
		if now.Sub(fl.lastOK) > 2*f.cfg.Interval {
			s.Stalled++
		}
		s.LongestGap = max(s.LongestGap, gap)
		fl.mu.Unlock()
	}
	return s
}

// Settled reports whether every flow is either dead or has completed a
// round trip after t: nothing is left in between.
func (f *Flows) Settled(t time.Time) bool {
	for _, fl := range f.flows {
		fl.mu.Lock()
		ok := fl.dead || fl.lastOK.After(t)
		fl.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// Stop ends every flow, closes its connection and waits.
func (f *Flows) Stop() {
	f.cancel()
	f.wg.Wait()
}
