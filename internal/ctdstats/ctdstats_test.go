package ctdstats

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/golden"
)

// The inputs, in testdata/conntrackd-replies, are real replies of
// conntrackd 1.4.7 (UDP unicast FTFW, two namespaces, 41 flows): -s on the
// node owning the flows and on its peer, -s link, the expectation form and
// -s network (which has no known section but its link block).
func TestParseGolden(t *testing.T) {
	for _, name := range []string{"stats-internal", "stats-external", "stats-link", "stats-expect", "stats-network"} {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(golden.Dir("conntrackd-replies", name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			st, err := Parse(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			j, _ := json.MarshalIndent(st, "", "  ")
			golden.Check(t, golden.Dir("conntrackd-replies", name+".json"), append(j, '\n'))
			var out bytes.Buffer
			if err := Write(&out, st); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, golden.Dir("conntrackd-replies", name+".out"), out.Bytes())
			// What Write prints, Parse reads back to the same thing.
			again, err := Parse(&out)
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			if diff := cmp.Diff(st, again); diff != "" {
				t.Errorf("reparse (-first +second):\n%s", diff)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	in, _ := os.ReadFile(golden.Dir("conntrackd-replies", "stats-external.txt"))
	st, err := Parse(bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if st.Cache["external"].Current != 41 || st.Cache["internal"].Current != 0 {
		t.Errorf("caches = %+v %+v", st.Cache["internal"], st.Cache["external"])
	}
	want := &Link{Protocol: "udp", Device: "h4vb", BytesSent: 80, BytesRecv: 3356, PacketsSent: 5, PacketsRecv: 45}
	if diff := cmp.Diff(want, st.Link); diff != "" {
		t.Errorf("link (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"hello\n",
		"cache internal:\ncurrent active connections: x\n",
		"cache internal:\ncurrent active connections: 1\n",
		"message tracking:\n 1 Malformed msgs\n",
		"traffic processed:\n",
		"UDP traffic (active device=eth1):\n 1 Bytes sent 2 Bytes recv\n",
	} {
		if _, err := Parse(strings.NewReader(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"stats-internal", "stats-link", "stats-expect"} {
		b, _ := os.ReadFile(golden.Dir("conntrackd-replies", n+".txt"))
		f.Add(string(b))
	}
	f.Add("message tracking:\n 1 Malformed msgs 2 Lost msgs\n")
	f.Fuzz(func(t *testing.T, in string) {
		st, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, st); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(&out); err != nil {
			t.Fatalf("Write output does not parse: %v\n%s", err, out.String())
		}
	})
}
