package configd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/ctsync/ctsync/internal/atomicfile"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/schema"
	"github.com/ctsync/ctsync/internal/session"
)

// AdminGroup may use the control socket besides root.
const AdminGroup = "ctsync"

// Server is ctsyncd.
type Server struct {
	Root   paths.Root
	Schema *schema.Schema
	Engine *commit.Engine
	Log    *zap.Logger

	mu       sync.Mutex
	sessions map[*session.Session]struct{}
}

// Boot brings the system to the configuration at start: first it resumes
// what the previous ctsyncd left running (adopting its engines without
// restarting them), then it commits the saved configuration if that
// differs.
func (s *Server) Boot(ctx context.Context) error {
	if prev, err := readTree(s.Root.RunningConfig()); err == nil && prev != nil {
		if _, err := s.Engine.Resume(ctx, prev); err != nil {
			s.Log.Error("resuming the previous running configuration failed", zap.Error(err))
		} else {
			s.Log.Info("resumed the previous running configuration")
		}
	} else if err != nil {
		s.Log.Warn("previous running configuration unreadable; starting empty", zap.Error(err))
	}
	saved, err := readTree(s.Root.ConfigBoot())
	if err != nil {
		return fmt.Errorf("loading %s: %w", s.Root.ConfigBoot(), err)
	}
	if saved == nil {
		return s.writeRunning()
	}
	running, _ := s.Engine.Running()
	if configtree.Equal(running, saved) {
		return s.writeRunning()
	}
	res, err := s.Engine.Commit(ctx, saved)
	if err != nil {
		return fmt.Errorf("committing %s: %w", s.Root.ConfigBoot(), err)
	}
	for _, m := range res.Messages {
		s.Log.Info(m)
	}
	return s.writeRunning()
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

// writeRunning records the running config where op-mode and the VRRP
// hook read it without asking ctsyncd.
func (s *Server) writeRunning() error {
	running, _ := s.Engine.Running()
	var b bytes.Buffer
	if err := running.Format(&b); err != nil {
		return err
	}
	return atomicfile.WriteFile(s.Root.RunningConfig(), b.Bytes(), 0o644)
}

// Running implements session.Store.
func (s *Server) Running() (*configtree.Node, int) { return s.Engine.Running() }

// Check implements session.Store.
func (s *Server) Check(ctx context.Context, c *configtree.Node) error {
	return s.Engine.Check(ctx, c)
}

// Commit implements session.Store: a successful commit is recorded in
// running.boot before it is reported.
func (s *Server) Commit(ctx context.Context, c *configtree.Node) (*commit.Result, error) {
	res, err := s.Engine.Commit(ctx, c)
	if err != nil {
		s.Log.Warn("commit failed", zap.Error(err))
		return nil, err
	}
	if err := s.writeRunning(); err != nil {
		s.Log.Error("recording the running configuration", zap.Error(err))
	}
	s.Log.Info("commit", zap.Int("revision", res.Revision), zap.Strings("messages", res.Messages))
	return res, nil
}

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

// Serve answers sessions until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go s.serveConn(ctx, c)
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	sess := session.New(s.Root, s.Schema, s)
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
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	enc := json.NewEncoder(c)
	for sc.Scan() {
		var req Request
		var resp Response
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp.Err = "malformed request: " + err.Error()
		} else {
			out, err := sess.Exec(ctx, req.Line)
			resp.Out = out
			if err != nil {
				resp.Err = err.Error()
			}
		}
		resp.Exit = sess.Exited()
		resp.Modified = sess.Modified()
		resp.Others = s.othersModified(sess)
		if err := enc.Encode(&resp); err != nil || resp.Exit {
			return
		}
	}
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
