package configd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/migrate"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/service"
	"github.com/ctsync/ctsync/internal/session"
	"github.com/ctsync/ctsync/internal/transition"
)

// AdminGroup may use the control socket besides root.
const AdminGroup = "ctsync"

// Server is ctsyncd.
type Server struct {
	Root   paths.Root
	Schema *schema.Schema
	Engine *commit.Engine
	Log    *zap.Logger
	// Archive keeps every commit; nil means the one under Root.
	Archive *archive.Archive
	// ConfirmUnit is what one commit-confirm minute lasts; zero means a
	// minute. ctsyncd shortens it for demos and tests of the binary
	// (CTSYNC_CONFIRM_UNIT); unit tests run on synctest's clock instead.
	ConfirmUnit time.Duration
	// Fault, when set, is called where a crash of ctsyncd leaves a
	// different state ("recorded", "archived"), for tests.
	Fault func(point string)
	// Engines restarts supervised engines for `restart conntrack-sync`;
	// nil refuses such requests.
	Engines Restarter
	// Ops are more op-mode requests, by Request.Op, that other parts of
	// ctsyncd answer (the pair channel's "pair-view", "pair-failover").
	Ops map[string]func(ctx context.Context, args []string) (string, error)
	// Pair, when set, makes a commit that changes the synced part a
	// commit of the pair (config sync).
	Pair PairSync

	mu       sync.Mutex
	sessions map[*session.Session]struct{}
	perUser  map[int]int // open sessions by peer uid
	open     map[net.Conn]struct{}
	stopping bool
	conns    sync.WaitGroup // sessions being served

	// cmu serializes commits with the archive and the pending
	// commit-confirm, which must move together.
	cmu     sync.Mutex
	pending *Pending
	timer   *time.Timer
	closed  bool
}

// Boot brings the system to the configuration at start. First it
// finishes or undoes a commit the previous ctsyncd left in the journal.
// Then, when a running configuration is recorded under the run
// directory, this is a restart of ctsyncd, not a boot: it resumes that
// configuration (adopting the engines, restarting only those that run a
// file other than the installed one) and keeps a pending commit-confirm
// counting down (or rolls it back at once when the deadline passed while
// it was down). Otherwise it is a boot: it commits the saved
// configuration. A saved configuration that is corrupt, truncated or
// invalid is renamed config.boot.bad-TIME and the last good archived
// revision runs instead, which the log and `show system commit` say
// loudly.
func (s *Server) Boot(ctx context.Context) error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	// No session survives a restart: neither does their count.
	s.recordSessions()
	s.recoverJournal()
	prev, err := readTree(s.Root.FullRunningConfig())
	if err != nil {
		s.Log.Warn("previous running configuration unreadable; booting from the saved one", zap.Error(err))
	}
	if prev != nil {
		if _, err := s.Engine.Resume(ctx, prev); err != nil {
			s.Log.Error("resuming the previous running configuration failed", zap.Error(err))
		} else {
			s.Log.Info("resumed the previous running configuration")
		}
		if p := s.pending; p != nil {
			if !p.Deadline.After(time.Now()) {
				s.Log.Warn("a commit-confirm expired while ctsyncd was down: rolling back now", zap.Int("archive", p.Seq), zap.Time("deadline", p.Deadline))
				s.rollbackPending()
			} else {
				s.arm(time.Until(p.Deadline))
				s.Log.Warn("a commit-confirm is pending: confirm it, or ctsyncd rolls back", zap.Int("archive", p.Seq), zap.Time("deadline", p.Deadline))
			}
		}
		return s.writeRunning()
	}
	if p := s.pending; p != nil {
		// A boot with a commit-confirm pending: the unconfirmed
		// configuration is not running (nothing is), and config.boot
		// holds what was saved before it (save refuses while one is
		// pending). Booting from it is the rollback.
		s.note(p.Seq, fmt.Sprintf("not confirmed: the system restarted before %s", p.Deadline.Local().Format("15:04:05")))
		s.pending = nil
		if err := s.writeJournal(); err != nil {
			s.Log.Error("ending the commit-confirm", zap.Error(err))
		}
	}
	saved, err := s.readSaved()
	if err != nil {
		return s.fallback(ctx, err)
	}
	_ = atomicfile.Remove(s.Root.BootNotice()) // a clean start: old news
	if saved == nil {
		return s.writeRunning()
	}
	running, _ := s.Engine.Running()
	if configtree.Equal(running, saved) {
		return s.writeRunning()
	}
	res, _, err := s.commitLocked(ctx, saved, intentMeta{Kind: archive.KindBoot, User: "ctsyncd", Comment: "start: committed " + s.Root.ConfigBoot()})
	if err != nil {
		s.notice(fmt.Sprintf("%s was not applied at start (%v); running the configuration ctsyncd had before", s.Root.ConfigBoot(), oneLine(err)))
		if werr := s.writeRunning(); werr != nil {
			s.Log.Error("recording the running configuration", zap.Error(werr))
		}
		return fmt.Errorf("committing %s: %w", s.Root.ConfigBoot(), err)
	}
	for _, m := range res.Messages {
		s.Log.Info(m)
	}
	return nil
}

// readSaved reads config.boot, migrating it when an older release or
// another system wrote it; (nil, nil) when there is none.
func (s *Server) readSaved() (*configtree.Node, error) {
	data, err := os.ReadFile(s.Root.ConfigBoot())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t, rep, err := migrate.Load(data, s.Schema)
	if err != nil {
		return nil, err
	}
	for _, l := range rep.Lines() {
		s.Log.Warn("config.boot: " + l)
	}
	if err := s.Schema.Validate(t); err != nil {
		return nil, fmt.Errorf("invalid: %s", oneLine(err))
	}
	return t, nil
}

// fallback handles a saved configuration that cannot be used at all: it
// keeps the file for inspection and runs the newest archived revision
// that still validates.
func (s *Server) fallback(ctx context.Context, why error) error {
	bad := s.Root.ConfigBoot() + ".bad-" + time.Now().Format("20060102-150405")
	if err := os.Rename(s.Root.ConfigBoot(), bad); err != nil {
		s.Log.Error("could not set the bad config.boot aside", zap.Error(err))
		bad = s.Root.ConfigBoot()
	}
	list, err := s.archive().List()
	if err != nil {
		s.Log.Error("reading the commit archive", zap.Error(err))
	}
	for _, m := range list {
		e, err := s.archive().GetSeq(m.Seq)
		if err != nil {
			continue
		}
		t, err := e.Tree()
		if err != nil || s.Schema.Validate(t) != nil {
			continue
		}
		running, _ := s.Engine.Running()
		if !configtree.Equal(running, t) {
			if _, _, err := s.commitLocked(ctx, t, intentMeta{Kind: archive.KindBoot, User: "ctsyncd",
				Comment: fmt.Sprintf("start: config.boot unusable; fell back to revision seq %d", e.Seq)}); err != nil {
				s.Log.Error("committing the archived revision failed", zap.Int("archive", e.Seq), zap.Error(err))
				continue
			}
		}
		s.notice(fmt.Sprintf("%s was unusable (%s); it is kept as %s; running the last good archived revision (seq %d, committed %s by %s)",
			s.Root.ConfigBoot(), oneLine(why), bad, e.Seq, e.Time.Local().Format("2006-01-02 15:04:05"), e.User))
		return s.writeRunning()
	}
	s.notice(fmt.Sprintf("%s was unusable (%s); it is kept as %s; no good archived revision: running the configuration ctsyncd had before",
		s.Root.ConfigBoot(), oneLine(why), bad))
	return s.writeRunning()
}

// notice says something the operator must not miss: in the log as an
// error, and in `show system commit` until the next clean start.
func (s *Server) notice(msg string) {
	s.Log.Error(msg)
	line := time.Now().Format("2006-01-02 15:04:05") + " " + msg + "\n"
	if err := os.MkdirAll(s.Root.StateDir(), 0o750); err == nil {
		_ = atomicfile.WriteFile(s.Root.BootNotice(), []byte(line), 0o640)
	}
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// readTree parses a config.boot file; a missing file is (nil, nil).
func readTree(path string) (*configtree.Node, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return configtree.Parse(f)
}

// Running implements session.Service.
func (s *Server) Running() (*configtree.Node, int) { return s.Engine.Running() }

// Listen opens the control socket, mode 0660 with the admin group when it
// exists, so only root and that group can change the configuration.
func (s *Server) Listen() (net.Listener, error) {
	path := s.Root.CtsyncdSocket()
	if err := os.MkdirAll(s.Root.RunDir(), 0o755); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another ctsyncd is serving %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	if g, err := user.LookupGroup(AdminGroup); err == nil {
		if gid, err := strconv.Atoi(g.Gid); err == nil {
			_ = os.Chown(path, 0, gid)
		}
	}
	return ln, nil
}

// Serve answers sessions until ctx ends. A request being answered when
// ctx ends is answered in full: requests run on a context ctx's end does
// not cancel, so a commit under way finishes or rolls back rather than
// stopping half-way; Shutdown then waits for it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	reqCtx := context.WithoutCancel(ctx)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			c.Close()
			continue
		}
		if s.open == nil {
			s.open = map[net.Conn]struct{}{}
		}
		s.open[c] = struct{}{}
		s.conns.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.conns.Done()
			defer func() {
				s.mu.Lock()
				delete(s.open, c)
				s.mu.Unlock()
			}()
			s.serveConn(reqCtx, c)
		}()
	}
}

// Shutdown ends every session once the request it is answering (if any)
// is answered, and waits, at most grace, for that and for a commit under
// way to finish. Call it after Serve returned.
func (s *Server) Shutdown(grace time.Duration) error {
	s.mu.Lock()
	s.stopping = true
	for c := range s.open {
		// Wakes a session waiting for its next request; one answering a
		// request writes its answer, then finds the read deadline passed.
		_ = c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.conns.Wait()
		// A commit-confirm's rollback runs on its timer, not a session.
		s.cmu.Lock()
		s.closed = true
		if s.timer != nil {
			s.timer.Stop()
		}
		s.cmu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		return fmt.Errorf("a request or commit still runs after %s: stopping anyway (the next start finishes or undoes it from the commit journal)", grace)
	}
}

// MaxRequest bounds one request line.
const MaxRequest = 1 << 20

// MaxSessionsPerUser bounds the sessions one uid holds open at once.
const MaxSessionsPerUser = 16

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	enc := json.NewEncoder(c)
	cred := peerCred(c)
	uid := -1
	if cred != nil {
		uid = int(cred.Uid)
	}
	s.mu.Lock()
	if s.perUser == nil {
		s.perUser = map[int]int{}
	}
	if s.perUser[uid] >= MaxSessionsPerUser {
		s.mu.Unlock()
		_ = enc.Encode(&Response{Err: fmt.Sprintf("too many sessions: uid %d holds %d open (the limit); close one and try again", uid, MaxSessionsPerUser), Exit: true})
		return
	}
	s.perUser[uid]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.perUser[uid]--
		s.mu.Unlock()
	}()
	sess := session.New(s.Root, s.Schema, s)
	sess.SetUser(userName(cred))
	ctx = context.WithValue(ctx, userKey{}, userName(cred))
	if cred != nil {
		sess.SetFiles(&peerFiles{cred: *cred})
	}
	// Secrets are root's: any other user (the ctsync group) sees them
	// masked, as VyOS shows them only to admins.
	sess.SetHideSecrets(cred == nil || cred.Uid != 0)
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = map[*session.Session]struct{}{}
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		s.recordSessions()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64*1024), MaxRequest)
	for sc.Scan() {
		resp := s.answer(ctx, sess, sc.Bytes())
		if err := enc.Encode(&resp); err != nil || resp.Exit {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		_ = enc.Encode(&Response{Err: fmt.Sprintf("request refused: longer than %d bytes; the session ends", MaxRequest), Code: service.CodeTooLarge, Exit: true})
	}
}

// answer runs one request line of sess.
func (s *Server) answer(ctx context.Context, sess *session.Session, line []byte) Response {
	var resp Response
	req, err := DecodeRequest(line)
	if err != nil {
		resp.fail(err)
	} else if req.Op != "" {
		out, err := s.operate(ctx, req)
		resp.Out = out
		if err != nil {
			resp.fail(err)
		}
	} else if req.Query == "candidate" {
		resp.Out = strings.Join(sess.CandidateShown().Commands(), "\n")
	} else if req.Query != "" {
		resp.Err = "unknown query " + strconv.Quote(req.Query)
	} else {
		out, err := sess.Exec(ctx, req.Line)
		resp.Out = out
		if err != nil {
			resp.fail(err)
		}
	}
	resp.Exit = sess.Exited()
	resp.Level = sess.Level()
	resp.Modified = sess.Modified()
	resp.Others = s.othersModified(sess)
	resp.ConfirmBy = s.confirmBy()
	s.recordSessions()
	return resp
}

// othersModified counts the other sessions with uncommitted changes.
func (s *Server) othersModified(self *session.Session) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for o := range s.sessions {
		if o != self && o.Modified() {
			n++
		}
	}
	return n
}

// recordSessions writes how many sessions hold uncommitted changes, for
// `show system commit`.
func (s *Server) recordSessions() {
	s.mu.Lock()
	n := 0
	for o := range s.sessions {
		if o.Modified() {
			n++
		}
	}
	s.mu.Unlock()
	_ = atomicfile.WriteFile(s.Root.EditSessions(), []byte(strconv.Itoa(n)+"\n"), 0o644)
}

// peerCred is the credentials of the process at the other end of a
// session's socket (SO_PEERCRED), nil when unknown.
func peerCred(c net.Conn) *syscall.Ucred {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return nil
	}
	return cred
}

// userName names a peer, for the commit archive.
func userName(cred *syscall.Ucred) string {
	if cred == nil {
		return "unknown"
	}
	uid := strconv.Itoa(int(cred.Uid))
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return "uid " + uid
}

// confirmBy is when a pending commit-confirm rolls back, "" when none.
func (s *Server) confirmBy() string {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.pending == nil {
		return ""
	}
	return s.pending.Deadline.Local().Format("15:04:05")
}

// Restarter restarts a supervised engine with the spec it runs with.
type Restarter interface {
	Restart(ctx context.Context, name string) (oldPid, newPid int, err error)
}

// operate runs an op-mode request. A restart waits for no commit: it is
// refused while one runs, since the commit may be replacing the very
// engine (and its config) being restarted.
func (s *Server) operate(ctx context.Context, req Request) (string, error) {
	if f, ok := s.Ops[req.Op]; ok {
		return f(ctx, req.Args)
	}
	switch req.Op {
	case "restart":
		if s.Engines == nil {
			return "", errors.New("this ctsyncd supervises no engines")
		}
		if !s.cmu.TryLock() {
			return "", service.ErrCommitInProgress
		}
		defer s.cmu.Unlock()
		if s.Engine.Busy() {
			return "", service.ErrCommitInProgress
		}
		if req.Engine == conntrackd.EngineName {
			// Never under a master transition that is committing from
			// conntrackd's external cache: wait for it (the hook is
			// bounded by its timeout) and keep the next one waiting
			// until conntrackd is back.
			hctx, cancel := context.WithTimeout(ctx, transition.DefaultTimeout+5*time.Second)
			release, err := transition.HoldLock(hctx, s.Root)
			cancel()
			if err != nil {
				return "", err
			}
			defer release()
		}
		old, now, err := s.Engines.Restart(ctx, req.Engine)
		if err != nil {
			return "", err
		}
		s.Log.Info("engine restarted on request", zap.String("engine", req.Engine), zap.Int("old_pid", old), zap.Int("pid", now))
		return Restarted{Engine: req.Engine, Pid: now, PreviousPid: old}.String(), nil
	}
	return "", fmt.Errorf("unknown operation %q", req.Op)
}
