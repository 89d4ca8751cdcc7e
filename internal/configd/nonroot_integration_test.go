//go:build integration

package configd_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/nstest"
)

// A uid and gid with no /etc/passwd or /etc/group entry stand for a
// member of the ctsync group: the test gives the control socket to the
// gid, as ctsyncd gives it to the ctsync group, and touches no account
// database.
const (
	testUID = 47111
	testGID = 47112
)

// asMember runs `ctsync --root ROOT args...` as the test uid, in the
// ctsync role (the socket's group), outside the namespace: the socket is
// a file, and a non-root user cannot enter a namespace.
func asMember(t *testing.T, ctsync string, r *nstest.Router, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(ctsync, append([]string{"--root", r.Root.Dir}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testUID, Gid: testGID, Groups: []uint32{testGID}}}
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return o.String(), e.String(), err
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("ctsync %v as uid %d hung", args, testUID)
		return "", "", nil
	}
}

// openShell is a config session that stays open: its candidate is
// taken when it connects, so another session can commit before it does,
// or ctsyncd die while it holds changes.
type openShell struct {
	t         *testing.T
	cmd       *exec.Cmd
	stdin     io.WriteCloser
	out, eout bytes.Buffer
	done      chan error
}

// startMember opens a session of the test uid.
func startMember(t *testing.T, ctsync string, r *nstest.Router) *openShell {
	t.Helper()
	cmd := exec.Command(ctsync, "--root", r.Root.Dir, "configure")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: testUID, Gid: testGID, Groups: []uint32{testGID}}}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/"}
	return startShell(t, cmd)
}

// startShell runs cmd, a `ctsync configure`, and waits until ctsyncd
// serves the session.
func startShell(t *testing.T, cmd *exec.Cmd) *openShell {
	t.Helper()
	m := &openShell{t: t, cmd: cmd, done: make(chan error, 1)}
	pr, pw := io.Pipe()
	m.cmd.Stdout, m.cmd.Stderr = io.MultiWriter(&m.out, pw), &m.eout
	stdin, err := m.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.stdin = stdin
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { err := m.cmd.Wait(); pw.Close(); m.done <- err }()
	t.Cleanup(func() { _ = m.cmd.Process.Kill() })
	// An answer proves the session (and its candidate) exists.
	if _, err := io.WriteString(stdin, "show\n"); err != nil {
		t.Fatal(err)
	}
	seen := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		n, _ := io.ReadAtLeast(pr, buf, 1)
		seen <- n > 0
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case ok := <-seen:
		if !ok {
			t.Fatalf("the session ended at once: %s", m.eout.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the session: no answer")
	}
	return m
}

// finish sends the rest of the session and waits for its end.
func (m *openShell) finish(lines string) (string, string, error) {
	m.t.Helper()
	if _, err := io.WriteString(m.stdin, lines); err != nil {
		m.t.Fatal(err)
	}
	m.stdin.Close()
	select {
	case err := <-m.done:
		return m.out.String(), m.eout.String(), err
	case <-time.After(30 * time.Second):
		m.t.Fatal("the session hung")
		return "", "", nil
	}
}

// TestIntegrationGroupIsNotRoot checks that a member of the ctsync group
// configures, but reads and writes no file it could not itself, cannot
// stop ctsyncd with a device or a FIFO, does not see a VRRP password (in
// show, in a file it saves, in the report of a commit merged with or
// refused over another's) and cannot commit a script it could have
// written.
func TestIntegrationGroupIsNotRoot(t *testing.T) {
	r := newRouter(t)
	// The member's copy of ctsync, where it may run it.
	ctsync, _ := nstest.Binaries(t)
	bindir, err := os.MkdirTemp("", "ctsync-member-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bindir) })
	member := filepath.Join(bindir, "ctsync")
	copyFile(t, ctsync, member, 0o755)
	for _, d := range []string{bindir, r.Root.Dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(r.Root.CtsyncdSocket(), 0, testGID); err != nil {
		t.Fatal(err)
	}

	r.MustConfigure(append(goodConfig[:len(goodConfig)-1],
		"set high-availability vrrp group wan authentication type plaintext-password",
		"set high-availability vrrp group wan authentication password s3cret",
		"commit")...)

	// Files root owns: a secret and a private directory.
	priv, err := os.MkdirTemp("", "ctsync-priv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(priv) })
	if err := os.Chmod(priv, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(priv, "shadow")
	if err := os.WriteFile(secret, []byte("root:$y$SECRETHASH:19000:0:99999:7:::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	closed := filepath.Join(priv, "closed")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	// A directory anyone may write, for the FIFO and the member's script.
	open := filepath.Join(priv, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o777)
	fifo := filepath.Join(open, "fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}

	t.Run("save and load as themselves", func(t *testing.T) {
		for _, c := range []struct{ line, want string }{
			{"save " + filepath.Join(closed, "x.boot"), "permission denied"},
			{"load " + secret, "permission denied"},
			{"merge " + secret, "permission denied"},
			{"load /dev/zero", "not a regular file"},
			{"load " + fifo, "not a regular file"},
		} {
			out, errOut, err := asMember(t, member, r, c.line+"\n", "configure")
			if err == nil || !strings.Contains(errOut, c.want) {
				t.Errorf("%s as uid %d: %v, want %q\nstdout: %s\nstderr: %s", c.line, testUID, err, c.want, out, errOut)
			}
			if strings.Contains(out+errOut, "SECRETHASH") {
				t.Errorf("%s leaked the file's content:\n%s%s", c.line, out, errOut)
			}
		}
		if _, err := os.Stat(filepath.Join(closed, "x.boot")); !os.IsNotExist(err) {
			t.Errorf("save wrote into a directory the member cannot write: %v", err)
		}
		// ctsyncd still serves.
		if _, errOut, err := asMember(t, member, r, "show service conntrack-sync\n", "configure"); err != nil {
			t.Errorf("ctsyncd after the device and the FIFO: %v\n%s", err, errOut)
		}
		// What the member may write, it may save to, owned by itself.
		mine := filepath.Join(open, "mine.boot")
		if _, errOut, err := asMember(t, member, r, "save "+mine+"\n", "configure"); err != nil {
			t.Fatalf("save to a directory the member can write: %v\n%s", err, errOut)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(mine, &st); err != nil || st.Uid != testUID {
			t.Errorf("saved file owned by uid %d (%v), want %d", st.Uid, err, testUID)
		}
		// The member's own file has the password masked; load refuses
		// it rather than make the mask the password. Root's save keeps
		// it, and so does the member's save to config.boot, which only
		// root reads.
		if b := mustRead(t, mine); strings.Contains(b, "s3cret") || !strings.Contains(b, configdMasked) {
			t.Errorf("the member's saved file:\n%s", b)
		}
		_, errOut, err := r.Configure("load " + mine)
		if err == nil || !strings.Contains(errOut, "high-availability vrrp group wan authentication password: "+configdMasked) {
			t.Errorf("root's load of the member's masked file: %v\n%s", err, errOut)
		}
		if _, errOut, err := asMember(t, member, r, "save\n", "configure"); err != nil {
			t.Fatalf("save by the member: %v\n%s", err, errOut)
		}
		if b := mustRead(t, r.Root.ConfigBoot()); !strings.Contains(b, "s3cret") {
			t.Errorf("config.boot saved by the member lacks the password:\n%s", b)
		}
		if fi, err := os.Stat(r.Root.ConfigBoot()); err != nil || fi.Mode().Perm()&0o007 != 0 {
			t.Errorf("config.boot: %v (%v): readable by anyone", fi.Mode().Perm(), err)
		}
	})

	t.Run("another's password change is not shown to the member", func(t *testing.T) {
		// Merged: the member changed something else.
		m := startMember(t, member, r)
		r.MustConfigure("set high-availability vrrp group wan authentication password n3wpass", "commit")
		out, errOut, err := m.finish("set high-availability vrrp group wan priority 120\ncommit\n")
		if err != nil || !strings.Contains(out, "were merged") || !strings.Contains(out, configdMasked) || strings.Contains(out+errOut, "n3wpass") {
			t.Errorf("merged commit as a member: %v\n%s%s", err, out, errOut)
		}
		// Refused: the member changed the password too.
		m = startMember(t, member, r)
		r.MustConfigure("set high-availability vrrp group wan authentication password 0ther", "commit")
		out, errOut, err = m.finish("set high-availability vrrp group wan authentication password mine\ncommit\n")
		if err == nil || !strings.Contains(errOut, "Their commit:") || !strings.Contains(errOut, configdMasked) || strings.Contains(out+errOut, "0ther") {
			t.Errorf("conflicting commit as a member: %v\n%s%s", err, out, errOut)
		}
		r.MustConfigure("set high-availability vrrp group wan authentication password s3cret", "commit")
	})

	t.Run("no password for the group", func(t *testing.T) {
		out, errOut, err := asMember(t, member, r, "", "show", "configuration")
		if err != nil || strings.Contains(out, "s3cret") || !strings.Contains(out, configdMasked) {
			t.Errorf("show configuration as a member: %v\n%s%s", err, out, errOut)
		}
		out, errOut, err = asMember(t, member, r, "show high-availability\n", "configure")
		if err != nil || strings.Contains(out, "s3cret") || !strings.Contains(out, configdMasked) {
			t.Errorf("show in a member's session: %v\n%s%s", err, out, errOut)
		}
		out, _, err = r.Run("", "show", "configuration")
		if err != nil || !strings.Contains(out, "s3cret") {
			t.Errorf("root's show configuration hides the password: %v\n%s", err, out)
		}
		for _, p := range []string{r.Root.KeepalivedConf(), r.Root.FullRunningConfig()} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %v, mode %v: readable beyond root", p, err, fi.Mode().Perm())
			}
		}
		if b, _ := os.ReadFile(r.Root.RunningConfig()); bytes.Contains(b, []byte("s3cret")) {
			t.Errorf("running.boot (world-readable) holds the password")
		}
	})

	t.Run("no script the member could write", func(t *testing.T) {
		script := filepath.Join(open, "evil.sh")
		if _, _, err := asMember(t, member, r, "", "--help"); err != nil {
			_ = err // only to make sure the binary runs as the member
		}
		if err := os.WriteFile(script, []byte("#!/bin/sh\nid > /tmp/owned\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(script, testUID, testGID); err != nil {
			t.Fatal(err)
		}
		_, errOut, err := asMember(t, member, r, "set high-availability vrrp group wan transition-script master "+script+"\ncommit\n", "configure")
		if err == nil || !strings.Contains(errOut, "high-availability vrrp group wan transition-script master") || !strings.Contains(errOut, script) {
			t.Errorf("commit of a script the member owns: %v\n%s", err, errOut)
		}
	})
}

const configdMasked = "********"

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
