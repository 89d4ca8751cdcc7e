// Package handlertest has a fake conf-mode handler for tests of the
// commit engine and of the sessions built on it: it renders the text of
// every subtree it reads into one file, records its calls, and can be
// told to fail Verify or Apply.
package handlertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
)

// Fake is a handler.Handler.
type Fake struct {
	HName  string
	HOwns  []string
	HReads [][]string
	File   string
	// VerifyFunc and ApplyFunc, when set, decide Verify and Apply (for a
	// config that is present).
	VerifyFunc   func(cfg string) error
	PrecheckFunc func(cfg any) error
	ApplyFunc    func(cfg any) error
	// Log, when set, collects "NAME verify" and "NAME apply start|stop".
	Log *CallLog
}

// CallLog is the calls of one or more Fakes, in order.
type CallLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *CallLog) add(s string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

// Take returns the calls so far and forgets them.
func (l *CallLog) Take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// Pair returns fakes for the two real subtrees, each reading the other
// as the real handlers do, writing the files the real ones write.
func Pair(root paths.Root, log *CallLog) (conntrackSync, vrrp *Fake) {
	conntrackSync = &Fake{HName: "conntrack-sync", HOwns: []string{"service", "conntrack-sync"},
		HReads: [][]string{{"service", "conntrack-sync"}, {"high-availability", "vrrp"}},
		File:   root.ConntrackdConf(), Log: log}
	vrrp = &Fake{HName: "vrrp", HOwns: []string{"high-availability", "vrrp"},
		HReads: [][]string{{"high-availability", "vrrp"}, {"service", "conntrack-sync"}},
		File:   root.KeepalivedConf(), Log: log}
	return conntrackSync, vrrp
}

func (h *Fake) Name() string      { return h.HName }
func (h *Fake) Owns() []string    { return h.HOwns }
func (h *Fake) Reads() [][]string { return h.HReads }

// GetConfig is the text of everything the handler reads.
func (h *Fake) GetConfig(t *configtree.Node) (any, error) {
	if t.Get(h.HOwns...) == nil {
		return nil, nil
	}
	var b strings.Builder
	for _, r := range h.HReads {
		if m := t.Get(r...); m != nil {
			b.WriteString(strings.Join(r, " ") + " {\n" + (&configtree.Node{Children: m.Children}).String() + "}\n")
		}
	}
	return b.String(), nil
}

func (h *Fake) Verify(_ context.Context, cfg any, _ handler.System) error {
	h.Log.add(h.HName + " verify")
	if h.VerifyFunc != nil {
		return h.VerifyFunc(cfg.(string))
	}
	return nil
}

// Precheck stands for an engine testing its generated file.
func (h *Fake) Precheck(_ context.Context, cfg any, _ map[string]string, _ *handler.Env) error {
	h.Log.add(h.HName + " precheck")
	if h.PrecheckFunc != nil {
		return h.PrecheckFunc(cfg)
	}
	return nil
}

func (h *Fake) Generate(cfg any, _ *handler.Env) ([]handler.File, error) {
	if cfg == nil {
		return []handler.File{{Path: h.File}}, nil
	}
	return []handler.File{{Path: h.File, Data: []byte(cfg.(string))}}, nil
}

func (h *Fake) Apply(_ context.Context, _, cfg any, _ *handler.Env) (string, error) {
	state := "stop"
	if cfg != nil {
		state = "start"
	}
	h.Log.add(h.HName + " apply " + state)
	if h.ApplyFunc != nil && cfg != nil {
		if err := h.ApplyFunc(cfg); err != nil {
			return "", err
		}
	}
	return state, nil
}

// Tree builds a config tree from `set` lines (without "set") the way a
// session and a commit do: every line resolved and checked by the schema,
// then the schema's defaults added, as the commit engine hands the tree to
// GetConfig.
func Tree(t testing.TB, lines ...string) *configtree.Node {
	t.Helper()
	s := schema.Default()
	tree := configtree.New()
	for _, l := range lines {
		if err := s.Set(tree, strings.Fields(l)); err != nil {
			t.Fatalf("set %s: %v", l, err)
		}
	}
	return s.WithDefaults(tree)
}

var sleepers atomic.Int64

// SleepArgv is the command line of a stand-in engine: sleep for about
// five minutes, with a duration no other stand-in on the machine uses.
// supervise.Spawn stops every process that runs the exact command line it
// is about to start (an orphan of a crashed starter), so two stand-ins
// with one command line, in this test binary or in another package's run
// alongside it, would stop each other.
func SleepArgv(t testing.TB) []string {
	t.Helper()
	bin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	return []string{bin, fmt.Sprintf("300.%07d%05d", os.Getpid()%10000000, sleepers.Add(1)%100000)}
}
