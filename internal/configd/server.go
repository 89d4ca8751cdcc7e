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
