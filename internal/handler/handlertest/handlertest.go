// Package handlertest has stand-ins for the tests of the commit engine,
// of the sessions built on it and of the handlers themselves: a fake
// conf-mode handler (it renders the text of every subtree it reads into
// one file, records its calls, and can be told to fail Verify, Precheck
// or Apply) and fake engines that record what a handler asked of the
// supervisor.
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

// Fake is a handler.Handler whose config is the text of every subtree
// it reads.
type Fake struct {
	HName  string
	HOwns  []string
	HReads [][]string
	File   string
	// VerifyFunc, PrecheckFunc and ApplyFunc, when set, decide Verify,
	// Precheck and Apply (for a config that is present).
	VerifyFunc   func(cfg string) error
	PrecheckFunc func(cfg string) error
	ApplyFunc    func(cfg string) error
	// Log, when set, collects "NAME verify" and "NAME apply start|stop".
	Log *CallLog
}

// State is a Fake's state.
type State = handler.State[string, handler.NoFacts]

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

// Load is the text of everything the handler reads.
func (h *Fake) Load(t *configtree.Node) (string, bool, error) {
	if t.Get(h.HOwns...) == nil {
		return "", false, nil
	}
	var b strings.Builder
	for _, r := range h.HReads {
		if m := t.Get(r...); m != nil {
			b.WriteString(strings.Join(r, " ") + " {\n" + (&configtree.Node{Children: m.Children}).String() + "}\n")
		}
	}
	return b.String(), true, nil
}

func (h *Fake) Verify(_ context.Context, cfg string, _ handler.System) (handler.NoFacts, error) {
	h.Log.add(h.HName + " verify")
	if h.VerifyFunc != nil {
		return handler.NoFacts{}, h.VerifyFunc(cfg)
	}
	return handler.NoFacts{}, nil
}

// Precheck stands for an engine testing its generated file.
func (h *Fake) Precheck(_ context.Context, s State, _ map[string]string, _ *handler.Env) error {
	h.Log.add(h.HName + " precheck")
	if h.PrecheckFunc != nil {
		return h.PrecheckFunc(s.Config)
	}
	return nil
}

func (h *Fake) Generate(s State, _ *handler.Env) ([]handler.File, error) {
	if !s.Present {
		return []handler.File{{Path: h.File}}, nil
	}
	return []handler.File{{Path: h.File, Data: []byte(s.Config)}}, nil
}

func (h *Fake) Apply(_ context.Context, _, next State, _ *handler.Env) (string, error) {
	state := "stop"
	if next.Present {
		state = "start"
	}
	h.Log.add(h.HName + " apply " + state)
	if h.ApplyFunc != nil && next.Present {
		if err := h.ApplyFunc(next.Config); err != nil {
			return "", err
		}
	}
	return state, nil
}

// Runners adapts fakes for commit.Options.Handlers.
func Runners(fakes ...*Fake) []handler.Runner {
	out := make([]handler.Runner, len(fakes))
	for i, f := range fakes {
		out[i] = handler.Adapt(f)
	}
	return out
}

// Tree builds a config tree from `set` lines (without "set") the way a
// session and a commit do: every line resolved and checked by the schema,
// then the schema's defaults added, as the commit engine hands the tree to
// Load.
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
