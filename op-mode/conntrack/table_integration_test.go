//go:build integration

package conntrack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/nstest"
	"github.com/ctsync/ctsync/internal/opcmd"
)

// countingConn is a netlink socket that counts the flows the kernel sent.
type countingConn struct {
	*ctflow.CountingSocket
	io.Closer
}

// TestShowTableFilters runs "show conntrack table ipv4 zone Z" and
// "... source ADDR" in a namespace holding flows in zones 0 and 7 from
// two sources, checks that each lists what conntrack -L lists for the
// same filter, and that the kernel sent only those flows.
func TestShowTableFilters(t *testing.T) {
	nstest.Require(t, "conntrack")
	ns := nstest.New(t, "showfilt")
	srcs := []string{"198.18.1.1", "198.18.1.2"}
	total := 0
	for z, zone := range []string{"0", "7"} {
		for s, src := range srcs {
			for i := 0; i <= z+s; i++ { // 1, 2, 2, 3 flows: every count differs
				ns.Run("conntrack", "-I", "-p", "tcp", "-s", src, "-d", "198.19.1.1",
					"--sport", fmt.Sprint(2000+10*z+i), "--dport", "80", "-w", zone,
					"--state", "ESTABLISHED", "-t", "600")
				total++
			}
		}
	}

	orig := dial
	t.Cleanup(func() { dial = orig })
	var last *ctflow.CountingSocket
	dial = func() (socket, error) {
		c, err := ctflow.Dial()
		if err != nil {
			return nil, err
		}
		last = &ctflow.CountingSocket{Socket: c}
		return countingConn{last, c}, nil
	}

	for _, tc := range []struct {
		args     []string // after "show conntrack table ipv4"
		ctFilter []string // the same filter for conntrack -L
	}{
		{[]string{"zone", "7"}, []string{"-w", "7"}},
		{[]string{"zone", "0"}, []string{"-w", "0"}},
		{[]string{"source", srcs[0]}, []string{"-s", srcs[0]}},
		{[]string{"source", srcs[1]}, []string{"-s", srcs[1]}},
		{[]string{"source", srcs[1], "zone", "7"}, []string{"-s", srcs[1], "-w", "7"}},
		{[]string{"destination", "198.19.1.1", "zone", "7", "protocol", "tcp"}, []string{"-d", "198.19.1.1", "-w", "7", "-p", "tcp"}},
	} {
		name := strings.Join(tc.args, " ")
		t.Run(name, func(t *testing.T) {
			out, err := ns.Cmd("conntrack", append([]string{"-L", "-f", "ipv4"}, tc.ctFilter...)...).Output()
			if err != nil {
				t.Fatalf("conntrack -L %s: %v", strings.Join(tc.ctFilter, " "), err)
			}
			want := lines(string(out))

			words := append([]string{"show", "conntrack", "table", "ipv4"}, tc.args...)
			cmd, rest, err := opcmd.Lookup(words)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := ns.Do(func() error {
				return cmd.Run(context.Background(), &opcmd.Env{Out: &got, Err: io.Discard}, rest)
			}); err != nil {
				t.Fatalf("%s: %v", strings.Join(words, " "), err)
			}
			listed := lines(got.String()) - 1 // the header
			if want == 0 || want == total {
				t.Fatalf("conntrack -L %s lists %d of %d flows: the filter selects nothing to compare", strings.Join(tc.ctFilter, " "), want, total)
			}
			if listed != want {
				t.Errorf("%s lists %d flows, conntrack -L %s %d:\n%s", strings.Join(words, " "), listed, strings.Join(tc.ctFilter, " "), want, got.String())
			}
			if last.Flows != listed {
				t.Errorf("the kernel sent %d flows of %d for %d listed: it did not filter", last.Flows, total, listed)
			}
		})
	}
}

func lines(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}
