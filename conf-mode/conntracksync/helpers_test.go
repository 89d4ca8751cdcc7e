package conntracksync

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/kernelinfo"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/supervise"
)

// tagNodes and valueless leaves of the subtrees these tests build; every
// other word followed by another is a leaf and its value.
var (
	tagNodes  = map[string]bool{"interface": true, "sync-group": true, "group": true}
	valueless = map[string]bool{"disable-external-cache": true, "disable-syslog": true, "startup-resync": true}
)

// buildTree builds a tree from VyOS set lines (without "set"), splitting
// on spaces, without the schema's value checks: Verify's own checks are
// the defence against a hand-edited config.boot, so its tests must be able
// to build what `set` would refuse. The schema's defaults are added, as
// the commit engine adds them.
func buildTree(t testing.TB, lines ...string) *configtree.Node {
	t.Helper()
	root := configtree.New()
	for _, l := range lines {
		words := strings.Fields(l)
		value := ""
		hasValue := false
		// The schema knows which word is the value; here it is the last
		// word after a leaf name, or nothing for a valueless leaf or a
		// tag entry.
		var steps []configtree.Step
		leaf := false
		for i := 0; i < len(words); i++ {
			w := words[i]
			switch {
			case tagNodes[w] && i+1 < len(words) && (w != "sync-group" || words[0] == "high-availability"):
				steps = append(steps, configtree.Step{Name: w, Tag: true}, configtree.Step{Name: words[i+1]})
				i++
			case valueless[w]:
				steps = append(steps, configtree.Step{Name: w})
				leaf = true
			case i == len(words)-2 && !isContainer(w):
				steps = append(steps, configtree.Step{Name: w})
				leaf, hasValue, value = true, true, words[i+1]
				i++
			default:
				steps = append(steps, configtree.Step{Name: w})
			}
		}
		setSteps(root, steps, leaf, hasValue, value)
	}
	return schema.Default().WithDefaults(root)
}

func isContainer(w string) bool {
	switch w {
	case "service", "conntrack-sync", "failover-mechanism", "vrrp", "high-availability":
		return true
	}
	return false
}

func setSteps(root *configtree.Node, steps []configtree.Step, leaf, hasValue bool, value string) {
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	root.Set(steps, leaf, schema.Default().IsMulti(names), hasValue, value)
}

// fakeSystem is a handler.System over a fixed set of links.
type fakeSystem struct {
	links map[string]*handler.Interface
	err   error // returned by every query when set
}

func newFakeSystem(links ...string) *fakeSystem {
	s := &fakeSystem{links: map[string]*handler.Interface{
		"lo": {Name: "lo", Up: true, Addrs: []*net.IPNet{cidr("127.0.0.1/8"), cidr("::1/128")}},
	}}
	// Each spec is "name addr/len addr/len ...".
	for _, l := range links {
		f := strings.Fields(l)
		ifc := &handler.Interface{Name: f[0], Up: true}
		for _, a := range f[1:] {
			ifc.Addrs = append(ifc.Addrs, cidr(a))
		}
		s.links[f[0]] = ifc
	}
	return s
}

func cidr(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func (s *fakeSystem) Interface(name string) (*handler.Interface, error) {
	if s.err != nil {
		return nil, s.err
	}
	if l, ok := s.links[name]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("%s: %w", name, handler.ErrNoInterface)
}

func (s *fakeSystem) IsLocalAddress(ip net.IP) (bool, error) {
	if s.err != nil {
		return false, s.err
	}
	for _, l := range s.links {
		for _, a := range l.Addrs {
			if a.IP.Equal(ip) {
				return true, nil
			}
		}
	}
	return false, nil
}

// newFakeEngines records what Apply asked of the supervisor and, like
// supervise.Spawn, what each process was started with.
func newFakeEngines() *handlertest.Engines {
	return &handlertest.Engines{OnStart: func(spec handler.EngineSpec, pid int) error {
		if spec.StartedFile == "" {
			return nil
		}
		sum, _ := supervise.HashFile(spec.ConfigFile)
		b, _ := json.Marshal(supervise.Started{Pid: pid, Argv: spec.Argv, ConfigSHA256: sum})
		if err := os.MkdirAll(filepath.Dir(spec.StartedFile), 0o755); err != nil {
			return err
		}
		return os.WriteFile(spec.StartedFile, b, 0o644)
	}}
}

var testKernel = kernelinfo.Info{HashSize: 65536, ConntrackMax: 262144}

// testHandler is the handler with the live system replaced.
func testHandler() *Handler {
	return &Handler{
		Kernel:       func() (kernelinfo.Info, error) { return testKernel, nil },
		Binary:       "/usr/sbin/conntrackd",
		Probe:        func(context.Context, string) error { return nil },
		ProbeTimeout: 0,
		// The fake engines' pids are not processes: a record naming
		// one counts as running.
		Running:         func(*supervise.Started) bool { return true },
		HoldTransitions: func(context.Context, paths.Root) (func(), error) { return func() {}, nil },
	}
}

// baseLines is a minimal valid unicast config with its sync-group.
var baseLines = []string{
	"service conntrack-sync interface eth1 peer 198.18.10.3",
	"service conntrack-sync failover-mechanism vrrp sync-group MAIN-GW",
	"high-availability vrrp sync-group MAIN-GW member wan",
}

func baseSystem() *fakeSystem {
	return newFakeSystem("eth0 198.18.0.2/24", "eth1 198.18.10.2/24 2001:db8:10::2/64", "eth2 198.18.20.2/24", "eth3")
}

type stepSpec struct {
	name string
	tag  bool
}

func setSpec(root *configtree.Node, spec []stepSpec, multi bool, value string) {
	steps := make([]configtree.Step, len(spec))
	for i, s := range spec {
		steps[i] = configtree.Step{Name: s.name, Tag: s.tag}
	}
	root.Set(steps, true, multi, true, value)
}
