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
	// Dial opens one connection to the echo server; the dialled end is
	// the one that writes and measures (the client sends).
	Dial func(ctx context.Context) (net.Conn, error)
	// Open, when set instead of Dial, opens one flow whose measuring end
	// may be either side (see Endpoint): the server sends and the client
	// echoes, for one.
	Open func(ctx context.Context) (Endpoint, error)
}

// Endpoint is one flow as Open returns it.
type Endpoint struct {
	// Conn is the end that writes a message, reads its echo and measures.
	Conn net.Conn
	// ClientPort is the client's local port: what the routers' conntrack
	// tables show as the original source port.
	ClientPort uint16
	// Echo, if set, is the other end (echoing); Stop closes it.
	Echo io.Closer
}

const msgLen = 16

// Flows are long-lived TCP flows, each measuring its round trips.
type Flows struct {
	cfg    FlowConfig
	flows  []*flow
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// DstPort is the server port the flows go to (set by the lab; 0 when
	// unknown), so observers can find them in a conntrack table.
	DstPort uint16
	// Dir is who sends and who echoes.
	Dir Direction
}

type flow struct {
	id   int
	conn net.Conn
	port uint16    // client's port
	echo io.Closer // the echoing end, if the flow has one to close

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
	if cfg.Flows <= 0 || cfg.Interval <= 0 || cfg.DeadAfter <= 0 || (cfg.Dial == nil) == (cfg.Open == nil) {
		return nil, fmt.Errorf("flows: bad config %+v", cfg)
	}
	open := cfg.Open
	if open == nil {
		open = func(ctx context.Context) (Endpoint, error) {
			c, err := cfg.Dial(ctx)
			if err != nil {
				return Endpoint{}, err
			}
			var port uint16
			if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
				port = uint16(a.Port)
			}
			return Endpoint{Conn: c, ClientPort: port}, nil
		}
	}
	f := &Flows{cfg: cfg}
	for i := 0; i < cfg.Flows; i++ {
		e, err := open(ctx)
		if err != nil {
			for _, fl := range f.flows {
				fl.close()
			}
			return nil, fmt.Errorf("opening flow %d of %d: %w", i+1, cfg.Flows, err)
		}
		f.flows = append(f.flows, &flow{id: i, conn: e.Conn, port: e.ClientPort, echo: e.Echo})
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

func (fl *flow) close() {
	fl.conn.Close()
	if fl.echo != nil {
		fl.echo.Close()
	}
}

func (fl *flow) run(ctx context.Context, cfg FlowConfig, offset time.Duration) {
	defer fl.close()
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
		if fl.port != 0 {
			m[fl.port] = true
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

// Stop ends every flow, closes its connections and waits. It may be
// called more than once.
func (f *Flows) Stop() {
	f.cancel()
	f.wg.Wait()
}

// Len is the number of flows.
func (f *Flows) Len() int { return len(f.flows) }

// PushServer accepts the connections of flows where the server sends:
// each accepted connection is handed to whoever waits in Next, which
// writes on it and measures, while the client only echoes.
type PushServer struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPushServer serves ln until Close.
func NewPushServer(ln net.Listener) *PushServer {
	s := &PushServer{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case s.conns <- c:
			case <-s.done:
				c.Close()
				return
			}
		}
	}()
	return s
}

// Addr is the listening address.
func (s *PushServer) Addr() net.Addr { return s.ln.Addr() }

// Next returns the next accepted connection.
func (s *PushServer) Next(ctx context.Context, limit time.Duration) (net.Conn, error) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case c := <-s.conns:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, net.ErrClosed
	case <-t.C:
		return nil, fmt.Errorf("push server: no connection accepted within %v", limit)
	}
}

// Close stops accepting. Connections already handed out belong to their
// flows.
func (s *PushServer) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.ln.Close()
}

// echoConn echoes whatever arrives on c until c fails or is closed.
func echoConn(c net.Conn) {
	_, _ = io.Copy(c, c)
	c.Close()
}
