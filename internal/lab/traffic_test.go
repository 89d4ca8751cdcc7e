package lab

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxy forwards TCP to an upstream and can pause (hold every byte, as a
// failover does) or cut (reset every connection, as a dead firewall that
// rejects does).
type proxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	open     chan struct{} // closed while not paused
	conns    []net.Conn
}

func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream, open: make(chan struct{})}
	close(p.open)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		p.mu.Lock()
		gate := p.open
		p.mu.Unlock()
		<-gate
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			return
		}
	}
}

func (p *proxy) pause() {
	p.mu.Lock()
	p.open = make(chan struct{})
	p.mu.Unlock()
}

func (p *proxy) resume() {
	p.mu.Lock()
	close(p.open)
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

func echoServer(t *testing.T) *EchoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewEchoServer(ln)
	t.Cleanup(func() { s.Close() })
	return s
}

func startFlows(t *testing.T, addr string, n int, dead time.Duration) *Flows {
	t.Helper()
	f, err := StartFlows(context.Background(), FlowConfig{
		Flows: n, Interval: 20 * time.Millisecond, DeadAfter: dead,
		Dial: func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f
}

func waitSettled(t *testing.T, f *Flows, since time.Time, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !f.Settled(since) {
		if time.Now().After(deadline) {
			t.Fatalf("flows not settled after %v: %+v", limit, f.Snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFlows(t *testing.T) {
	const n = 20
	tests := []struct {
		name     string
		outage   time.Duration
		cut      bool
		dead     time.Duration
		wantDead int
		minGap   time.Duration
		maxGap   time.Duration
		why      string
	}{
		{name: "steady", dead: 2 * time.Second, maxGap: 500 * time.Millisecond},
		{name: "short outage survives", outage: 400 * time.Millisecond, dead: 2 * time.Second,
			minGap: 400 * time.Millisecond, maxGap: 1500 * time.Millisecond},
		{name: "long outage kills", outage: 800 * time.Millisecond, dead: 300 * time.Millisecond,
			wantDead: n, why: "timeout"},
		{name: "reset kills", cut: true, dead: 2 * time.Second, wantDead: n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := echoServer(t)
			p := newProxy(t, srv.Addr().String())
			f := startFlows(t, p.ln.Addr().String(), n, tc.dead)
			time.Sleep(100 * time.Millisecond)
			if s := f.Snapshot(); s.Alive != n || s.RoundTrips == 0 {
				t.Fatalf("before the event: %+v, want %d alive and round trips", s, n)
			}
			f.Mark()
			switch {
			case tc.cut:
				p.cut()
			case tc.outage > 0:
				p.pause()
				time.Sleep(tc.outage)
				p.resume()
			}
			event := time.Now()
			waitSettled(t, f, event, 5*time.Second)
			time.Sleep(100 * time.Millisecond)
			s := f.Snapshot()
			if s.Dead != tc.wantDead || s.Alive != n-tc.wantDead {
				t.Errorf("dead %d alive %d (%s), want dead %d", s.Dead, s.Alive, s.DeathSummary(), tc.wantDead)
			}
			if tc.why != "" && s.Deaths[tc.why] != tc.wantDead {
				t.Errorf("deaths %v, want %d %q", s.Deaths, tc.wantDead, tc.why)
			}
			if tc.wantDead == 0 && (s.LongestGap < tc.minGap || s.LongestGap > tc.maxGap) {
				t.Errorf("longest gap %v, want in [%v, %v]", s.LongestGap, tc.minGap, tc.maxGap)
			}
		})
	}
}

func TestEchoServerCloseEndsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewEchoServer(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not return")
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("connection still open after Close")
	}
}
