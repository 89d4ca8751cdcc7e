package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the in-process HTTP listener that serves /metrics. It is
// moved by conf-mode/metrics: Set binds the new address before it closes
// the old one, so a bind that fails leaves the listener as it was.
type Server struct {
	mu   sync.Mutex // held while the listener moves
	addr string
	// hmu guards handler alone: a scrape must not wait for Set, which
	// waits for scrapes to end when it shuts the old server down.
	hmu     sync.Mutex
	handler http.Handler
	ln      net.Listener
	srv     *http.Server
}

// Listener is the one ctsyncd serves; the handler of `service ctsync
// metrics` moves it.
var Listener = &Server{}

// SetMetrics makes the listener serve m. Until it is called (a process
// without ctsyncd's registry, such as a handler test) /metrics answers
// 503.
func (s *Server) SetMetrics(m *Metrics) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.handler = promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Addr is the address served, "" when off.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Set serves on addr (host:port), or stops serving when addr is "". The
// same address again is a no-op, so Apply may run twice.
func (s *Server) Set(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if addr == s.addr {
		return nil
	}
	var ln net.Listener
	var srv *http.Server
	if addr != "" {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics: listening on %s: %w", addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", http.HandlerFunc(s.serveMetrics))
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				_ = err // the listener was closed under it; Set reports binds
			}
		}()
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
		// Shutdown closes only the listeners Serve has registered: if its
		// goroutine has not run yet, the old socket would keep accepting
		// until it does. Close it here, so the old address is free when
		// Set returns.
		_ = s.ln.Close()
	}
	s.addr, s.ln, s.srv = addr, ln, srv
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	s.hmu.Lock()
	h := s.handler
	s.hmu.Unlock()
	if h == nil {
		http.Error(w, "no metrics registry in this process", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}
