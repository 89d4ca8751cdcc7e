package pair

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	ipair "github.com/ctsync/ctsync/internal/pair"
)

type fakeSys struct{}

func (fakeSys) Interface(name string) (*handler.Interface, error) {
	switch name {
	case "sync0":
		_, n, _ := net.ParseCIDR("198.18.255.1/30")
		n.IP = net.ParseIP("198.18.255.1")
		return &handler.Interface{Name: name, Up: true, Addrs: []*net.IPNet{n}}, nil
	case "bare0":
		return &handler.Interface{Name: name, Up: true}, nil
	}
	return nil, handler.ErrNoInterface
}

func (fakeSys) IsLocalAddress(ip net.IP) (bool, error) {
	return ip.Equal(net.ParseIP("198.18.255.1")), nil
}

type fakeChannel struct{ got []*ipair.Config }

func (f *fakeChannel) Configure(c *ipair.Config) error { f.got = append(f.got, c); return nil }

var pin = "sha256:" + strings.Repeat("ab", 32)

func TestVerify(t *testing.T) {
	base := []string{"high-availability pair peer-address 198.18.255.2", "high-availability pair peer-identity " + pin}
	tests := []struct {
		name  string
		lines []string
		want  string // "" = valid
	}{
		{"local address given", append(base, "high-availability pair local-address 198.18.255.1"), ""},
		{"local address not assigned", append(base, "high-availability pair local-address 198.18.255.9"), "high-availability pair local-address: 198.18.255.9 is not assigned"},
		{"default from conntrack-sync", append(base, "service conntrack-sync interface sync0 peer 198.18.255.2"), ""},
		{"no default", base, "high-availability pair local-address: not set, and no service conntrack-sync interface"},
		{"sync interface without IPv4", append(base, "service conntrack-sync interface bare0"), "bare0 has no IPv4 address"},
		{"peer is self", []string{"high-availability pair peer-address 198.18.255.1", "high-availability pair peer-identity " + pin, "high-availability pair local-address 198.18.255.1"}, "high-availability pair peer-address: is this router's own"},
	}
	h := &Handler{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := h.Load(handlertest.Tree(t, tc.lines...))
			if err != nil {
				t.Fatal(err)
			}
			_, err = h.Verify(context.Background(), cfg, fakeSys{})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestApplyConfiguresTheChannel(t *testing.T) {
	ch := &fakeChannel{}
	h := &Handler{channel: ch, ifaceAddr: func(string) (string, error) { return "198.18.255.1", nil }}
	cfg, _, err := h.Load(handlertest.Tree(t, "high-availability pair peer-address 198.18.255.2", "high-availability pair peer-identity "+pin,
		"service conntrack-sync interface sync0 peer 198.18.255.2"))
	if err != nil {
		t.Fatal(err)
	}
	st := handler.Present(cfg, handler.NoFacts{})
	if _, err := h.Apply(context.Background(), State{}, st, &handler.Env{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Apply(context.Background(), st, State{}, &handler.Env{}); err != nil {
		t.Fatal(err)
	}
	want := ipair.Config{PeerAddress: "198.18.255.2", PeerIdentity: pin, LocalAddress: "198.18.255.1", Port: ipair.DefaultPort}
	if len(ch.got) != 2 || ch.got[0] == nil || *ch.got[0] != want || ch.got[1] != nil {
		t.Errorf("channel configured with %+v, want [%+v <nil>]", ch.got, want)
	}
}
