package vrrp

import (
	"fmt"
	"net"
	"testing"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
)

// configOf decodes `set` lines into a Config.
func configOf(t testing.TB, lines ...string) *Config {
	t.Helper()
	c, present, err := New().Load(handlertest.Tree(t, lines...))
	if err != nil || !present {
		t.Fatalf("Load = %v, %v", present, err)
	}
	return &c
}

// stateOf is the state of cfg, absent when it is nil.
func stateOf(cfg *Config) State {
	if cfg == nil {
		return State{}
	}
	return handler.Present(*cfg, handler.NoFacts{})
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
