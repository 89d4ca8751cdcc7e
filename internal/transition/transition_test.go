package transition

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
)

// fakeCT is a conntrackd control socket: it records the codes it is sent
// and keeps two counters, the external cache and the kernel table, that
// commit and flush move the way the real daemon does.
type fakeCT struct {
	ln   net.Listener
	path string

	mu         sync.Mutex
	codes      []int32
	external   int
	kernel     int
	skipCommit bool // answer a commit without doing it, like "commit already in progress"
	// logPath, when set, gets the lines conntrackd logs in the
	// foreground for a commit.
	logPath string
	hang    bool // read the request, never answer
	// A commit leaves short of the external entries uncommitted, of
	// which exists were made by traffic meanwhile (logged as conntrackd
	// does) and gone ended by the peer (counted destroyed).
	short, exists, gone int
	destroyed           int
	// pending is how many more polls find a commit's destroy events
	// not taken in yet (-1: always); pendingPolls counts the polls.
	pending      int
	pendingPolls int
	// root, when set, has eventsPending note the VRRP state recorded
	// there while the hook waits (stateSeen).
	root      paths.Root
	stateSeen string
	delay     map[int32]time.Duration
	got       chan int32
	closing   chan struct{}
	wg        sync.WaitGroup
}

func newFakeCT(t *testing.T, path string) *fakeCT {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCT{ln: ln, path: path, delay: map[int32]time.Duration{}, got: make(chan int32, 100), closing: make(chan struct{})}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() {
		close(f.closing)
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *fakeCT) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer c.Close()
			f.handle(c)
		}()
	}
}

func (f *fakeCT) handle(c net.Conn) {
	var buf [4]byte
	if _, err := io.ReadFull(c, buf[:]); err != nil {
		return
	}
	code := int32(binary.NativeEndian.Uint32(buf[:]))
	f.mu.Lock()
	f.codes = append(f.codes, code)
	hang, d := f.hang, f.delay[code]
	f.mu.Unlock()
	select {
	case f.got <- code:
	default:
	}
	if hang {
		<-f.closing
		return
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-f.closing:
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch code {
	case conntrackd.Stats:
		io.WriteString(c, statsTextDestroyed(0, f.external, f.destroyed, true))
	case conntrackd.Commit, conntrackd.CommitAll:
		lines := "[Wed Dec  2 00:04:31 2026] (pid=7) [notice] committing conntrack cache\n"
		if !f.skipCommit {
			f.kernel += f.external - f.short + f.exists
			lines += fmt.Sprintf("[Wed Dec  2 00:04:31 2026] (pid=7) [notice] Committed %d new entries\n", f.external-f.short)
			for range f.exists {
				lines += "[Wed Dec  2 00:04:31 2026] (pid=7) [ERROR] commit-create: File exists\n"
			}
			if f.exists > 0 {
				lines += fmt.Sprintf("[Wed Dec  2 00:04:31 2026] (pid=7) [notice] %d entries can't be committed\n", f.exists)
			}
			f.external -= f.gone
			f.destroyed += f.gone
		}
		if f.logPath != "" {
			lf, err := os.OpenFile(f.logPath, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
			if err == nil {
				io.WriteString(lf, lines)
				lf.Close()
			}
		}
	case conntrackd.FlushExternal, conntrackd.FlushCachesAll:
		f.external = 0
	}
}

func (f *fakeCT) Codes() []int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int32(nil), f.codes...)
}

func (f *fakeCT) eventsPending() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pendingPolls++
	if f.root.Dir != "" {
		if m, err := ReadVRRPState(f.root); err == nil {
			f.stateSeen = m["MAIN"].State
		}
	}
	if f.pending == 0 {
		return "", nil
	}
	if f.pending > 0 {
		f.pending--
	}
	return "deleted entries wait for their destroy events", nil
}

func (f *fakeCT) countKernel() (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kernel, nil
}

type setup struct {
	group      string // sync-group in the running config; "" means no conntrack-sync
	disableExt bool
	expect     bool
}

// newRoot makes a fresh root with the failover facts the conntrack-sync
// handler would generate. The root is a short temp dir because the
// control socket lives under it and UNIX socket paths are limited to 108
// bytes; it returns that socket's path.
func newRoot(t *testing.T, s setup) (paths.Root, string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := paths.Root{Dir: dir}
	for _, d := range []string{root.RunDir(), root.EtcDir(), root.StateDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if s.group != "" {
		// The conntrack-sync handler generates this in the commit that
		// writes conntrackd.conf; the hook reads nothing else of the config.
		f := Facts{SyncGroup: s.group, DisableExternalCache: s.disableExt, ExpectSync: s.expect}
		if err := os.WriteFile(root.FailoverFacts(), EncodeFacts(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, root.ConntrackdSocket()
}

func TestRunSequence(t *testing.T) {
	tests := []struct {
		name      string
		setup     setup
		state     string
		want      []int32
		committed int
	}{
		{"master", setup{group: "MAIN"}, Master, []int32{21, 18, 33, 34, 1, 22}, 100},
		{"master expect-sync", setup{group: "MAIN", expect: true}, Master, []int32{21, 46, 45, 44, 22}, 100},
		{"master no external cache", setup{group: "MAIN", disableExt: true}, Master, []int32{1, 22}, 0},
		{"master no external cache expect-sync", setup{group: "MAIN", disableExt: true, expect: true}, "MASTER", []int32{44, 22}, 0},
		{"backup", setup{group: "MAIN"}, Backup, []int32{21, 26, 23}, 0},
		{"fault", setup{group: "MAIN"}, Fault, []int32{26}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sock := newRoot(t, tt.setup)
			f := newFakeCT(t, sock)
			f.external = 100
			err := Run(context.Background(), Options{Root: root, State: tt.state, Group: "MAIN", Log: zaptest.NewLogger(t), CountKernel: f.countKernel, EventsPending: f.eventsPending})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tt.want, f.Codes()); diff != "" {
				t.Errorf("codes sent (-want +got):\n%s", diff)
			}
			rec, err := ReadRecord(root)
			if err != nil || rec == nil {
				t.Fatalf("ReadRecord: %v, %v", rec, err)
			}
			if !rec.OK || rec.Error != "" || rec.Committed != tt.committed || rec.Group != "MAIN" || rec.Seq != 1 {
				t.Errorf("record = %+v", rec)
			}
			var codes []int32
			for _, s := range rec.Steps {
				if !s.OK {
					t.Errorf("step %s not ok: %s", s.Name, s.Error)
				}
				if s.Code != 0 {
					codes = append(codes, s.Code)
				}
			}
			if tt.state == Backup {
				// The liveness probe is not a step of its own.
				codes = append([]int32{21}, codes...)
			}
			if diff := cmp.Diff(tt.want, codes); diff != "" {
				t.Errorf("recorded steps (-want +got):\n%s", diff)
			}
			vs, err := ReadVRRPState(root)
			if err != nil {
				t.Fatal(err)
			}
			if got := vs["MAIN"].State; !strings.EqualFold(got, tt.state) {
				t.Errorf("vrrp state = %q, want %q", got, tt.state)
			}
		})
	}
}

func TestRunIdempotent(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	f.external = 7
	for i := 0; i < 2; i++ {
		if err := Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	rec, _ := ReadRecord(root)
	if rec.Seq != 2 || rec.ExternalEntries != 0 || rec.KernelEntries != 7 || !rec.OK {
		t.Errorf("second record = %+v", rec)
	}
}

func TestRunNothingToDo(t *testing.T) {
	tests := []struct {
		name       string
		group      string
		wantRecord bool
	}{
		{"other group", "MAIN", false},
		{"conntrack-sync not configured", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sock := newRoot(t, setup{group: tt.group})
			f := newFakeCT(t, sock)
			if err := Run(context.Background(), Options{Root: root, State: Master, Group: "LAN", CountKernel: f.countKernel, EventsPending: f.eventsPending}); err != nil {
				t.Fatal(err)
			}
			if got := f.Codes(); len(got) != 0 {
				t.Errorf("sent codes %v, want none", got)
			}
			rec, err := ReadRecord(root)
			if err != nil {
				t.Fatal(err)
			}
			if (rec != nil) != tt.wantRecord {
				t.Fatalf("record = %+v, want one: %v", rec, tt.wantRecord)
			}
			if rec != nil && (rec.Skipped == "" || !rec.OK) {
				t.Errorf("record = %+v", rec)
			}
			vs, _ := ReadVRRPState(root)
			if vs["LAN"].State != Master {
				t.Errorf("vrrp state = %+v", vs)
			}
		})
	}
}

func TestRunCommitSkipped(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	f.external = 100
	f.skipCommit = true
	err := Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
	if !errors.Is(err, ErrCommitIncomplete) {
		t.Fatalf("Run = %v, want ErrCommitIncomplete", err)
	}
	// The external cache must survive a failed commit: no flush.
	if diff := cmp.Diff([]int32{21, 18}, f.Codes()); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	rec, _ := ReadRecord(root)
	if rec.OK || !strings.Contains(rec.Error, "external cache held 100 entries, kernel table holds 0") {
		t.Errorf("record = %+v", rec)
	}
}

// TestRunCommitSkippedBusyTable: on a busy master the kernel table
// already holds more entries than the external cache did, so its size
// cannot show a skipped commit; conntrackd's own account of the flows it
// committed does.
func TestRunCommitSkippedBusyTable(t *testing.T) {
	for _, skip := range []bool{false, true} {
		root, sock := newRoot(t, setup{group: "MAIN"})
		if err := os.MkdirAll(root.LogDir(), 0o755); err != nil {
			t.Fatal(err)
		}
		f := newFakeCT(t, sock)
		f.external, f.kernel, f.skipCommit = 100, 150, skip
		f.logPath = filepath.Join(root.LogDir(), "conntrackd.log")
		if err := os.WriteFile(f.logPath, []byte("[Wed Dec  2 00:04:30 2026] (pid=7) [notice] -- starting in console mode --\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
		rec, _ := ReadRecord(root)
		if !skip {
			if err != nil || rec.DaemonCommitted != 100 {
				t.Fatalf("commit: %v, record %+v", err, rec)
			}
			continue
		}
		if !errors.Is(err, ErrCommitIncomplete) || !strings.Contains(rec.Error, "conntrackd logged no commit of its 100 external entries") {
			t.Fatalf("skipped commit on a busy table: %v, record %+v", err, rec)
		}
		if diff := cmp.Diff([]int32{21, 18}, f.Codes()); diff != "" {
			t.Errorf("codes (-want +got):\n%s", diff)
		}
	}
}

func TestRunBounded(t *testing.T) {
	tests := []struct {
		name  string
		state string
		setup func(f *fakeCT)
	}{
		{"socket never answers", Fault, func(f *fakeCT) { f.hang = true }},
		{"commit never ends", Master, func(f *fakeCT) { f.external = 5; f.delay[conntrackd.Commit] = time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sock := newRoot(t, setup{group: "MAIN"})
			f := newFakeCT(t, sock)
			tt.setup(f)
			done := make(chan error, 1)
			go func() {
				done <- Run(context.Background(), Options{Root: root, State: tt.state, Group: "MAIN", Timeout: 300 * time.Millisecond, CountKernel: f.countKernel, EventsPending: f.eventsPending})
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Run = %v, want a deadline error", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return: the timeout does not bound it")
			}
			rec, _ := ReadRecord(root)
			if rec == nil || rec.OK {
				t.Errorf("record = %+v, want a failed one", rec)
			}
		})
	}
}

// Two overlapping transitions: "backup" is called, then "master" while
// the backup still waits for the lock. Whichever gets the lock first, the
// router must end as master and backup's reset-timers must not run after
// master's commit.
func TestRunOverlapLaterWins(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	f.external = 10
	held, err := lockFile(context.Background(), root.TransitionLock())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	start := func(state string, wantSeq uint64) {
		go func() {
			errs <- Run(context.Background(), Options{Root: root, State: state, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
		}()
		waitSeq(t, root, "MAIN", wantSeq)
	}
	start(Backup, 1)
	start(Master, 2)
	unlock(held)
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int32{21, 18, 33, 34, 1, 22}, f.Codes()); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	rec, _ := ReadRecord(root)
	if rec.State != Master || rec.Seq != 2 {
		t.Errorf("record = %+v, want master seq 2", rec)
	}
	vs, _ := ReadVRRPState(root)
	if vs["MAIN"].State != Master {
		t.Errorf("vrrp state = %+v", vs)
	}
}

// A transition that starts while another runs waits for it: the codes of
// the two never interleave.
func TestRunSerialized(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	f.external = 10
	f.delay[conntrackd.Commit] = 200 * time.Millisecond
	errs := make(chan error, 2)
	go func() {
		errs <- Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
	}()
	for c := range f.got {
		if c == conntrackd.Commit {
			break
		}
	}
	go func() {
		errs <- Run(context.Background(), Options{Root: root, State: Fault, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
	}()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]int32{21, 18, 33, 34, 1, 22, 26}, f.Codes()); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	rec, _ := ReadRecord(root)
	if rec.State != Fault {
		t.Errorf("record = %+v", rec)
	}
}

func waitSeq(t *testing.T, root paths.Root, group string, want uint64) {
	t.Helper()
	for i := 0; i < 500; i++ {
		got, err := latestTicket(context.Background(), root, group)
		if err == nil && got >= want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("ticket %d never issued", want)
}

// Another VRRP group's transition, called while the sync-group's waits,
// does not supersede it: ordering is per group.
func TestRunOtherGroupDoesNotSupersede(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	held, err := lockFile(context.Background(), root.TransitionLock())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		errs <- Run(context.Background(), Options{Root: root, State: Fault, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
	}()
	waitSeq(t, root, "MAIN", 1)
	if err := Run(context.Background(), Options{Root: root, State: Backup, Group: "LAN", CountKernel: f.countKernel, EventsPending: f.eventsPending}); err != nil {
		t.Fatal(err)
	}
	unlock(held)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{26}, f.Codes()); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	vs, _ := ReadVRRPState(root)
	if vs["MAIN"].State != Fault || vs["LAN"].State != Backup {
		t.Errorf("vrrp state = %+v", vs)
	}
}

func TestRunBadState(t *testing.T) {
	err := Run(context.Background(), Options{Root: paths.Root{Dir: t.TempDir()}, State: "stop", Group: "MAIN"})
	if !errors.Is(err, ErrBadState) {
		t.Fatalf("Run = %v, want ErrBadState", err)
	}
}

func TestReadRecordAbsent(t *testing.T) {
	rec, err := ReadRecord(paths.Root{Dir: t.TempDir()})
	if rec != nil || err != nil {
		t.Fatalf("ReadRecord = %v, %v; want nil, nil", rec, err)
	}
}

func TestNewLogger(t *testing.T) {
	l := NewLogger("/")
	l.Info("test", zap.String("k", "v"))
	_ = l.Sync()
}

// With nothing answering and no live conntrackd, backup clears the stale
// lock and starts the daemon; a daemon that dies at once is reported with
// its log, within the time bound.
func TestRunBackupStartFails(t *testing.T) {
	root, _ := newRoot(t, setup{group: "MAIN"})
	// The commit installs it with the facts; Spawn hashes it for the
	// Started record before the start.
	if err := os.WriteFile(root.ConntrackdConf(), []byte("General {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root.ConntrackdLock(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The generated file the daemon starts from (Spawn records its hash).
	if err := os.MkdirAll(root.EtcDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root.ConntrackdConf(), []byte("General {\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A process named conntrackd, with this root's config on its command
	// line and the pid file pointing at it, that is not the daemon any
	// starter recorded: the hook must not wait for it to answer, nor
	// leave the lock for it, nor signal it.
	foreign, alive := handlertest.Foreign(t, "conntrackd", "-C", root.ConntrackdConf())
	if err := os.WriteFile(root.ConntrackdPid(), []byte(fmt.Sprint(foreign)), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(context.Background(), Options{Root: root, State: Backup, Group: "MAIN", Conntrackd: "/bin/false", Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("Run = %v, want a daemon-exited error", err)
	}
	if !alive() {
		t.Errorf("the foreign conntrackd (pid %d) was signalled", foreign)
	}
	if pid := liveConntrackd(root, ""); pid != 0 {
		t.Errorf("liveConntrackd = %d (the foreign process is %d), want 0", pid, foreign)
	}
	if _, err := os.Stat(root.ConntrackdLock()); !os.IsNotExist(err) {
		t.Errorf("stale lock still there: %v", err)
	}
	rec, _ := ReadRecord(root)
	if rec == nil || rec.OK || len(rec.Steps) != 1 || !strings.Contains(rec.Steps[0].Detail, "removed stale lock") {
		t.Errorf("record = %+v", rec)
	}
}

// TestMasterSettlesDestroys: the master path flushes and resyncs the
// internal cache only once the kernel has delivered the destroy events of
// the commit, and says so when they do not come in time (still flushing:
// the new master must not keep the peer's stale states).
func TestMasterSettlesDestroys(t *testing.T) {
	defer func(l, p time.Duration) { settleLimit, settlePoll = l, p }(settleLimit, settlePoll)
	settleLimit, settlePoll = 300*time.Millisecond, time.Millisecond
	tests := []struct {
		name    string
		dying   int
		wantErr bool
	}{
		{"nothing dying", 0, false},
		{"drains after three polls", 3, false},
		{"never drains", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sock := newRoot(t, setup{group: "MAIN"})
			f := newFakeCT(t, sock)
			f.external, f.pending, f.root = 100, tt.dying, root
			err := Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
			// Committed, the node is master while it waits.
			if f.stateSeen != Master {
				t.Errorf("VRRP state recorded during the wait = %q, want %q", f.stateSeen, Master)
			}
			if gotErr := errors.Is(err, ErrDestroysPending); gotErr != tt.wantErr {
				t.Fatalf("Run: %v, want ErrDestroysPending %v", err, tt.wantErr)
			}
			if diff := cmp.Diff([]int32{21, 18, 33, 34, 1, 22}, f.Codes()); diff != "" {
				t.Errorf("codes sent (-want +got):\n%s", diff)
			}
			// Two quiet polls in a row end the wait.
			if tt.dying >= 0 && f.pendingPolls != tt.dying+2 {
				t.Errorf("pending events polled %d times, want %d", f.pendingPolls, tt.dying+2)
			}
			rec, err := ReadRecord(root)
			if err != nil || rec == nil {
				t.Fatalf("ReadRecord: %v, %v", rec, err)
			}
			var names []string
			for _, s := range rec.Steps {
				names = append(names, s.Name)
				if s.Name == "settle-destroy-events" && s.OK == tt.wantErr {
					t.Errorf("settle step ok = %v: %+v", s.OK, s)
				}
			}
			settle, flush := slices.Index(names, "settle-destroy-events"), slices.Index(names, "flush-internal")
			if settle < 0 || settle > flush || settle < slices.Index(names, "commit") {
				t.Errorf("steps %v: want settle-destroy-events after the commit, before flush-internal", names)
			}
			if rec.OK == tt.wantErr {
				t.Errorf("record ok = %v, error %q", rec.OK, rec.Error)
			}
		})
	}
}

// TestRunCommitAccountsForChurn: entries a commit did not write are not
// missing flows when the kernel already had them (made by traffic between
// conntrackd's delete and create) or the peer ended them meanwhile; any
// other shortfall still fails the check.
func TestRunCommitAccountsForChurn(t *testing.T) {
	tests := []struct {
		name                string
		short, exists, gone int
		wantErr             bool
		wantDetail          string
	}{
		{"all committed", 0, 0, 0, false, "conntrackd committed 100"},
		{"one made by traffic", 1, 1, 0, false, "1 already made by traffic"},
		{"two ended by the peer", 2, 0, 2, false, "2 ended by the peer meanwhile"},
		{"both", 3, 1, 2, false, "1 already made by traffic, 2 ended by the peer meanwhile"},
		{"two missing", 2, 0, 0, true, "0 ended by the peer meanwhile"},
		{"one missing beside one ended", 2, 0, 1, true, "1 ended by the peer meanwhile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sock := newRoot(t, setup{group: "MAIN"})
			if err := os.MkdirAll(root.LogDir(), 0o755); err != nil {
				t.Fatal(err)
			}
			f := newFakeCT(t, sock)
			// The table holds a few entries of its own, as a router's
			// does: its size alone cannot show a shortfall this small.
			f.external, f.kernel, f.short, f.exists, f.gone = 100, 5, tt.short, tt.exists, tt.gone
			f.logPath = filepath.Join(root.LogDir(), "conntrackd.log")
			if err := os.WriteFile(f.logPath, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			err := Run(context.Background(), Options{Root: root, State: Master, Group: "MAIN", CountKernel: f.countKernel, EventsPending: f.eventsPending})
			if got := errors.Is(err, ErrCommitIncomplete); got != tt.wantErr {
				t.Fatalf("Run: %v, want ErrCommitIncomplete %v", err, tt.wantErr)
			}
			rec, _ := ReadRecord(root)
			var detail string
			for _, st := range rec.Steps {
				if st.Name == "verify-commit" {
					detail = st.Detail
				}
			}
			if !strings.Contains(detail, tt.wantDetail) {
				t.Errorf("verify-commit detail %q, want it to say %q", detail, tt.wantDetail)
			}
		})
	}
}
