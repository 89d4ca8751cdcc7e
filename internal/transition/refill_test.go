package transition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/supervise"
)

func TestRefillObserve(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 21, 36, 35, 0, time.UTC)
	stats := func(created, current, recv uint64) *ctdstats.Stats {
		return &ctdstats.Stats{Cache: map[string]*ctdstats.Cache{"external": {Current: current, Created: created}},
			Link: &ctdstats.Link{PacketsRecv: recv}}
	}
	type obs struct {
		after time.Duration
		st    *ctdstats.Stats
	}
	tests := []struct {
		name       string
		role       string
		askedHeard bool
		seq        []obs
		want       string
		received   uint64
	}{
		{"peer silent: nothing heard, nothing received", RoleBackup, false,
			[]obs{{time.Second, stats(10, 0, 5)}, {5 * time.Second, stats(10, 0, 5)}}, RefillPending, 0},
		{"entries received and settled", RoleBackup, false,
			[]obs{{100 * time.Millisecond, stats(110, 100, 9)}, {200 * time.Millisecond, stats(210, 200, 12)},
				{800 * time.Millisecond, stats(210, 200, 13)}}, RefillDone, 200},
		{"still growing is not done", RoleBackup, false,
			[]obs{{100 * time.Millisecond, stats(110, 100, 9)}, {500 * time.Millisecond, stats(310, 300, 12)},
				{700 * time.Millisecond, stats(410, 400, 13)}}, RefillPending, 400},
		{"an alive message alone does not prove the request got through", RoleBackup, false,
			[]obs{{100 * time.Millisecond, stats(10, 0, 6)}, {2 * time.Second, stats(10, 0, 8)}}, RefillPending, 0},
		{"asked while heard, the peer has nothing", RoleBackup, true,
			[]obs{{100 * time.Millisecond, stats(10, 0, 6)}, {time.Second, stats(10, 0, 8)}}, RefillDone, 0},
		{"unknown role waits like a backup", RoleUnknown, false,
			[]obs{{100 * time.Millisecond, stats(20, 10, 6)}, {time.Second, stats(20, 10, 6)}}, RefillDone, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &RefillRecord{Role: tt.role, State: RefillPending, Requested: t0, LastChange: t0,
				BaseCreated: 10, BaseRecv: 5, AskedHeard: tt.askedHeard}
			for _, o := range tt.seq {
				r.Observe(o.st, t0.Add(o.after))
			}
			if r.State != tt.want || r.Received != tt.received {
				t.Errorf("state %s, received %d; want %s, %d (%+v)", r.State, r.Received, tt.want, tt.received, r)
			}
		})
	}
}

// startedSleeper starts a stand-in for conntrackd through supervise.Spawn
// with conntrackd's Started file, as every starter does.
func startedSleeper(t *testing.T, root paths.Root) *supervise.Started {
	t.Helper()
	if err := os.WriteFile(root.ConntrackdConf(), []byte("General {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := handler.EngineSpec{Name: conntrackd.EngineName, Argv: handlertest.SleepArgv(t),
		PidFile: filepath.Join(root.RunDir(), "sleeper.pid"), ConfigFile: root.ConntrackdConf(), StartedFile: root.ConntrackdStarted()}
	pid, done, err := supervise.Spawn(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL); <-done })
	st, err := ConntrackdStarted(root)
	if err != nil || st == nil || !st.Running() {
		t.Fatalf("started record %+v, %v", st, err)
	}
	return st
}

// The backup hook's resync request starts a refill recorded for the
// conntrackd that runs, and does not wait for the peer.
func TestBackupRecordsRefill(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	st := startedSleeper(t, root)
	if err := Run(context.Background(), Options{Root: root, State: Backup, Group: "MAIN", Log: zaptest.NewLogger(t), CountKernel: f.countKernel, EventsPending: f.eventsPending}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int32{21, 26, 21, 23}, f.Codes()); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	rec, err := ReadRefill(root)
	if err != nil || rec == nil {
		t.Fatalf("refill record %v, %v", rec, err)
	}
	if !rec.For(st) || rec.State != RefillPending || rec.Role != RoleBackup || rec.Attempts != 1 || rec.By != "vrrp-transition backup" {
		t.Errorf("refill record = %+v", rec)
	}
	// A ctsyncd adopting this conntrackd finishes the refill.
	if !RefillNeeded(root) {
		t.Error("RefillNeeded = false with the hook's refill still pending")
	}
	rec.State = RefillDone
	if err := WriteRefill(root, rec); err != nil {
		t.Fatal(err)
	}
	if RefillNeeded(root) {
		t.Error("RefillNeeded after a finished refill")
	}
}

// A master refill resyncs with the kernel and sends a bulk update, and
// is done when both were answered; a record never speaks for another
// process.
func TestRefillMaster(t *testing.T) {
	root, sock := newRoot(t, setup{group: "MAIN"})
	f := newFakeCT(t, sock)
	if err := setGroupState(root, "MAIN", GroupState{State: Master, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if RefillNeeded(root) {
		t.Error("RefillNeeded with no conntrackd recorded")
	}
	st := startedSleeper(t, root)
	if !RefillNeeded(root) {
		t.Error("RefillNeeded = false for a fresh start without a record")
	}
	rec, err := Refill(context.Background(), RefillOptions{Root: root, By: "ctsyncd", Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != RefillDone || rec.Role != RoleMaster || !rec.For(st) {
		t.Errorf("record = %+v", rec)
	}
	if diff := cmp.Diff([]int32{21, 1, 22, 21}, f.Codes()); diff != "" {
		t.Errorf("codes (-want +got):\n%s", diff)
	}
	other := *st
	other.StartTicks++
	if rec.For(&other) {
		t.Error("record speaks for a process with other start ticks")
	}
}

// A finished record is not replaced by an unfinished one of the same
// process: the hook's pending refill must not undo ctsyncd's done one.
func TestWriteRefillKeepsDone(t *testing.T) {
	root, _ := newRoot(t, setup{group: "MAIN"})
	done := &RefillRecord{Pid: 7, StartTicks: 9, State: RefillDone}
	if err := WriteRefill(root, done); err != nil {
		t.Fatal(err)
	}
	if err := WriteRefill(root, &RefillRecord{Pid: 7, StartTicks: 9, State: RefillPending}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadRefill(root); got.State != RefillDone {
		t.Errorf("state = %s, want done", got.State)
	}
	if err := WriteRefill(root, &RefillRecord{Pid: 8, StartTicks: 10, State: RefillPending}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadRefill(root); got.Pid != 8 {
		t.Errorf("a newer process's record was not written: %+v", got)
	}
}

// Between a commit installing facts with a renamed sync-group and the
// reload of keepalived, the running keepalived's hook (old name) still
// acts; once keepalived has loaded the new file it no longer does.
func TestHookActsForPreviousSyncGroupUntilReload(t *testing.T) {
	root, sock := newRoot(t, setup{group: "NEW"})
	if err := os.WriteFile(root.FailoverFacts(), EncodeFacts(Facts{SyncGroup: "NEW", Previous: "OLD"}), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFakeCT(t, sock)
	f.external = 5
	newConf := []byte("vrrp_sync_group NEW {}\n")
	if err := os.WriteFile(root.KeepalivedConf(), newConf, 0o644); err != nil {
		t.Fatal(err)
	}
	// keepalived still runs the file with OLD.
	if err := os.WriteFile(root.KeepalivedLoaded(), []byte(sha("vrrp_sync_group OLD {}\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Run(context.Background(), Options{Root: root, State: Master, Group: "OLD", CountKernel: f.countKernel, EventsPending: f.eventsPending}); err != nil {
		t.Fatal(err)
	}
	if rec, _ := ReadRecord(root); rec == nil || rec.Group != "OLD" || rec.Committed != 5 {
		t.Fatalf("the old keepalived's master hook did not commit: %+v", rec)
	}
	// keepalived reloaded: OLD is another group now.
	if err := os.WriteFile(root.KeepalivedLoaded(), []byte(sha(string(newConf))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(f.Codes())
	if err := Run(context.Background(), Options{Root: root, State: Backup, Group: "OLD", CountKernel: f.countKernel, EventsPending: f.eventsPending}); err != nil {
		t.Fatal(err)
	}
	if len(f.Codes()) != n {
		t.Errorf("a hook for the old name acted after the reload: %v", f.Codes()[n:])
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
