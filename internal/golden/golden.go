// Package golden is how the module's tests keep expected output in files:
// it owns the one -update flag, finds the top-level testdata/ from any
// package, and compares output with a golden file or rewrites it.
//
// It is for tests only: no other package may import it, since importing it
// registers the -update flag.
//
// To regenerate the golden files of a package, run its tests with -update
// and review the change with git diff:
//
//	go test ./internal/ctflow -update
package golden

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Update reports whether the tests run with -update: Check then rewrites
// golden files instead of comparing with them. Tests that write golden
// files some other way ask it.
func Update() bool { return *update }

// testdata is the top-level testdata/ folder: the one beside go.mod,
// found by walking up from the working directory (the directory of the
// package under test), so that it does not depend on the package's depth.
var testdata = sync.OnceValues(func() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("golden: no go.mod in %s or any folder above it", wd)
		}
		dir = parent
	}
})

// Dir is the path of testdata/ at the module root joined with elem, as
// filepath.Join joins them: Dir("lab") is the lab's golden folder and
// Dir("lab", "ruleset.nft") one file in it. The path is absolute.
func Dir(elem ...string) string {
	dir, err := testdata()
	if err != nil {
		panic(err)
	}
	return filepath.Join(append([]string{dir}, elem...)...)
}

// Check compares got with the golden file at path and fails t with the
// difference (-want +got) when they differ. With -update it writes got to
// path instead, creating the folders it needs, and compares nothing.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("golden file %s does not exist (run go test with -update to create it)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
