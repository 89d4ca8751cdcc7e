package guard

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/ctsync/ctsync/internal/golden"
	"github.com/ctsync/ctsync/internal/paths"
)

func addrs(s ...string) []netip.Addr {
	as := make([]netip.Addr, len(s))
	for i, a := range s {
		as[i] = netip.MustParseAddr(a)
	}
	return as
}

var rulesets = []struct {
	name string
	rs   Ruleset
}{
	{"two-ipv4", Ruleset{VIPs: addrs("198.19.0.101", "198.18.1.1")}},
	// Order and duplicates do not matter; a v4-mapped address is IPv4.
	{"mixed-unsorted", Ruleset{VIPs: addrs("2001:db8::1", "198.18.1.1", "::ffff:198.19.0.101", "198.18.1.1")}},
	{"no-vips", Ruleset{}},
	{"bounded", Ruleset{VIPs: addrs("198.18.1.1"), Bound: 28*time.Second + 750*time.Millisecond}},
}

// TestText: the ruleset in nft syntax, golden. The integration test
// checks that nft lists exactly this for what Raise programs.
func TestText(t *testing.T) {
	for _, tt := range rulesets {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rs.Text()
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, golden.Dir("guard", tt.name+".nft"), []byte(got))
		})
	}
}

func TestInvalid(t *testing.T) {
	for _, rs := range []Ruleset{
		{VIPs: []netip.Addr{{}}},
		{VIPs: addrs("fe80::1%eth0")},
		{Bound: -time.Second},
	} {
		if _, err := rs.Text(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Text(%+v) = %v, want ErrInvalid", rs, err)
		}
		k, _ := recorder(nil)
		if err := k.Raise(rs); !errors.Is(err, ErrInvalid) {
			t.Errorf("Raise(%+v) = %v, want ErrInvalid", rs, err)
		}
	}
}

// recorder is a Kernel whose netlink socket writes what it is sent to
// the returned log, one line per message, and answers each request with
// an ack, or with errno for the requests reply picks.
func recorder(fail func(m netlink.Message) error) (Kernel, *[]string) {
	var log []string
	return Kernel{Dial: func(req []netlink.Message) ([]netlink.Message, error) {
		var out []netlink.Message
		for _, m := range req {
			log = append(log, describe(m))
			if fail != nil {
				if err := fail(m); err != nil {
					return nil, err
				}
			}
			out = append(out, netlink.Message{Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence, PID: m.Header.PID}, Data: make([]byte, 4)})
		}
		return out, nil
	}}, &log
}

var msgNames = map[int]string{
	unix.NFT_MSG_NEWTABLE: "NEWTABLE", unix.NFT_MSG_DELTABLE: "DELTABLE", unix.NFT_MSG_GETTABLE: "GETTABLE",
	unix.NFT_MSG_NEWCHAIN: "NEWCHAIN", unix.NFT_MSG_NEWRULE: "NEWRULE",
	unix.NFT_MSG_NEWSET: "NEWSET", unix.NFT_MSG_NEWSETELEM: "NEWSETELEM",
}

// describe is one message as a line: its type, flags and payload in hex.
// The payload holds the table's and chains' names, every expression and
// every element, so any change to what is programmed shows in the diff.
func describe(m netlink.Message) string {
	t := int(m.Header.Type)
	name := fmt.Sprintf("type %#x", t)
	switch {
	case t == unix.NFNL_MSG_BATCH_BEGIN:
		name = "BATCH_BEGIN"
	case t == unix.NFNL_MSG_BATCH_END:
		name = "BATCH_END"
	case t>>8 == unix.NFNL_SUBSYS_NFTABLES:
		if n, ok := msgNames[t&0xff]; ok {
			name = n
		}
	}
	return fmt.Sprintf("%-11s flags %#05x %x", name, uint16(m.Header.Flags), m.Data)
}

// TestRaiseMessages: the exact netlink batch Raise and Lift send, golden.
// Every change is one transaction (BATCH_BEGIN ... BATCH_END), the table
// is created before it is deleted so that the delete cannot fail, and
// nothing but the guard's own table is named.
func TestRaiseMessages(t *testing.T) {
	for _, tt := range rulesets {
		t.Run(tt.name, func(t *testing.T) {
			k, log := recorder(nil)
			if err := k.Raise(tt.rs); err != nil {
				t.Fatal(err)
			}
			checkBatch(t, *log)
			golden.Check(t, golden.Dir("guard", tt.name+".netlink"), []byte(strings.Join(*log, "\n")+"\n"))
		})
	}
	t.Run("lift", func(t *testing.T) {
		k, log := recorder(nil)
		if err := k.Lift(); err != nil {
			t.Fatal(err)
		}
		checkBatch(t, *log)
		golden.Check(t, golden.Dir("guard", "lift.netlink"), []byte(strings.Join(*log, "\n")+"\n"))
	})
}

func checkBatch(t *testing.T, log []string) {
	t.Helper()
	if len(log) < 3 || !strings.HasPrefix(log[0], "BATCH_BEGIN") || !strings.HasPrefix(log[len(log)-1], "BATCH_END") {
		t.Fatalf("not one batch:\n%s", strings.Join(log, "\n"))
	}
	want := fmt.Sprintf("%x", Table+"\x00")
	for _, l := range log[1 : len(log)-1] {
		if !strings.Contains(l, want) {
			t.Errorf("message names no guard table: %s", l)
		}
	}
}

// TestRaiseError: a refused batch is an error naming the table.
func TestRaiseError(t *testing.T) {
	k, _ := recorder(func(m netlink.Message) error {
		if m.Header.Type == netlink.HeaderType(unix.NFNL_MSG_BATCH_END) {
			return unix.EPERM
		}
		return nil
	})
	err := k.Raise(Ruleset{VIPs: addrs("198.18.1.1")})
	if err == nil || !strings.Contains(err.Error(), "inet "+Table) {
		t.Fatalf("Raise = %v, want an error naming inet %s", err, Table)
	}
}

func TestNftDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 500 * time.Millisecond: "500ms", 2 * time.Second: "2s",
		90 * time.Second: "1m30s", 28*time.Second + 750*time.Millisecond: "28s750ms",
	} {
		if got := nftDuration(d); got != want {
			t.Errorf("nftDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// fakeGuard answers Inspect with p.
type fakeGuard struct{ p Present }

func (fakeGuard) Raise(Ruleset) error         { return nil }
func (fakeGuard) Lift() error                 { return nil }
func (f fakeGuard) Inspect() (Present, error) { return f.p, nil }

func TestReportLine(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	at := time.Date(2026, 12, 1, 23, 59, 1, 250e6, time.Local)
	tests := []struct {
		name  string
		p     Present
		state *State
		want  string
	}{
		{"never", Present{}, nil, "down"},
		{"backup", Present{Table: true, Armed: true}, &State{Up: true, By: "backup hook", At: at},
			"UP: non-SYN TCP packets unknown to conntrack are dropped (raised by the backup hook at 23:59:01.250)"},
		{"master running", Present{Table: true, Armed: true, Expires: 2500 * time.Millisecond}, &State{Up: true, By: "master hook", At: at},
			"UP: non-SYN TCP packets unknown to conntrack are dropped, lifts itself in 2.5 s (raised by the master hook at 23:59:01.250)"},
		{"lifted", Present{}, &State{By: "master hook", At: at}, "down (lifted by the master hook at 23:59:01.250)"},
		{"expired", Present{Table: true}, &State{Up: true, By: "master hook", At: at}, "down (expired) (raised by the master hook at 23:59:01.250)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := RemoveState(root); err != nil {
				t.Fatal(err)
			}
			if tt.state != nil {
				if err := WriteState(root, *tt.state); err != nil {
					t.Fatal(err)
				}
			}
			r := Inspect(root, fakeGuard{tt.p})
			if got := r.Line(); got != tt.want {
				t.Errorf("Line() = %q\nwant     %q", got, tt.want)
			}
			if r.Up != tt.p.Up() {
				t.Errorf("Up = %v, want %v", r.Up, tt.p.Up())
			}
		})
	}
}

// TestWriteStateUnderHookUmask writes the state as the hook does, under
// keepalived's umask (077), into a root whose run directory does not
// exist yet: op-mode (status, run by the ctsync group) must still reach it.
func TestWriteStateUnderHookUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := paths.Root{Dir: t.TempDir()}
	if err := WriteState(root, State{Up: true, By: "backup hook", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root.RunDir(), filepath.Dir(root.RunDir())} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v (%v), want 0755", d, fi.Mode().Perm(), err)
		}
	}
}
