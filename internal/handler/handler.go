// Package handler is the contract between the commit engine and the
// conf-mode handlers under conf-mode/. Each handler owns one config
// subtree, registers itself in init(), and is run by the commit engine in
// the schema's priority order: GetConfig -> Verify -> Generate -> (files
// installed) -> Apply.
package handler

import (
	"context"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
)

// Handler runs one config subtree.
type Handler interface {
	// Name is the handler's short name ("conntrack-sync"), used in
	// messages and logs.
	Name() string
	// Owns is the subtree the handler is responsible for, as words
	// ("service", "conntrack-sync"). Its priority comes from the schema
	// node at that path.
	Owns() []string
	// Reads lists every subtree the handler's output depends on, Owns
	// included. A change under any of them reruns the handler: this is how
	// keepalived.conf is regenerated when conntrack-sync is added.
	Reads() [][]string
	// GetConfig extracts the handler's typed config from the whole tree
	// (defaults already applied). A nil result means the subtree is absent.
	GetConfig(tree *configtree.Node) (any, error)
	// Verify checks cfg against the tree rules and the live system. Errors
	// are *cfgerr.Error, joined with errors.Join so every problem is shown.
	Verify(ctx context.Context, cfg any, sys System) error
	// Generate renders the files cfg needs. A File with nil Data means the
	// file must not exist (the service was deleted).
	Generate(cfg any, env *Env) ([]File, error)
	// Apply moves the engines to cfg, after its files are installed. prev
	// is the config it replaces (nil if none). Apply must be safe to run
	// twice with the same arguments: a failed commit re-applies the old
	// config through it. It must check that the engine answers.
	Apply(ctx context.Context, prev, cfg any, env *Env) (string, error)
}

// Prechecker is implemented by a handler whose engine can test a
// generated file itself (keepalived -t). The commit engine runs every
// Precheck after the files are installed and before any handler applies,
// so a file an engine would refuse fails the commit before any engine is
// touched: a failed commit never restarts an engine that ran fine.
type Prechecker interface {
	Precheck(ctx context.Context, cfg any, env *Env) error
}

// File is one generated file.
type File struct {
	Path string      // absolute, under the root
	Data []byte      // nil: the file must be removed
	Mode os.FileMode // 0 means 0644
}

// Env is what a handler may touch while generating and applying.
type Env struct {
	Root    paths.Root
	Engines Engines
	Log     *zap.Logger
	// Self is the path of the ctsync binary, for hooks written into
	// engine configs (keepalived notify scripts).
	Self string
}

// Engines starts, stops and reloads the daemons ctsync runs. ctsyncd
// implements it with its supervisor; tests may fake it.
type Engines interface {
	// Ensure starts the engine if it is not running, or restarts it when
	// restart is set. It returns once the process is up; the handler
	// checks that it answers.
	Ensure(ctx context.Context, spec EngineSpec, restart bool) error
	// Reload signals a running engine to re-read its config (SIGHUP).
	Reload(ctx context.Context, name string) error
	// Stop stops the engine and waits for it to exit.
	Stop(ctx context.Context, name string) error
	// Pid is the engine's pid, 0 when it is not running.
	Pid(name string) int
	// Adopt is the pid of the engine spec describes when it runs, 0 when
	// not. Unlike Pid it also finds, and from then on supervises, an
	// engine a previous ctsyncd or the VRRP hook left running: a handler
	// deciding between start, reload and restart must see that one too.
	Adopt(spec EngineSpec) int
}

// EngineSpec says how to run one engine in the foreground.
type EngineSpec struct {
	Name     string   // "conntrackd", "keepalived"
	Argv     []string // absolute binary path first; foreground mode
	PidFile  string   // written by the supervisor
	LockFile string   // removed before start when no live process holds it
	LogFile  string   // stdout and stderr
	// Env is added to the engine's environment (KEY=VALUE), e.g. the
	// TMPDIR that keeps keepalived's state dumps apart per router.
	Env []string
	// ConfigFile is the generated file the engine reads at start; its
	// hash is recorded in StartedFile, so that whether the engine runs
	// the current file is a fact, not a guess from config structs.
	ConfigFile  string
	StartedFile string // written by the supervisor: see supervise.Started
}

// System answers questions about the live system for Verify.
type System interface {
	// Interface returns the interface named name, or an error wrapping
	// ErrNoInterface.
	Interface(name string) (*Interface, error)
	// IsLocalAddress reports whether ip is assigned to a local interface.
	IsLocalAddress(ip net.IP) (bool, error)
}

// Interface is what Verify needs to know about a link.
type Interface struct {
	Name  string
	Up    bool
	Addrs []*net.IPNet
}

// HasIPv4 reports whether the interface carries an IPv4 address.
func (i *Interface) HasIPv4() bool {
	for _, a := range i.Addrs {
		if a.IP.To4() != nil {
			return true
		}
	}
	return false
}

// ErrNoInterface is wrapped by System.Interface when the link is absent.
var ErrNoInterface = fmt.Errorf("interface does not exist")

var (
	mu       sync.Mutex
	handlers = map[string]Handler{}
)

// Register adds h; it panics on a duplicate name, as a programming error.
func Register(h Handler) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := handlers[h.Name()]; dup {
		panic("handler: duplicate registration of " + h.Name())
	}
	handlers[h.Name()] = h
}

// All returns the registered handlers ordered by name; the commit engine
// reorders them by schema priority.
func All() []Handler {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Handler, 0, len(handlers))
	for _, h := range handlers {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}
