package configd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ctsync/ctsync/internal/paths"
)

// TestLockRootOnePerRoot: while one ctsyncd holds a root, a second is
// refused, told which pid holds which file; another root is free; once
// released (or its holder dead: the kernel drops a flock with its
// holder), the root is free again.
func TestLockRootOnePerRoot(t *testing.T) {
	root := paths.Root{Dir: t.TempDir()}
	release, err := LockRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockRoot(root)
	want := fmt.Sprintf("pid %d holds %s", os.Getpid(), root.CtsyncdLock())
	if !errors.Is(err, ErrAnotherDaemon) || !strings.Contains(err.Error(), want) {
		t.Fatalf("second LockRoot = %v, want ErrAnotherDaemon saying %q", err, want)
	}
	other, err := LockRoot(paths.Root{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("another root: %v", err)
	}
	other()
	release()
	again, err := LockRoot(root)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	again()
}

// TestRestartResumesTheRunningConfig: a ctsyncd restart (the run
// directory kept) resumes the committed configuration even when it was
// never saved and config.boot says otherwise; a reboot (the run
// directory gone) starts from config.boot.
func TestRestartResumesTheRunningConfig(t *testing.T) {
	r := newRig(t)
	run(t, r.session("alice"), append(baseConfig, "commit", "save")...)
	saved := r.files()
	run(t, r.session("alice"), "set high-availability vrrp group wan priority 250", "commit")
	unsaved := r.files()
	if saved["keepalived.conf"] == unsaved["keepalived.conf"] {
		t.Fatal("the unsaved commit changed no file: the test proves nothing")
	}
	r.start()
	if diff := cmp.Diff(unsaved, r.files()); diff != "" {
		t.Errorf("after a restart, not the committed configuration (-want +got):\n%s", diff)
	}
	running, _ := r.srv.Running()
	if running.Get("high-availability", "vrrp", "group", "wan", "priority") == nil {
		t.Errorf("after a restart the running config lacks the unsaved commit:\n%s", running)
	}
	r.reboot()
	r.start()
	if diff := cmp.Diff(saved, r.files()); diff != "" {
		t.Errorf("after a reboot, not config.boot (-want +got):\n%s", diff)
	}
}

// TestSessionCountResetAtStart: the count of sessions with uncommitted
// changes (show system commit) is what a ctsyncd that died with such a
// session open left; a new ctsyncd has no session, and says so.
func TestSessionCountResetAtStart(t *testing.T) {
	r := newRig(t)
	c := r.dial(t, r.serve(t))
	if resp := request(t, c, "set high-availability vrrp group wan vrid 3"); resp.Err != "" {
		t.Fatal(resp.Err)
	}
	if n := sessionsRecorded(t, r.root); n != 1 {
		t.Fatalf("%d sessions recorded with uncommitted changes, want 1", n)
	}
	if !strings.Contains(r.show(), "1 configuration session(s) hold uncommitted changes") {
		t.Errorf("show system commit does not tell the open session:\n%s", r.show())
	}
	// ctsyncd dies with the session open (nothing runs its ending): the
	// record stays, and the next ctsyncd starts from it.
	r.srv.Close()
	r.srv = nil
	r.start()
	if n := sessionsRecorded(t, r.root); n != 0 {
		t.Errorf("%d sessions recorded after the restart, want 0", n)
	}
	if s := r.show(); strings.Contains(s, "uncommitted") {
		t.Errorf("show system commit after the restart:\n%s", s)
	}
}

// dial opens a session on sock, closed when the test ends.
func (r *rig) dial(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sessionsRecorded(t *testing.T, root paths.Root) int {
	t.Helper()
	b, err := os.ReadFile(root.EditSessions())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestShutdownWaitsForTheCommit is SIGTERM during a commit: Serve's
// context ends while a session's commit applies. Shutdown returns only
// once the commit finished, the session got its answer (success), and
// the commit is what runs.
func TestShutdownWaitsForTheCommit(t *testing.T) {
	r := newRig(t)
	run(t, r.session("alice"), append(baseConfig, "commit")...)
	ln, err := r.srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(ctx, ln) }()

	applying, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let) // a failed test must not leave the commit waiting
	r.vrrp.ApplyFunc = func(cfg string) error {
		if strings.Contains(cfg, "vrid 9") {
			close(applying)
			<-release
		}
		return nil
	}
	c := r.dial(t, r.root.CtsyncdSocket())
	if resp := request(t, c, "set high-availability vrrp group wan vrid 9"); resp.Err != "" {
		t.Fatal(resp.Err)
	}
	answer := make(chan Response, 1)
	go func() {
		var resp Response
		if _, err := c.Write([]byte(`{"line":"commit"}` + "\n")); err == nil {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err := json.NewDecoder(c).Decode(&resp); err != nil {
				resp.Err = "no answer: " + err.Error()
			}
		}
		answer <- resp
	}()
	select {
	case <-applying:
	case <-time.After(10 * time.Second):
		t.Fatal("the commit never reached apply")
	}
	cancel() // SIGTERM
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- r.srv.Shutdown(30 * time.Second) }()
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) while the commit was applying", err)
	case <-time.After(300 * time.Millisecond):
	}
	let()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown did not return once the commit finished")
	}
	if resp := <-answer; resp.Err != "" {
		t.Errorf("the commit under way when ctsyncd stopped: %s", resp.Err)
	}
	running, _ := r.srv.Running()
	if v := running.Get("high-availability", "vrrp", "group", "wan", "vrid"); v == nil || v.Values[0] != "9" {
		t.Errorf("running config after the stop:\n%s", running)
	}
	if !strings.Contains(mustReadFile(t, r.root.FullRunningConfig()), "vrid 9") {
		t.Errorf("the commit is not recorded for the next start")
	}
}

func mustReadFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
