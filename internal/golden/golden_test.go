package golden

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	if _, err := os.Stat(filepath.Join(Dir(), "..", "go.mod")); err != nil {
		t.Errorf("Dir() = %s, not beside go.mod: %v", Dir(), err)
	}
	if got, want := Dir("lab", "ruleset.nft"), filepath.Join(Dir(), "lab", "ruleset.nft"); got != want || !filepath.IsAbs(got) {
		t.Errorf("Dir(lab, ruleset.nft) = %s, want absolute %s", got, want)
	}
}

// recorder is a testing.TB that keeps what Check reports.
type recorder struct {
	testing.TB
	msgs  []string
	fatal bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatal(args ...any) {
	r.msgs = append(r.msgs, fmt.Sprint(args...))
	r.fatal = true
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.Fatal(fmt.Sprintf(format, args...))
}

// check runs Check with -update set to upd and returns what it reported.
func check(t *testing.T, upd bool, path, got string) *recorder {
	t.Helper()
	old := *update
	*update = upd
	defer func() { *update = old }()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Check(r, path, []byte(got))
	}()
	<-done
	return r
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "x.golden")

	r := check(t, false, path, "one\n")
	if !r.fatal || len(r.msgs) != 1 || !strings.Contains(r.msgs[0], path) || !strings.Contains(r.msgs[0], "-update") {
		t.Errorf("missing file: fatal %v, %q", r.fatal, r.msgs)
	}

	if r := check(t, true, path, "one\n"); len(r.msgs) != 0 {
		t.Errorf("-update: %q", r.msgs)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\n" {
		t.Errorf("-update wrote %q, %v", b, err)
	}

	if r := check(t, false, path, "one\n"); len(r.msgs) != 0 {
		t.Errorf("same content: %q", r.msgs)
	}

	r = check(t, false, path, "two\n")
	if r.fatal || len(r.msgs) != 1 || !strings.Contains(r.msgs[0], path+" (-want +got)") ||
		!strings.Contains(r.msgs[0], `"one\n"`) || !strings.Contains(r.msgs[0], `"two\n"`) {
		t.Errorf("different content: fatal %v, %q", r.fatal, r.msgs)
	}
}
