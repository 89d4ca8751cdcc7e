package conntrack

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestParseFilters(t *testing.T) {
	tcp := ctflow.Query{Proto: 6, HasProto: true}
	v4, v6 := tcp, tcp
	v4.Family, v6.Family = ctflow.FamilyIPv4, ctflow.FamilyIPv6
	tests := []struct {
		args    []string
		want    []ctflow.Query
		wantErr bool
	}{
		{args: nil, want: []ctflow.Query{{Family: ctflow.FamilyIPv4}, {Family: ctflow.FamilyIPv6}}},
		{args: []string{"protocol", "tcp"}, want: []ctflow.Query{v4, v6}},
		{args: []string{"ipv4", "protocol", "tcp"}, want: []ctflow.Query{v4}},
		{args: []string{"ipv6", "source", "2001:db8::/32"}, want: []ctflow.Query{{Family: ctflow.FamilyIPv6, Src: netip.MustParsePrefix("2001:db8::/32")}}},
		{args: []string{"source", "198.18.0.1"}, wantErr: true},
		{args: []string{"port", "0"}, wantErr: true},
		{args: []string{"colour"}, wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseFilters(tt.args)
		if tt.wantErr {
			if !errors.Is(err, ErrUsage) {
				t.Errorf("ParseFilters(%q) err = %v, want ErrUsage", tt.args, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFilters(%q): %v", tt.args, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
			t.Errorf("ParseFilters(%q) (-want +got):\n%s", tt.args, diff)
		}
	}
}

// TestResetConfirmation: without a terminal a reset needs --yes; on one,
// anything but y/yes declines. Neither reaches the kernel.
func TestResetConfirmation(t *testing.T) {
	dialed := false
	old := dial
	dial = func() (socket, error) { dialed = true; return nil, errors.New("dialed") }
	defer func() { dial = old }()

	var out, errOut bytes.Buffer
	env := &opcmd.Env{Out: &out, Err: &errOut, In: strings.NewReader("")}
	err := runReset(context.Background(), env, []string{"ipv4", "protocol", "tcp"})
	if err == nil || !strings.Contains(err.Error(), "--yes") || !strings.Contains(err.Error(), "every ipv4 entry with protocol tcp") {
		t.Errorf("without a terminal: %v", err)
	}
	env.Terminal, env.In = true, strings.NewReader("n\n")
	if err := runReset(context.Background(), env, nil); !errors.Is(err, ErrNotConfirmed) {
		t.Errorf("declined: %v", err)
	}
	if got := errOut.String(); got != "Delete every ipv4 and ipv6 entry from the kernel conntrack table? [y/N] " {
		t.Errorf("prompt %q", got)
	}
	if dialed {
		t.Error("an unconfirmed reset opened the kernel socket")
	}
	env.In = strings.NewReader("yes\n")
	if err := runReset(context.Background(), env, nil); err == nil || err.Error() != "dialed" {
		t.Errorf("confirmed: %v, want it to go on to the kernel", err)
	}
}

func TestWriteResetGolden(t *testing.T) {
	for _, tc := range []struct {
		json bool
		file string
	}{{false, "reset.txt"}, {true, "reset.json"}} {
		var b bytes.Buffer
		if err := WriteReset(&b, ctflow.DeleteResult{Removed: 50000, Vanished: 3}, describe([]string{"ipv4", "protocol", "tcp", "port", "80"}), tc.json); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, golden.Dir("op-mode", "conntrack", tc.file), b.Bytes())
	}
}

// eventMsg encodes a ctnetlink event as the kernel sends it.
func eventMsg(typ netlink.HeaderType, flags netlink.HeaderFlags, src, dst string, sport, dport uint16, state uint8, id uint32) netlink.Message {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	tuple := func(typ uint16, s, d string, sp, dp uint16) {
		ae.Nested(typ, func(n *netlink.AttributeEncoder) error {
			n.Nested(1, func(ip *netlink.AttributeEncoder) error {
				ip.Bytes(1, netip.MustParseAddr(s).AsSlice())
				ip.Bytes(2, netip.MustParseAddr(d).AsSlice())
				return nil
			})
			n.Nested(2, func(p *netlink.AttributeEncoder) error {
				p.Uint8(1, 6)
				p.Uint16(2, sp)
				p.Uint16(3, dp)
				return nil
			})
			return nil
		})
	}
	tuple(1, src, dst, sport, dport)
	tuple(2, dst, src, dport, sport)
	ae.Uint32(3, 0xe) // status
	ae.Nested(4, func(n *netlink.AttributeEncoder) error {
		n.Nested(1, func(tcp *netlink.AttributeEncoder) error { tcp.Uint8(1, state); return nil })
		return nil
	})
	ae.Uint32(7, 120) // timeout
	ae.Uint32(12, id)
	b, _ := ae.Encode()
	return netlink.Message{Header: netlink.Header{Type: typ, Flags: flags}, Data: append([]byte{2, 0, 0, 0}, b...)}
}

// fakeEvents replays datagrams, then blocks until its deadline is set.
type fakeEvents struct {
	steps    []func() ([]netlink.Message, error)
	deadline chan struct{}
}

func (f *fakeEvents) Send(netlink.Message) error { return nil }
func (f *fakeEvents) Close() error               { return nil }
func (f *fakeEvents) SetReadDeadline(time.Time) error {
	close(f.deadline)
	return nil
}
func (f *fakeEvents) Receive() ([]netlink.Message, error) {
	if len(f.steps) > 0 {
		s := f.steps[0]
		f.steps = f.steps[1:]
		return s()
	}
	<-f.deadline
	return nil, os.ErrDeadlineExceeded
}

// TestMonitorGolden: new, update, an overrun and destroy, as text and as
// JSON lines; the end of the context ends the monitor without an error.
func TestMonitorGolden(t *testing.T) {
	old := now
	now = func() time.Time { return time.Date(2026, 12, 1, 23, 59, 1, 123456000, time.UTC) }
	defer func() { now = old }()
	const ctNew, ctDelete = 1 << 8, 1<<8 | 2 // IPCTNL_MSG_CT_NEW, _DELETE
	for _, tc := range []struct {
		json bool
		file string
	}{{false, "monitor.txt"}, {true, "monitor.jsonl"}} {
		ctx, cancel := context.WithCancel(context.Background())
		msgs := func(m ...netlink.Message) func() ([]netlink.Message, error) {
			return func() ([]netlink.Message, error) { return m, nil }
		}
		s := &fakeEvents{deadline: make(chan struct{}), steps: []func() ([]netlink.Message, error){
			msgs(eventMsg(ctNew, netlink.Create|netlink.Excl, "198.18.0.2", "198.19.0.3", 40000, 80, 1, 7),
				eventMsg(ctNew, netlink.Create|netlink.Excl, "198.18.0.2", "198.19.0.3", 40001, 22, 1, 8)),
			msgs(eventMsg(ctNew, 0, "198.18.0.2", "198.19.0.3", 40000, 80, 3, 7)),
			func() ([]netlink.Message, error) { return nil, unix.ENOBUFS },
			func() ([]netlink.Message, error) {
				defer cancel()
				return []netlink.Message{eventMsg(ctDelete, 0, "198.18.0.2", "198.19.0.3", 40000, 80, 7, 7)}, nil
			},
		}}
		var b bytes.Buffer
		q, _ := ParseFilters([]string{"ipv4", "port", "80"})
		if err := Monitor(ctx, s, q[0], &b, tc.json); err != nil {
			t.Fatalf("Monitor: %v", err)
		}
		golden.Check(t, golden.Dir("op-mode", "conntrack", tc.file), b.Bytes())
	}
}
