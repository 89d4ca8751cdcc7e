package ctdxml

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ctsync/ctsync/internal/ctflow"
	"github.com/ctsync/ctsync/internal/golden"
)

// The inputs, in testdata/conntrackd-replies, are real dumps of conntrackd
// 1.4.7 (-i -x on the node that owns the flows, -e -x on its peer),
// captured in two namespaces.
func TestScanGolden(t *testing.T) {
	for _, name := range []string{"internal", "external"} {
		for _, asJSON := range []bool{false, true} {
			in, err := os.Open(golden.Dir("conntrackd-replies", name+".xml"))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			tw := ctflow.NewTableWriter(&out, ctflow.FamilyIPv4, asJSON)
			tw.Header()
			if err := Scan(in, tw.Write); err != nil {
				t.Fatal(err)
			}
			in.Close()
			tw.Close()
			if tw.Count() != 41 {
				t.Errorf("%s: %d flows, want 41", name, tw.Count())
			}
			ext := ".txt"
			if asJSON {
				ext = ".json"
				if !json.Valid(out.Bytes()) {
					t.Fatalf("invalid JSON")
				}
			}
			golden.Check(t, golden.Dir("conntrackd-replies", name+ext), out.Bytes())
		}
	}
}

func TestParseLineErrors(t *testing.T) {
	for _, line := range []string{
		"",
		"<flow>",
		"<flow><meta direction=\"original\"><layer3 protonum=\"2\"><src>1.2.3</src></layer3></meta></flow>",
		"<flow><meta direction=\"original\"><layer4 protonum=\"6\"><sport>x</sport></layer4></meta></flow>",
		"<flow><meta direction=\"original\"></flow>",
		"<flow>text</flow>",
		"<flow><mark>1</flow>",
	} {
		var f ctflow.Flow
		if err := ParseLine([]byte(line), &f); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseLine(%q) = %v, want ErrMalformed", line, err)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	data, _ := os.ReadFile(golden.Dir("conntrackd-replies", "internal.xml"))
	for _, l := range strings.SplitN(string(data), "\n", 4)[:3] {
		f.Add(l)
	}
	data, _ = os.ReadFile(golden.Dir("conntrackd-replies", "external.xml"))
	f.Add(strings.SplitN(string(data), "\n", 2)[0])
	f.Add("<flow><meta direction=\"independent\"><assured/><unreplied/></meta></flow>")
	f.Fuzz(func(t *testing.T, line string) {
		var fl ctflow.Flow
		if ParseLine([]byte(line), &fl) != nil {
			return
		}
		var out bytes.Buffer
		tw := ctflow.NewTableWriter(&out, fl.Family, true)
		tw.Header()
		tw.Write(&fl)
		tw.Close()
		if !json.Valid(out.Bytes()) {
			t.Fatalf("invalid JSON from %q", line)
		}
	})
}

func BenchmarkScan(b *testing.B) {
	data, _ := os.ReadFile(golden.Dir("conntrackd-replies", "internal.xml"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := Scan(bytes.NewReader(data), func(*ctflow.Flow) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
