package readiness

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/handler"
	"github.com/ctsync/ctsync/internal/handler/handlertest"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/supervise"
	"github.com/ctsync/ctsync/internal/transition"
)

// fakeCT answers statistics requests with the counters it is given.
type fakeCT struct {
	mu                 sync.Mutex
	external, received uint64 // current external entries, packets received
	created            uint64
	noLink             bool
}

func (f *fakeCT) stats() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := fmt.Sprintf("cache internal:\ncurrent active connections:\t%12d\nconnections created:\t\t%12d\tfailed:\t%12d\n"+
		"connections updated:\t\t%12d\tfailed:\t%12d\nconnections destroyed:\t\t%12d\tfailed:\t%12d\n\n", 0, 0, 0, 0, 0, 0, 0)
	s += fmt.Sprintf("cache external:\ncurrent active connections:\t%12d\nconnections created:\t\t%12d\tfailed:\t%12d\n"+
		"connections updated:\t\t%12d\tfailed:\t%12d\nconnections destroyed:\t\t%12d\tfailed:\t%12d\n\n", f.external, f.created, 0, 0, 0, 0, 0)
	s += "traffic processed:\n                   0 Bytes                         0 Pckts\n\n"
	if !f.noLink {
		s += fmt.Sprintf("UDP traffic (active device=sync0):\n%20d Bytes sent %20d Bytes recv\n%20d Pckts sent %20d Pckts recv\n%20d Error send %20d Error recv\n\n",
			0, f.received*16, 0, f.received, 0, 0)
	}
	return s + "message tracking:\n                   0 Malformed msgs                    0 Lost msgs\n\n"
}

func serve(t testing.TB, path string, f *fakeCT) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var buf [4]byte
			if _, err := io.ReadFull(c, buf[:]); err == nil && int32(binary.NativeEndian.Uint32(buf[:])) == conntrackd.Stats {
				io.WriteString(c, f.stats())
			}
			c.Close()
		}
	}()
}

// spawn starts a stand-in engine through supervise.Spawn, as every
// starter does, and returns its Started record.
func spawn(t testing.TB, startedFile, pidFile, conf string) *supervise.Started {
	t.Helper()
	spec := handler.EngineSpec{Name: "stand-in", Argv: handlertest.SleepArgv(t), PidFile: pidFile, ConfigFile: conf, StartedFile: startedFile}
	pid, done, err := supervise.Spawn(spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL); <-done })
	st, err := supervise.ReadStarted(spec)
	if err != nil || st == nil {
		t.Fatal(st, err)
	}
	return st
}

func TestEvaluate(t *testing.T) {
	type setup struct {
		noConfig     bool
		noConntrackd bool
		noKeepalived bool
		// foreignKeepalived: a process named keepalived, which
		// keepalived's pid file names, runs instead.
		foreignKeepalived bool
		role              string
		refill            string // "", pending, done, failed, other (another process's)
		received          uint64
		lastHeardAgo      time.Duration // 0: heard since the last look
		noLink            bool
	}
	tests := []struct {
		name   string
		s      setup
		ready  bool
		reason []string // substrings
	}{
		{"not configured", setup{noConfig: true}, false, []string{"conntrack-sync is not configured"}},
		{"conntrackd down", setup{noConntrackd: true}, false, []string{"conntrackd is not running"}},
		{"backup refilled, peer heard", setup{role: transition.Backup, refill: "done", received: 200}, true, nil},
		{"backup resync not answered, peer silent", setup{role: transition.Backup, refill: "pending", lastHeardAgo: 10 * time.Second}, false,
			[]string{"external cache emptied by a conntrackd restart at ", "resync requested at ", "0 entries received", "peer silent: nothing received over the sync link for 10 s"}},
		{"backup resync under way", setup{role: transition.Backup, refill: "pending", received: 40}, false,
			[]string{"resync requested at ", "40 entries received"}},
		{"no refill after the start", setup{role: transition.Backup}, false, []string{"external cache emptied by a conntrackd restart", "no refill recorded"}},
		{"a refill of an earlier process does not count", setup{role: transition.Backup, refill: "other"}, false, []string{"no refill recorded"}},
		{"refill failed", setup{role: transition.Backup, refill: "failed"}, false, []string{"refill failed: boom"}},
		{"refilled but the peer went silent", setup{role: transition.Backup, refill: "done", lastHeardAgo: 5 * time.Second}, false,
			[]string{"peer silent: nothing received over the sync link for 5 s"}},
		{"keepalived down", setup{role: transition.Backup, refill: "done", noKeepalived: true}, false, []string{"keepalived is not running"}},
		{"keepalived down, a namesake in its pid file", setup{role: transition.Backup, refill: "done", noKeepalived: true, foreignKeepalived: true}, false, []string{"keepalived is not running"}},
		{"no sync channel", setup{role: transition.Backup, refill: "done", noLink: true}, false, []string{"no sync channel"}},
		{"master refilled", setup{role: transition.Master, refill: "done"}, true, nil},
		{"master not refilled", setup{role: transition.Master}, false, []string{"internal cache emptied by a conntrackd restart"}},
		{"role unknown, refilled", setup{refill: "done", received: 3}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := os.MkdirTemp("", "rdy")
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
			s := tt.s
			if !s.noConfig {
				if err := os.WriteFile(root.FailoverFacts(), transition.EncodeFacts(transition.Facts{SyncGroup: "MAIN"}), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(root.ConntrackdConf(), []byte("General {}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if s.role != "" {
				b := fmt.Sprintf(`{"MAIN": {"state": %q, "since": "2026-12-01T21:00:00Z", "seq": 1}}`, s.role)
				if err := os.WriteFile(root.VRRPState(), []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f := &fakeCT{external: s.received, created: 10 + s.received, received: 50, noLink: s.noLink}
			serve(t, root.ConntrackdSocket(), f)
			var st *supervise.Started
			if !s.noConntrackd {
				st = spawn(t, root.ConntrackdStarted(), filepath.Join(root.RunDir(), "ct.pid"), root.ConntrackdConf())
			}
			if !s.noKeepalived {
				spawn(t, root.KeepalivedStarted(), filepath.Join(root.RunDir(), "ka.pid"), "")
			}
			if s.foreignKeepalived {
				pid, _ := handlertest.Foreign(t, "keepalived", "--dont-fork", "-f", root.KeepalivedConf(), "-p", root.KeepalivedPid())
				if err := os.WriteFile(root.KeepalivedPid(), []byte(fmt.Sprintln(pid)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if st != nil && s.refill != "" {
				rf := &transition.RefillRecord{Pid: st.Pid, StartTicks: st.StartTicks, Role: transition.RoleBackup,
					State: s.refill, Requested: time.Now(), LastChange: time.Now(), BaseCreated: 10, BaseRecv: 50, Received: s.received, Attempts: 1}
				switch s.refill {
				case "other":
					rf.StartTicks++
					rf.State = transition.RefillDone
				case "failed":
					rf.Error = "boom"
				}
				if err := transition.WriteRefill(root, rf); err != nil {
					t.Fatal(err)
				}
			}
			if st != nil {
				// The previous look, a second ago.
				o := observation{Pid: st.Pid, StartTicks: st.StartTicks, Recv: 49, At: time.Now().Add(-time.Second), LastHeard: time.Now().Add(-2 * time.Second)}
				if s.lastHeardAgo > 0 {
					o.Recv = 50
					o.LastHeard = time.Now().Add(-s.lastHeardAgo)
				}
				writeObservation(root, o)
			}
			t0 := time.Now()
			rep := Evaluate(context.Background(), root)
			if took := time.Since(t0); took > watchMax {
				t.Logf("Evaluate took %v", took)
			}
			if rep.Ready != tt.ready || (tt.ready && rep.Reason != "") {
				t.Fatalf("ready = %v (%q), want %v", rep.Ready, rep.Reason, tt.ready)
			}
			for _, want := range tt.reason {
				if !strings.Contains(rep.Reason, want) {
					t.Errorf("reason %q lacks %q", rep.Reason, want)
				}
			}
		})
	}
}

// With no earlier look (ctsyncd not running), Evaluate watches the link
// for a packet, and a peer that sends nothing is silent.
func TestEvaluateWatchesWithoutObservation(t *testing.T) {
	dir, err := os.MkdirTemp("", "rdy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := paths.Root{Dir: dir}
	for _, d := range []string{root.RunDir(), root.EtcDir(), root.StateDir()} {
		_ = os.MkdirAll(d, 0o755)
	}
	_ = os.WriteFile(root.FailoverFacts(), transition.EncodeFacts(transition.Facts{SyncGroup: "MAIN"}), 0o644)
	_ = os.WriteFile(root.ConntrackdConf(), []byte("General {}\n"), 0o644)
	f := &fakeCT{received: 5}
	serve(t, root.ConntrackdSocket(), f)
	st := spawn(t, root.ConntrackdStarted(), filepath.Join(root.RunDir(), "ct.pid"), root.ConntrackdConf())
	spawn(t, root.KeepalivedStarted(), filepath.Join(root.RunDir(), "ka.pid"), "")
	_ = transition.WriteRefill(root, &transition.RefillRecord{Pid: st.Pid, StartTicks: st.StartTicks, State: transition.RefillDone})
	rep := Evaluate(context.Background(), root)
	if rep.Ready || !strings.Contains(rep.Reason, "peer silent") {
		t.Fatalf("silent peer: %+v", rep)
	}
	// A packet arrives while it watches.
	_ = os.Remove(root.PeerObservation())
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.mu.Lock()
		f.received++
		f.mu.Unlock()
	}()
	rep = Evaluate(context.Background(), root)
	if !rep.Ready {
		t.Fatalf("peer heard while watching: %+v", rep)
	}
	// The next look is a single sample: the previous one is recent.
	t0 := time.Now()
	if rep = Evaluate(context.Background(), root); !rep.Ready {
		t.Fatalf("second look: %+v", rep)
	}
	if d := time.Since(t0); d >= watchMax {
		t.Errorf("Evaluate with a recent look took %v: it watched", d)
	}
}

// BenchmarkEvaluate is what `show conntrack-sync status` spends on the
// verdict when ctsyncd keeps a recent look: one statistics request and a
// few small files.
func BenchmarkEvaluate(b *testing.B) {
	dir, err := os.MkdirTemp("", "rdy")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	root := paths.Root{Dir: dir}
	for _, d := range []string{root.RunDir(), root.EtcDir(), root.StateDir()} {
		_ = os.MkdirAll(d, 0o755)
	}
	_ = os.WriteFile(root.FailoverFacts(), transition.EncodeFacts(transition.Facts{SyncGroup: "MAIN"}), 0o644)
	_ = os.WriteFile(root.ConntrackdConf(), []byte("General {}\n"), 0o644)
	f := &fakeCT{received: 5, external: 100, created: 110}
	serve(b, root.ConntrackdSocket(), f)
	st := spawn(b, root.ConntrackdStarted(), filepath.Join(root.RunDir(), "ct.pid"), root.ConntrackdConf())
	spawn(b, root.KeepalivedStarted(), filepath.Join(root.RunDir(), "ka.pid"), "")
	_ = transition.WriteRefill(root, &transition.RefillRecord{Pid: st.Pid, StartTicks: st.StartTicks, State: transition.RefillDone})
	writeObservation(root, observation{Pid: st.Pid, StartTicks: st.StartTicks, Recv: 4, At: time.Now(), LastHeard: time.Now()})
	ctx := context.Background()
	for b.Loop() {
		if rep := Evaluate(ctx, root); !rep.Ready {
			b.Fatalf("not ready: %s", rep.Reason)
		}
		f.mu.Lock()
		f.received++ // the peer's alive messages
		f.mu.Unlock()
	}
}
