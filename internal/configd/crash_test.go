package configd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/service"
)

// crashed is what a fault point panics with: the commit stops there, as
// at a SIGKILL, and the test restarts ctsyncd on the same root.
type crashed struct{ point string }

var change = []string{
	"set service conntrack-sync interface eth1 peer 198.18.10.4",
	"set high-availability vrrp group wan vrid 2",
}

// TestCrashAtEveryPoint stops a commit at every point where a crash
// leaves a different state, restarts ctsyncd, and checks that files,
// running config and archive agree on the old or the new revision, that
// the journal holds no intent, and that a following commit works.
func TestCrashAtEveryPoint(t *testing.T) {
	points := []struct {
		point   string
		forward bool // the restart finishes the commit rather than undoing it
	}{
		{"journalled", false},
		{"installed", false},
		{"applied vrrp", false},
		{"applied conntrack-sync", false},
		{"recorded", true},
		{"archived", true},
	}
	// What the commit leaves when nothing stops it.
	ref := newRig(t)
	run(t, ref.session("alice"), append(baseConfig, "commit")...)
	run(t, ref.session("bob"), append(change, "commit")...)
	newFiles := ref.files()
	for _, confirm := range []bool{false, true} {
		for _, pt := range points {
			t.Run(fmt.Sprintf("%s/confirm=%v", pt.point, confirm), func(t *testing.T) {
				r := newRig(t)
				run(t, r.session("alice"), append(baseConfig, "commit")...)
				oldFiles := r.files()
				oldSeq := len(r.entries())
				s := r.session("bob")
				run(t, s, change...)
				r.fault = func(p string) {
					if p == pt.point {
						panic(crashed{p})
					}
				}
				cmd := "commit"
				if confirm {
					cmd = "commit-confirm 5"
				}
				func() {
					defer func() {
						v := recover()
						if _, ok := v.(crashed); !ok {
							t.Fatalf("%s did not reach %s (recovered %v)", cmd, pt.point, v)
						}
					}()
					_, _ = s.Exec(context.Background(), cmd)
				}()
				r.fault = nil
				r.srv.Close()
				r.srv = nil
				r.start()

				want := oldFiles
				if pt.forward {
					want = newFiles
				}
				if diff := cmp.Diff(want, r.files()); diff != "" {
					t.Errorf("after the restart (-want +got):\n%s", diff)
				}
				running, _ := r.srv.Running()
				list := r.entries()
				e, err := r.srv.archive().GetSeq(list[0].Seq)
				if err != nil {
					t.Fatal(err)
				}
				at, _ := e.Tree()
				if !configtree.Equal(at, running) {
					t.Errorf("archive revision 0 is not the running config:\n%s", configtree.Diff(at, running))
				}
				if wantN := oldSeq + map[bool]int{false: 0, true: 1}[pt.forward]; len(list) != wantN {
					t.Errorf("archive holds %d entries, want %d", len(list), wantN)
				}
				rec, err := r.srv.journal().Read()
				if err != nil || rec.Intent != nil {
					t.Errorf("journal after the restart: %+v, %v", rec, err)
				}
				p, _ := ReadPending(r.root)
				if gotP := p != nil; gotP != (confirm && pt.forward) {
					t.Errorf("commit-confirm pending = %v, want %v", gotP, confirm && pt.forward)
				}
				if p != nil && p.Seq != list[0].Seq {
					t.Errorf("pending commit-confirm guards seq %d, archive revision 0 is seq %d", p.Seq, list[0].Seq)
				}
				next := r.session("carol")
				if p != nil {
					run(t, next, "confirm")
				}
				run(t, next, "set high-availability vrrp group wan vrid 7", "commit")
				if got, _ := r.srv.Running(); got.Get("high-availability", "vrrp", "group", "wan", "vrid") == nil {
					t.Errorf("the following commit did not land")
				}
			})
		}
	}
}

// TestConcurrentCommitsLoseNothing runs two sessions that begin at the
// same revision (revision 0 first: no commit yet) and commit at once,
// disjoint and overlapping changes; every commit reported as successful
// must be in the running config.
func TestConcurrentCommitsLoseNothing(t *testing.T) {
	for _, start := range []string{"revision 0", "later"} {
		t.Run(start, func(t *testing.T) {
			r := newRig(t)
			if start == "later" {
				run(t, r.session("alice"), append(baseConfig, "commit")...)
			}
			for i := 0; i < 20; i++ {
				a, b := r.session("alice"), r.session("bob")
				la := fmt.Sprintf("set service conntrack-sync accept-protocol %s", []string{"tcp", "udp"}[i%2])
				before, _ := r.srv.Running()
				had := before.Get("service", "conntrack-sync", "disable-external-cache") != nil
				lb := "set service conntrack-sync disable-external-cache"
				if had {
					lb = "delete service conntrack-sync disable-external-cache"
				}
				run(t, a, append(baseConfig, la)...)
				run(t, b, append(baseConfig, lb)...)
				var wg sync.WaitGroup
				var errA, errB error
				wg.Add(2)
				go func() { defer wg.Done(); _, errA = a.Exec(context.Background(), "commit") }()
				go func() { defer wg.Done(); _, errB = b.Exec(context.Background(), "commit") }()
				wg.Wait()
				running, _ := r.srv.Running()
				cmds := strings.Join(running.Commands(), "\n")
				if errA == nil && !strings.Contains(cmds, strings.TrimPrefix(la, "set ")) {
					t.Fatalf("round %d: alice's commit succeeded but is lost:\n%s", i, cmds)
				}
				if errB == nil {
					has := strings.Contains(cmds, "disable-external-cache")
					if has == had {
						t.Fatalf("round %d: bob's commit succeeded but is lost:\n%s", i, cmds)
					}
				}
				if errA != nil && errB != nil {
					t.Fatalf("round %d: both failed: %v; %v", i, errA, errB)
				}
			}
		})
	}
}

// FuzzJournal feeds the journal reader arbitrary bytes: it must never
// panic, and what it accepts must survive a write and a read.
func FuzzJournal(f *testing.F) {
	f.Add([]byte(`{"intent":{"from_revision":1,"to_revision":2,"from":"","to":"","files":[{"path":"/etc/x","old":"YQ=="}],"handlers":["vrrp"]}}`))
	f.Add([]byte(`{"kept":{"seq":3}}`))
	f.Add([]byte(``))
	f.Add([]byte(`{"intent":{"files":[{"path":"rel"}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := commit.ParseJournal(data)
		if err != nil {
			return
		}
		j := &commit.Journal{Path: t.TempDir() + "/j"}
		if err := j.Write(rec); err != nil {
			t.Fatal(err)
		}
		again, err := j.Read()
		if err != nil {
			t.Fatalf("a record written cannot be read back: %v", err)
		}
		if (rec.Intent == nil) != (again.Intent == nil) {
			t.Fatalf("intent lost in the round trip")
		}
	})
}

// FuzzDecodeRequest feeds the control socket's request decoder. What it
// accepts is one JSON object whose every key names a field of Request
// (encoding/json matches names regardless of case), never both a line
// and an op, and survives the client's encoding: encoded again and
// decoded, it is the same request.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"line":"show"}`))
	f.Add([]byte(`{"op":"restart","engine":"conntrackd"}`))
	f.Add([]byte(`{"line":"x","op":"y"}`))
	f.Add([]byte(`{"line":"x"} {}`))
	f.Add([]byte(`{"unknown":1}`))
	f.Add([]byte(`{"op":"pair-view","args":["a","b\u0000"]}`))
	f.Add([]byte(`{"query":"candidate","LINE":""}`))
	f.Add([]byte(`{"line":"set x '\ud800'"}`))
	known := map[string]bool{}
	rt := reflect.TypeOf(Request{})
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		known[strings.ToLower(name)] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if req.Line != "" && req.Op != "" {
			t.Fatalf("accepted both a line and an op: %+v", req)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatalf("accepted %q, which is not one JSON object: %v", data, err)
		}
		for k := range fields {
			if !known[strings.ToLower(k)] {
				t.Fatalf("accepted the unknown field %q in %q", k, data)
			}
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("encoding %+v: %v", req, err)
		}
		again, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("the request %+v, encoded as the client does (%s), is refused: %v", req, enc, err)
		}
		if diff := cmp.Diff(req, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("decode -> encode -> decode changed the request (-first +second):\n%s", diff)
		}
	})
}

// serve runs r's server on its socket until the test ends.
func (r *rig) serve(t *testing.T) string {
	t.Helper()
	// This server, not whichever r.srv is at cleanup: a test that
	// restarts the service must still wait for the first one's sessions,
	// which write under the root as they end.
	srv := r.srv
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = srv.Shutdown(5 * time.Second) })
	return r.root.CtsyncdSocket()
}

func request(t *testing.T, c net.Conn, line string) Response {
	t.Helper()
	b, _ := json.Marshal(Request{Line: line})
	if _, err := c.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, c)
}

func readResponse(t *testing.T, c net.Conn) Response {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp
}

// TestSessionLimitPerUser serves sessions over in-memory pipes (all of
// one unknown peer, as a connection without credentials is) in a
// synctest bubble, so that a closed session's slot is known to be free
// once the server has nothing left to do, not after a guessed pause.
func TestSessionLimitPerUser(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		var all []net.Conn
		// Before the root goes: every session ended, its last write done.
		t.Cleanup(func() {
			for _, c := range all {
				c.Close()
			}
			synctest.Wait()
		})
		open := func() net.Conn {
			c, srv := net.Pipe()
			go r.srv.serveConn(context.Background(), srv)
			all = append(all, c)
			return c
		}
		var conns []net.Conn
		for i := 0; i < MaxSessionsPerUser; i++ {
			c := open()
			if resp := request(t, c, "show"); resp.Err != "" {
				t.Fatalf("session %d: %s", i, resp.Err)
			}
			conns = append(conns, c)
		}
		resp := readResponse(t, open())
		if !strings.Contains(resp.Err, "too many sessions") || !resp.Exit {
			t.Errorf("session %d: %+v, want a too-many-sessions refusal", MaxSessionsPerUser+1, resp)
		}
		// One closed makes room.
		conns[0].Close()
		synctest.Wait()
		if resp := request(t, open(), "show"); resp.Err != "" {
			t.Fatalf("no room after closing a session: %s", resp.Err)
		}
	})
}

func TestRequestTooLong(t *testing.T) {
	r := newRig(t)
	sock := r.serve(t)
	c := r.dial(t, sock)
	go func() {
		_, _ = c.Write([]byte(`{"line":"` + strings.Repeat("x", MaxRequest+10) + "\"}\n"))
	}()
	resp := readResponse(t, c)
	if !strings.Contains(resp.Err, "longer than") || !resp.Exit {
		t.Errorf("over-long request: %+v", resp)
	}
	// ctsyncd still serves.
	c2, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if resp := request(t, c2, "show"); resp.Err != "" {
		t.Errorf("after an over-long request: %s", resp.Err)
	}
}

// TestErrorsKeepTheirMeaning: an error crosses the control socket as its
// text, its code and its config path as words, and the client's error
// is the service's sentinel for errors.Is.
func TestErrorsKeepTheirMeaning(t *testing.T) {
	r := newRig(t)
	c, err := Dial(r.serve(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, l := range baseConfig {
		if resp, err := c.Exec(l); err != nil || resp.Err != "" {
			t.Fatalf("%s: %v %s", l, err, resp.Err)
		}
	}
	tests := []struct {
		line     string
		code     service.Code
		path     []string
		sentinel error
	}{
		{"set high-availability vrrp group wan priority 999", service.CodeInvalidConfig, []string{"high-availability", "vrrp", "group", "wan", "priority", "999"}, service.ErrInvalidConfig},
		{"delete service conntrack-sync interface", service.CodeInvalidConfig, []string{"service", "conntrack-sync", "interface"}, service.ErrInvalidConfig},
		{"load missing.boot", service.CodeNotFound, nil, os.ErrNotExist},
		{"show", "", nil, nil},
	}
	for _, tt := range tests {
		resp, err := c.Exec(tt.line)
		if err != nil {
			t.Fatal(err)
		}
		if tt.line == "delete service conntrack-sync interface" {
			// The deletion is fine; the commit of it is not.
			if resp, err = c.Exec("commit"); err != nil {
				t.Fatal(err)
			}
		}
		if resp.Code != tt.code || !slices.Equal(resp.Path, tt.path) {
			t.Errorf("%s: code %q path %q, want %q %q (%s)", tt.line, resp.Code, resp.Path, tt.code, tt.path, resp.Err)
		}
		if got := resp.Failure(); (tt.sentinel == nil) != (got == nil && resp.Err == "") || (tt.sentinel != nil && !errors.Is(got, tt.sentinel)) {
			t.Errorf("%s: Failure() = %v, want %v", tt.line, got, tt.sentinel)
		}
	}
	// An op's error comes back the same way.
	if _, err := c.Operate("restart", "named-daemon"); err == nil {
		t.Error("restart of an unknown engine passed")
	}
	if _, err := c.Do(Request{Op: "reboot"}); err == nil || errors.Is(err, service.ErrCommitInProgress) {
		t.Errorf("unknown operation: %v", err)
	}
}
