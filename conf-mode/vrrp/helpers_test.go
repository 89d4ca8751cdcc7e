package vrrp

import (
	"context"
	"fmt"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"net"
	"sync"
	"testing"

	"github.com/ctsync/ctsync/internal/handler"
)

// configOf decodes `set` lines into a Config.
func configOf(t testing.TB, lines ...string) *Config {
	t.Helper()
	c, err := New().GetConfig(handlertest.Tree(t, lines...))
	if err != nil {
		t.Fatalf("GetConfig: %v", err)
	}
	cfg, _ := c.(*Config)
	if cfg == nil {
		t.Fatalf("GetConfig returned %v", c)
	}
	return cfg
}

// fakeSystem knows a fixed set of interfaces.
type fakeSystem map[string]bool

func (f fakeSystem) Interface(name string) (*handler.Interface, error) {
	if !f[name] {
		return nil, fmt.Errorf("%s: %w", name, handler.ErrNoInterface)
	}
	return &handler.Interface{Name: name, Up: true}, nil
}

func (f fakeSystem) IsLocalAddress(ip net.IP) (bool, error) { return false, nil }

// fakeEngines records what Apply asked for.
type fakeEngines struct {
	mu      sync.Mutex
	pid     int
	calls   []string
	onHUP   func()
	failHUP error
}

func (f *fakeEngines) Ensure(ctx context.Context, spec handler.EngineSpec, restart bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("ensure %s restart=%v", spec.Name, restart))
	if f.pid == 0 {
		f.pid = 4242
	}
	return nil
}

func (f *fakeEngines) Reload(ctx context.Context, name string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "reload "+name)
	hup, err := f.onHUP, f.failHUP
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if hup != nil {
		hup()
	}
	return nil
}

func (f *fakeEngines) Stop(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+name)
	f.pid = 0
	return nil
}

// Adopt finds only what this stand-in started itself: it never runs
// beside an earlier ctsyncd.
func (f *fakeEngines) Adopt(spec handler.EngineSpec) int { return f.Pid(spec.Name) }

func (f *fakeEngines) Pid(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pid
}

func (f *fakeEngines) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}
