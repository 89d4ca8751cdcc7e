package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func add(t testing.TB, a *Archive, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		cfg := fmt.Sprintf("service {\n    conntrack-sync {\n        sync-queue-size %d\n    }\n}\n", i)
		if _, err := a.Add(Entry{User: "op", Comment: fmt.Sprintf("c%d", i), Diff: "+x\n", Config: cfg, Time: time.Unix(int64(1700000000+i), 0)}); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(list []Entry) []int {
	var out []int
	for _, e := range list {
		out = append(out, e.Seq)
	}
	return out
}

func TestAddListGet(t *testing.T) {
	a := Open(t.TempDir())
	if list, err := a.List(); err != nil || len(list) != 0 {
		t.Fatalf("empty archive: %v %v", list, err)
	}
	if _, err := a.Get(0); !errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Get on empty archive: %v", err)
	}
	add(t, a, 5)
	list, err := a.List()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{5, 4, 3, 2, 1}, seqs(list)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if list[0].Config != "" || list[0].Diff != "" {
		t.Errorf("List carries configs")
	}
	e, err := a.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 4 || e.Comment != "c4" || !strings.Contains(e.Config, "sync-queue-size 4") || e.Diff != "+x\n" {
		t.Errorf("Get(1) = %+v", e)
	}
	tree, err := e.Tree()
	if err != nil || tree.Get("service", "conntrack-sync", "sync-queue-size").Values[0] != "4" {
		t.Errorf("Tree: %v", err)
	}
	_, err = a.Get(999)
	if !errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "0-4") {
		t.Errorf("Get(999) = %v", err)
	}
	if _, err := a.Get(-1); !errors.Is(err, ErrNoRevision) {
		t.Errorf("Get(-1) = %v", err)
	}
}

func TestKeepPrunesOldest(t *testing.T) {
	dir := t.TempDir()
	a := &Archive{Dir: dir, Keep: 3}
	add(t, a, 7)
	list, _ := a.List()
	if diff := cmp.Diff([]int{7, 6, 5}, seqs(list)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(a.entryPath(4)); !os.IsNotExist(err) {
		t.Errorf("pruned entry file still there")
	}
}

func TestIndexDamage(t *testing.T) {
	tests := []struct {
		name   string
		damage func(path string) error
	}{
		{"missing", os.Remove},
		{"torn last line", func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString(`{"seq":9,"ti`)
			return err
		}},
		{"garbage", func(p string) error { return os.WriteFile(p, []byte("\x00garbage\n{}\n"), 0o640) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Open(t.TempDir())
			add(t, a, 3)
			if err := tt.damage(a.indexPath()); err != nil {
				t.Fatal(err)
			}
			list, err := a.List()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]int{3, 2, 1}, seqs(list)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// And the archive goes on numbering after what it holds.
			e, err := a.Add(Entry{User: "op", Config: ""})
			if err != nil || e.Seq != 4 {
				t.Errorf("next Add = %d, %v", e.Seq, err)
			}
		})
	}
}

func TestAnnotate(t *testing.T) {
	a := Open(t.TempDir())
	add(t, a, 2)
	if err := a.Annotate(1, "rolled back"); err != nil {
		t.Fatal(err)
	}
	list, _ := a.List()
	if list[1].Note != "rolled back" {
		t.Errorf("index note %q", list[1].Note)
	}
	e, _ := a.GetSeq(1)
	if e.Note != "rolled back" || e.Config == "" {
		t.Errorf("entry after annotate: %+v", e)
	}
}

func TestFormatList(t *testing.T) {
	a := Open(t.TempDir())
	add(t, a, 2)
	list, _ := a.List()
	list[0].Note = "rolled back by ctsyncd"
	var b bytes.Buffer
	if err := FormatList(&b, list); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Rev", "0    2 ", "1    1 ", "c2", "rolled back by ctsyncd"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkList1000 lists an archive holding 1,000 revisions, what
// `ctsync show system commit` does.
func BenchmarkList1000(b *testing.B) {
	a := &Archive{Dir: b.TempDir(), Keep: 1000}
	add(b, a, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list, err := a.List()
		if err != nil || len(list) != 1000 {
			b.Fatalf("%d %v", len(list), err)
		}
	}
}

// BenchmarkListFormat1000 is List plus the table's formatting.
func BenchmarkListFormat1000(b *testing.B) {
	a := &Archive{Dir: b.TempDir(), Keep: 1000}
	add(b, a, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		list, _ := a.List()
		var buf bytes.Buffer
		_ = FormatList(&buf, list)
	}
}

// FuzzReadIndex feeds the index reader arbitrary bytes: it never panics,
// what it accepts is newest first with positive, strictly falling seqs,
// and an accepted index written back reads the same. Archive.List over
// the same bytes (no entry files: a refused index rebuilds to nothing)
// never fails.
func FuzzReadIndex(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-01-02T03:04:05Z","user":"alice","kind":"commit"}` + "\n" + `{"seq":2,"time":"2026-01-02T03:05:05Z","user":"bob"}` + "\n"))
	f.Add([]byte(`{"seq":1}` + "\n" + `{"seq":2,"us`))
	f.Add([]byte(`{"seq":2}` + "\n" + `{"seq":1}` + "\n"))
	f.Add([]byte(`{"seq":0}`))
	f.Add([]byte("garbage\n{\"seq\":3}\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, ok := readIndex(bytes.NewReader(data))
		if ok {
			for i, e := range list {
				if e.Seq <= 0 || (i > 0 && e.Seq >= list[i-1].Seq) {
					t.Fatalf("accepted seqs not positive and newest first: %v", seqs(list))
				}
			}
			var b bytes.Buffer
			for i := len(list) - 1; i >= 0; i-- {
				line, err := json.Marshal(list[i])
				if err != nil {
					t.Fatal(err)
				}
				b.Write(append(line, '\n'))
			}
			again, ok := readIndex(&b)
			if !ok || !slices.Equal(seqs(again), seqs(list)) {
				t.Fatalf("an accepted index written back reads %v, %v; want %v", seqs(again), ok, seqs(list))
			}
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index.jsonl"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir).List(); err != nil {
			t.Fatalf("List over a damaged index: %v", err)
		}
	})
}
