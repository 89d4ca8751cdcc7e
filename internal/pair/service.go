package pair

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// PollInterval is how often a node asks its peer for its status.
const PollInterval = 2 * time.Second

// DefaultPort is the channel's TCP port.
const DefaultPort = 3790

// Config is the channel's configuration, from high-availability pair.
type Config struct {
	Name         string
	PeerAddress  string
	PeerIdentity string
	// LocalAddress is where the channel listens and dials from, already
	// resolved (the conntrack-sync interface's address by default).
	LocalAddress string
	Port         int
}

// Service runs the channel inside ctsyncd: a listener that answers only
// the pinned peer, and a poller that asks it for its status. Configure
// starts, rebinds and stops it; a commit's Apply calls it.
type Service struct {
	Identity  *Identity
	Collector *Collector
	Log       *zap.Logger
	// TakeOver makes this node master on the peer's request (see
	// Handover); nil refuses.
	TakeOver func(ctx context.Context, force bool) (string, error)
	// Local is this node's config service, for config sync; nil
	// refuses the peer's commits.
	Local Local

	// syncMu guards prep, the commit of the pair prepared here, and
	// agreed, the last agreed hash recorded.
	syncMu sync.Mutex
	prep   *prepared
	agreed string

	mu      sync.Mutex
	cfg     *Config
	ln      net.Listener
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	peer    *NodeStatus
	peerAt  time.Time
	lastErr error
	// refused is the last incoming connection refused for its key.
	refused   error
	refusedAt time.Time
}

// Configured is the running channel config, nil when off.
func (s *Service) Configured() *Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg == nil {
		return nil
	}
	c := *s.cfg
	return &c
}

// Configure moves the channel to cfg (nil: off). The same config twice
// changes nothing, so Apply may run it again; a new one closes the old
// listener and binds the new one before it returns, so a commit learns
// of an address it cannot bind.
func (s *Service) Configure(cfg *Config) error {
	s.mu.Lock()
	same := (s.cfg == nil && cfg == nil) || (s.cfg != nil && cfg != nil && *s.cfg == *cfg)
	s.mu.Unlock()
	if same {
		return nil
	}
	s.Stop()
	if cfg == nil {
		return nil
	}
	addr := net.JoinHostPort(cfg.LocalAddress, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	c := *cfg
	s.cfg, s.ln, s.cancel = &c, ln, cancel
	s.peer, s.peerAt, s.lastErr, s.refused = nil, time.Time{}, nil, nil
	s.mu.Unlock()
	s.Collector.SetName(cfg.Name)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.serve(ctx, ln, c) }()
	go func() { defer s.wg.Done(); s.poll(ctx, c) }()
	s.Log.Info("pair channel up", zap.String("listen", addr), zap.String("peer", cfg.PeerAddress))
	return nil
}

// Stop closes the channel and waits for its goroutines, except one
// running a commit the peer asked for (a commit may reconfigure the
// channel itself). A commit of the pair prepared here is dropped.
func (s *Service) Stop() {
	s.DropPrepared("the pair channel stopped")
	s.mu.Lock()
	ln, cancel := s.ln, s.cancel
	s.ln, s.cancel, s.cfg = nil, nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if ln != nil {
		ln.Close()
	}
	s.wg.Wait()
}

func (s *Service) serve(ctx context.Context, ln net.Listener, cfg Config) {
	tc := serverConfig(s.Identity, cfg.PeerIdentity, func(err error) {
		var me *MismatchError
		if errors.As(err, &me) {
			s.mu.Lock()
			s.refused, s.refusedAt = err, time.Now()
			s.mu.Unlock()
		}
	})
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// Only the peer's address may talk; the pin is the real check,
		// this keeps strangers from costing a handshake.
		if host, _, _ := net.SplitHostPort(c.RemoteAddr().String()); !sameIP(host, cfg.PeerAddress) {
			s.Log.Warn("pair channel: refused a connection from an address that is not the peer's", zap.String("from", c.RemoteAddr().String()))
			c.Close()
			continue
		}
		conns.Add(1)
		go func() {
			var once sync.Once
			detach := func() { once.Do(conns.Done) }
			defer detach()
			s.answer(ctx, tls.Server(c, tc), detach)
		}()
	}
}

func sameIP(a, b string) bool {
	x, y := net.ParseIP(a), net.ParseIP(b)
	return x != nil && y != nil && x.Equal(y)
}

// answer serves one request on one connection: the handshake and the
// request within IOTimeout, the answer within its op's bound. detach
// tells Stop not to wait for this answer.
func (s *Service) answer(ctx context.Context, c *tls.Conn, detach func()) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(IOTimeout))
	if err := c.HandshakeContext(ctx); err != nil {
		s.Log.Warn("pair channel: handshake refused", zap.String("from", c.RemoteAddr().String()), zap.Error(err))
		return
	}
	req, err := DecodeRequest(c)
	if err != nil {
		_ = writeMsg(c, &Response{Err: err.Error()}, MaxResponse)
		return
	}
	limit := timeoutFor(req.Op)
	_ = c.SetDeadline(time.Now().Add(limit))
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var resp Response
	switch req.Op {
	case OpSynced:
		resp.Synced = s.syncedInfo()
	case OpPrepare:
		resp = s.prepare(rctx, req)
	case OpCommit:
		// A commit runs to its end: not cut by Stop (the commit may
		// reconfigure this very channel, whose Stop would wait for it).
		detach()
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		defer ccancel()
		resp = s.commitPrepared(cctx, req)
	case OpAbort:
		s.abortPrepared(req.ID, "aborted by the peer")
	case OpStatus:
		resp.Status = s.Collector.Collect(rctx)
	case OpTakeover:
		if s.TakeOver == nil {
			resp.Err = "this node takes no handover"
			break
		}
		msg, err := s.TakeOver(rctx, req.Force)
		resp.Message = msg
		if err != nil {
			resp.Err = err.Error()
		}
	}
	_ = writeMsg(c, &resp, MaxResponse)
}

// Ask sends one request to the peer and returns its answer, within
// IOTimeout.
func (s *Service) Ask(ctx context.Context, req Request) (*Response, error) {
	cfg := s.Configured()
	if cfg == nil {
		return nil, errors.New("high-availability pair is not configured")
	}
	return ask(ctx, s.Identity, *cfg, req)
}

func ask(ctx context.Context, id *Identity, cfg Config, req Request) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeoutFor(req.Op))
	defer cancel()
	d := &tls.Dialer{
		NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(cfg.LocalAddress)}},
		Config:    clientConfig(id, cfg.PeerIdentity),
	}
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(cfg.PeerAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, err
	}
	c := raw.(*tls.Conn)
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if err := writeMsg(c, &req, maxFor(req.Op)); err != nil {
		return nil, err
	}
	var resp Response
	if _, err := readMsg(c, MaxResponse, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

func (s *Service) poll(ctx context.Context, cfg Config) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		s.PollOnce(ctx, cfg)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PollOnce asks the peer for its status now and records the answer.
func (s *Service) PollOnce(ctx context.Context, cfg Config) {
	resp, err := ask(ctx, s.Identity, cfg, Request{Op: OpStatus})
	if err == nil && resp.Err != "" {
		err = errors.New(resp.Err)
	}
	if err == nil && resp.Status == nil {
		err = errors.New("the peer sent no status")
	}
	if err == nil && ctx.Err() == nil {
		s.noteAgreement(resp.Status.SyncedHash)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil || s.cfg == nil || *s.cfg != cfg {
		return // reconfigured meanwhile: the answer is about an old peer
	}
	if err != nil {
		s.lastErr = err
		return
	}
	s.peer, s.peerAt, s.lastErr = resp.Status, time.Now(), nil
}

// View is the pair view now. With fresh set, it asks the peer first
// rather than show an answer up to PollInterval old.
func (s *Service) View(ctx context.Context, fresh bool) *View {
	if cfg := s.Configured(); cfg != nil && fresh {
		s.PollOnce(ctx, *cfg)
	}
	local := s.Collector.Collect(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := &View{Local: local, Channel: ChannelNotConfigured}
	if s.cfg == nil {
		v.Alarms = ComputeAlarms(v)
		return v
	}
	v.Configured, v.PeerAddress = true, s.cfg.PeerAddress
	now := time.Now()
	if !s.peerAt.IsZero() {
		at := s.peerAt.UTC()
		ago := now.Sub(s.peerAt).Seconds()
		v.PeerAnswered, v.PeerAgoS = &at, &ago
		v.Peer = s.peer
	}
	fresh = !s.peerAt.IsZero() && now.Sub(s.peerAt) < StaleAfter
	var me *MismatchError
	switch {
	case errors.As(s.lastErr, &me):
		v.Channel, v.ChannelInfo = ChannelMismatch, strings.TrimPrefix(me.Error(), "identity mismatch: ")
	case s.refused != nil && now.Sub(s.refusedAt) < StaleAfter:
		v.Channel, v.ChannelInfo = ChannelMismatch, fmt.Sprintf("a connection from %s was refused: %v", s.cfg.PeerAddress, s.refused)
	case s.lastErr != nil && isRemoteCertRefusal(s.lastErr):
		v.Channel, v.ChannelInfo = ChannelMismatch, "the peer refused this node's identity: pin "+s.Identity.Fingerprint+" as peer-identity on the peer"
	case fresh:
		v.Channel = ChannelUp
	default:
		v.Channel = ChannelUnreachable
		if s.lastErr != nil {
			v.ChannelInfo = s.lastErr.Error()
		}
	}
	if v.Channel != ChannelUp {
		// A stale status is shown with its age, but it raises no alarms
		// of its own: "peer unreachable" says it all.
		if !fresh {
			v.Peer = nil
		}
	}
	v.Alarms = ComputeAlarms(v)
	return v
}

// isRemoteCertRefusal tells a TLS alert from the peer: in TLS 1.3 the
// client's handshake ends before the server has checked the client's
// certificate, so a peer that refuses this node's key says so with an
// alert on the first read ("remote error: tls: bad certificate").
func isRemoteCertRefusal(err error) bool {
	return strings.Contains(err.Error(), "remote error: tls:")
}
