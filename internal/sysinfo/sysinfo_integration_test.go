//go:build integration

package sysinfo

import (
	"errors"
	"net"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/nstest"
)

func TestSystemInNamespace(t *testing.T) {
	nstest.Require(t)
	a := nstest.New(t, "sysa")
	b := nstest.New(t, "sysb")
	nstest.Link(t, a, "eth1", b, "eth1")
	a.Addr("eth1", "198.18.10.2/24")
	a.Addr("eth1", "2001:db8::2/64")
	// dummy interfaces need a module this kernel may lack; a veth left
	// down and bare serves.
	a.Run("ip", "link", "add", "spare0", "type", "veth", "peer", "name", "spare1")

	h, err := netns.GetFromName(a.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sys, err := NewAt(h)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()

	ifc, err := sys.Interface("eth1")
	if err != nil {
		t.Fatalf("Interface(eth1): %v", err)
	}
	if !ifc.Up || !ifc.HasIPv4() {
		t.Errorf("eth1 = %+v, want up with IPv4", ifc)
	}
	var got []string
	for _, a := range ifc.Addrs {
		got = append(got, a.String())
	}
	want := map[string]bool{"198.18.10.2/24": false, "2001:db8::2/64": false}
	for _, g := range got {
		if _, ok := want[g]; ok {
			want[g] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("eth1 addresses %v lack %s", got, k)
		}
	}

	d, err := sys.Interface("spare0")
	if err != nil {
		t.Fatal(err)
	}
	if d.Up || d.HasIPv4() {
		t.Errorf("spare0 = %+v, want down without IPv4", d)
	}

	if _, err := sys.Interface("eth9"); !errors.Is(err, handler.ErrNoInterface) {
		t.Errorf("Interface(eth9) error = %v, want ErrNoInterface", err)
	}

	for _, tt := range []struct {
		ip   string
		want bool
	}{
		{"198.18.10.2", true},
		{"2001:db8::2", true},
		{"127.0.0.1", true},
		{"198.18.10.3", false},
		{"2001:db8::3", false},
	} {
		got, err := sys.IsLocalAddress(net.ParseIP(tt.ip))
		if err != nil || got != tt.want {
			t.Errorf("IsLocalAddress(%s) = %v, %v; want %v", tt.ip, got, err, tt.want)
		}
	}
}
