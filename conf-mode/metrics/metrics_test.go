package metrics

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	imetrics "github.com/ctsync/ctsync/internal/metrics"
)

type sys struct{ local map[string]bool }

func (s sys) Interface(name string) (*handler.Interface, error) { return nil, handler.ErrNoInterface }
func (s sys) IsLocalAddress(ip net.IP) (bool, error)            { return s.local[ip.String()], nil }

func TestLoadAndVerify(t *testing.T) {
	s := sys{local: map[string]bool{"192.0.2.1": true}}
	for _, tc := range []struct {
		lines   []string
		addr    string // "" when absent
		wantErr string
	}{
		{lines: nil},
		{lines: []string{"set service ctsync metrics listen-address 127.0.0.1"}, addr: "127.0.0.1:9797"},
		{lines: []string{"set service ctsync metrics listen-address ::1", "set service ctsync metrics port 9100"}, addr: "[::1]:9100"},
		{lines: []string{"set service ctsync metrics listen-address 192.0.2.1"}, addr: "192.0.2.1:9797"},
		{lines: []string{"set service ctsync metrics listen-address 198.51.100.7"}, addr: "198.51.100.7:9797", wantErr: "service ctsync metrics listen-address: 198.51.100.7 is not an address of this router"},
		{lines: []string{"set service ctsync metrics listen-address 0.0.0.0"}, addr: "0.0.0.0:9797", wantErr: "would serve on every address"},
	} {
		t.Run(strings.Join(tc.lines, ";"), func(t *testing.T) {
			var lines []string
			for _, l := range tc.lines {
				lines = append(lines, strings.TrimPrefix(l, "set "))
			}
			h := &Handler{}
			cfg, present, err := h.Load(handlertest.Tree(t, lines...))
			if err != nil {
				t.Fatal(err)
			}
			if tc.addr == "" {
				if present {
					t.Fatalf("config %+v, want none", cfg)
				}
				return
			}
			if got := cfg.Addr(); got != tc.addr {
				t.Fatalf("addr %q, want %q", got, tc.addr)
			}
			_, err = h.Verify(context.Background(), cfg, s)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("verify: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("verify: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestApplyMovesListener: start, rebind, a bind that fails leaves the
// listener where it was, stop.
func TestApplyMovesListener(t *testing.T) {
	l := &imetrics.Server{}
	h := &Handler{Listener: l}
	ctx := context.Background()
	free := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	present := func(c Config) State { return handler.Present(c, handler.NoFacts{}) }
	a := present(Config{ListenAddress: "127.0.0.1", Port: free()})
	b := present(Config{ListenAddress: "127.0.0.1", Port: free()})
	if _, err := h.Apply(ctx, State{}, a, nil); err != nil {
		t.Fatal(err)
	}
	if msg, err := h.Apply(ctx, State{}, a, nil); err != nil || msg != "" {
		t.Fatalf("second apply: %q, %v; want a no-op", msg, err)
	}
	if _, err := h.Apply(ctx, a, b, nil); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", a.Config.Addr()); err == nil {
		c.Close()
		t.Fatalf("%s still served after the move", a.Config.Addr())
	}
	// A port someone else holds: the commit fails, b is still served.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := present(Config{ListenAddress: "127.0.0.1", Port: busy.Addr().(*net.TCPAddr).Port})
	if _, err := h.Apply(ctx, b, taken, nil); err == nil || !strings.Contains(err.Error(), "service ctsync metrics") {
		t.Fatalf("apply on a taken port: %v, want an error naming the path", err)
	}
	if l.Addr() != b.Config.Addr() {
		t.Fatalf("listener at %q after a failed bind, want %q", l.Addr(), b.Config.Addr())
	}
	c, err := net.Dial("tcp", b.Config.Addr())
	if err != nil {
		t.Fatalf("%s no longer served after a failed bind: %v", b.Config.Addr(), err)
	}
	c.Close()
	if msg, err := h.Apply(ctx, b, State{}, nil); err != nil || msg != "stopped" {
		t.Fatalf("stop: %q, %v", msg, err)
	}
	if l.Addr() != "" {
		t.Fatalf("listener at %q after delete", l.Addr())
	}
}
