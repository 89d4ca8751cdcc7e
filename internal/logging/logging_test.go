package logging

import (
	"errors"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
)

type sent struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

func TestJournalCore(t *testing.T) {
	var got []sent
	core := NewJournalCore(zap.InfoLevel, map[string]string{"SYSLOG_IDENTIFIER": "ctsync-vrrp-transition", RootField: "/srv/r1"},
		func(m string, p journal.Priority, v map[string]string) error {
			got = append(got, sent{m, p, v})
			return nil
		})
	log := zap.New(core).With(zap.String("state", "master"), zap.String("group", "MAIN"))
	log.Info("step done", zap.String("step", "commit"), zap.Duration("duration", 1500*time.Millisecond))
	log.Error("transition failed", zap.Error(errors.New("conntrackd: timeout")))
	log.Debug("not logged")
	want := []sent{
		{"step done state=master group=MAIN step=commit duration=1.5s", journal.PriInfo, map[string]string{
			"SYSLOG_IDENTIFIER": "ctsync-vrrp-transition", "CTSYNC_ROOT": "/srv/r1",
			"STATE": "master", "GROUP": "MAIN", "STEP": "commit", "DURATION": "1.5s"}},
		{`transition failed state=master group=MAIN error="conntrackd: timeout"`, journal.PriErr, map[string]string{
			"SYSLOG_IDENTIFIER": "ctsync-vrrp-transition", "CTSYNC_ROOT": "/srv/r1",
			"STATE": "master", "GROUP": "MAIN", "ERROR": "conntrackd: timeout"}},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(sent{})); d != "" {
		t.Fatalf("journal entries (-want +got):\n%s", d)
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"state": "STATE", "old_pid": "OLD_PID", "sync-group": "SYNC_GROUP", "_x": "X", "1st": "F_1ST", "": "F_",
	} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStderrWithoutJournal(t *testing.T) {
	old := JournalEnabled
	JournalEnabled = func() bool { return false }
	defer func() { JournalEnabled = old }()
	if _, journal := New(Options{Ident: "ctsyncd", Level: zap.InfoLevel}); journal {
		t.Fatal("logger claims the journal when there is none")
	}
}

// FuzzFieldName: every key maps to a name the journal accepts.
func FuzzFieldName(f *testing.F) {
	for _, s := range []string{"state", "old_pid", "_SYSTEMD", "9", "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		n := FieldName(key)
		if n == "" || n[0] == '_' || (n[0] >= '0' && n[0] <= '9') {
			t.Fatalf("FieldName(%q) = %q", key, n)
		}
		for _, r := range n {
			if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
				t.Fatalf("FieldName(%q) = %q: %q not allowed", key, n, r)
			}
		}
	})
}
