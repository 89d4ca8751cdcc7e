package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyTerm is the config shell on a pseudo-terminal, driven as a person
// types: keys in, the screen's bytes out.
type ptyTerm struct {
	t    *testing.T
	f    *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	mark int // expect looks at what came after it
	done chan error
}

// ctsyncBinary is this test binary under the name ctsync, which
// testscript.Main (see TestMain) runs as the ctsync command.
func ctsyncBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ctsync")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// startTerm runs cmd on a new pseudo-terminal, 50x200, so completion
// lists fit.
func startTerm(t *testing.T, cmd *exec.Cmd) *ptyTerm {
	t.Helper()
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 200})
	if err != nil {
		t.Fatal(err)
	}
	tm := &ptyTerm{t: t, f: f, cmd: cmd, done: make(chan error, 1)}
	go func() {
		buf := make([]byte, 4096)
		answered := 0
		for {
			n, err := f.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			// A terminal answers the cursor position request (DSR)
			// readline sends before each prompt; this one is the
			// terminal, so it must too.
			for {
				i := bytes.Index(tm.out.Bytes()[answered:], []byte("\x1b[6n"))
				if i < 0 {
					break
				}
				answered += i + 4
				f.WriteString("\x1b[1;1R")
			}
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { tm.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-tm.done
		}
		f.Close()
	})
	return tm
}

// typ sends keys as typed.
func (tm *ptyTerm) typ(keys string) {
	tm.t.Helper()
	if _, err := tm.f.WriteString(keys); err != nil {
		tm.t.Fatalf("typing %q: %v", keys, err)
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// expect waits until every want has appeared on the screen since the
// last expect (escape sequences removed), then moves the mark past it.
func (tm *ptyTerm) expect(want ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tm.mu.Lock()
		seen := ansi.ReplaceAllString(tm.out.String()[tm.mark:], "")
		n := tm.out.Len()
		tm.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(seen, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			tm.mu.Lock()
			tm.mark = n
			tm.mu.Unlock()
			return seen
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the screen never showed %q; it shows:\n%s\n(all: %q)", missing, seen, tm.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait returns the shell's exit error once it ends.
func (tm *ptyTerm) wait() error {
	tm.t.Helper()
	select {
	case err := <-tm.done:
		return err
	case <-time.After(10 * time.Second):
		tm.t.Fatalf("the shell did not exit; the screen shows:\n%s", tm.out.String()[tm.mark:])
		return nil
	}
}

const (
	ctrlC = "\x03"
	ctrlD = "\x04"
	ctrlR = "\x12"
	up    = "\x1b[A"
)

// shellSession drives two shells on terminals as an operator would and
// checks the keys: TAB completion (unique prefix, and a list with the
// descriptions), '?', Ctrl-C on a half-typed line, Ctrl-D and its exit
// guard, edit levels in the prompt, and history (Up, Ctrl-R) carried
// from the first shell to the second. wantIfs are interfaces the
// completion after `interface` must list, notIfs ones it must not.
func shellSession(t *testing.T, newCmd func() *exec.Cmd, wantIfs, notIfs []string) {
	home := t.TempDir()
	env := func(c *exec.Cmd) *exec.Cmd {
		c.Env = append(os.Environ(), "HOME="+home, "XDG_STATE_HOME=", "TERM=xterm")
		return c
	}
	sh := startTerm(t, env(newCmd()))
	sh.expect("[edit]", "# ")

	// TAB on a unique prefix completes it; a second TAB on several
	// choices lists them with their YANG descriptions.
	sh.typ("set serv\t")
	sh.expect("set service ")
	sh.typ("conntrack-sync interface \t")
	want := append([]string{"interface on this router", "<interface name>"}, wantIfs...)
	listed := sh.expect(want...)
	for _, i := range notIfs {
		if strings.Contains(listed, "  "+i+" ") {
			t.Errorf("completion lists %s, an interface of another namespace:\n%s", i, listed)
		}
	}
	sh.typ(wantIfs[0] + " peer 198.18.10.3\r")
	sh.expect("[edit]")

	// '?' lists what may follow, and the line stays as it was.
	sh.typ("set service conntrack-sync ?")
	sh.expect("failover-mechanism", "Failover mechanism to use for conntrack-sync", "startup-resync")
	sh.typ("startu\t\r")
	sh.expect("[edit]")

	// Ctrl-C on a half-typed line: the line goes, the shell and its
	// candidate stay.
	sh.typ("set service conntrack-sync disable-sys" + ctrlC)
	sh.expect("^C", "[edit]")
	sh.typ("show service conntrack-sync\r")
	if strings.Contains(sh.expect("peer 198.18.10.3", "startup-resync", "[edit]"), "disable-syslog") {
		t.Error("the line cleared by Ctrl-C ran")
	}

	// The prompt shows the edit level.
	sh.typ("edit service conntrack-sync\r")
	sh.expect("[edit service conntrack-sync]")
	sh.typ("top\r")
	sh.expect("[edit]")

	// Ctrl-D on an empty line is exit, and exit's guard holds.
	sh.typ(ctrlD)
	sh.expect("cannot exit", "exit discard", "[edit]")
	sh.typ("exit discard\r")
	if err := sh.wait(); err != nil {
		t.Fatalf("exit discard: %v", err)
	}
	hist, err := os.ReadFile(filepath.Join(home, ".local", "state", "ctsync", "history"))
	if err != nil || !strings.Contains(string(hist), "startup-resync") {
		t.Fatalf("history file: %q, %v", hist, err)
	}

	// A second shell has the first one's history: Up, then Ctrl-R.
	sh = startTerm(t, env(newCmd()))
	sh.expect("[edit]", "# ")
	sh.typ(up)
	sh.expect("exit discard")
	sh.typ(ctrlC + ctrlR + "startu")
	sh.expect("set service conntrack-sync startup-resync")
	sh.typ("\r")
	sh.expect("[edit]")
	sh.typ("show service\r")
	sh.expect("startup-resync")
	sh.typ("exit discard\r")
	if err := sh.wait(); err != nil {
		t.Fatalf("second shell: %v", err)
	}
}

// TestShellOnTerminal: the shell on a real pseudo-terminal, in this
// process's namespace, whose loopback completion must list.
func TestShellOnTerminal(t *testing.T) {
	root, stop, err := startService(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	bin := ctsyncBinary(t)
	shellSession(t, func() *exec.Cmd { return exec.Command(bin, "--root", root.Dir, "configure") }, []string{"lo"}, nil)
}

// TestShellOnDumbTerminal: a terminal without cursor control gets plain
// lines, and the shell still works (and Ctrl-D still exits).
func TestShellOnDumbTerminal(t *testing.T) {
	root, stop, err := startService(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cmd := exec.Command(ctsyncBinary(t), "--root", root.Dir, "configure")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "TERM=dumb")
	sh := startTerm(t, cmd)
	sh.expect("[edit]", "# ")
	sh.typ("edit service conntrack-sync\r")
	sh.expect("[edit service conntrack-sync]")
	sh.typ(ctrlD)
	sh.expect("[edit]")
	sh.typ(ctrlD)
	if err := sh.wait(); err != nil {
		t.Fatalf("Ctrl-D at the top: %v", err)
	}
}
