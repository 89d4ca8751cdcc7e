package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"go.uber.org/zap"

	pairmode "github.com/ctsync/ctsync/conf-mode/pair"
	"github.com/ctsync/ctsync/internal/archive"
	"github.com/ctsync/ctsync/internal/commit"
	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/configtree"
	"github.com/ctsync/ctsync/internal/pair"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/readiness"
	"github.com/ctsync/ctsync/internal/schema"
)

// startPair makes (or reads) this node's identity, puts the recorded
// maintenance or handover back into the weight file keepalived tracks,
// and hands the channel to the pair handler, whose Apply (at Boot and at
// every commit) starts it. The channel carries the pair view, handover
// requests and config sync; the failover hook never uses it.
func startPair(ctx context.Context, root paths.Root, s *schema.Schema, eng *commit.Engine, srv *configd.Server, log *zap.Logger) (*pair.Service, error) {
	id, err := pair.LoadOrCreate(root)
	if err != nil {
		return nil, err
	}
	if err := pair.RestoreWeight(root); err != nil {
		log.Error("restoring the VRRP weight from the pair state", zap.Error(err))
	}
	arch := archive.Open(root.ArchiveDir())
	coll := &pair.Collector{
		Root: root, Schema: s, Identity: id.Fingerprint,
		Running: func() (*configtree.Node, int) {
			t, _ := eng.Running()
			rev := 0
			if list, err := arch.List(); err == nil {
				for _, e := range list {
					rev = max(rev, e.Seq)
				}
			}
			return t, rev
		},
		Ready: func(ctx context.Context) (bool, string) {
			r := readiness.Evaluate(ctx, root)
			return r.Ready, r.Reason
		},
	}
	svc := &pair.Service{Identity: id, Collector: coll, Log: log.Named("pair"), Local: pairLocal{srv}}
	srv.Pair = pairSync{svc}
	// Stopping must not wait, commit lock held, for a peer's commit
	// that is only prepared here.
	go func() {
		<-ctx.Done()
		svc.DropPrepared("ctsyncd is stopping")
	}()
	svc.TakeOver = func(ctx context.Context, force bool) (string, error) {
		msg, err := pair.TakeOverLocal(ctx, coll, force)
		if err == nil {
			log.Info("taking over mastership on the peer's request", zap.Bool("force", force))
		}
		return msg, err
	}
	pairmode.Attach(svc)
	srv.Ops = map[string]func(ctx context.Context, args []string) (string, error){
		"pair-view": func(ctx context.Context, args []string) (string, error) {
			var b bytes.Buffer
			if err := pair.WriteView(&b, svc.View(ctx, true), true); err != nil {
				return "", err
			}
			return b.String(), nil
		},
		"pair-failover": func(ctx context.Context, args []string) (string, error) {
			force := false
			switch {
			case len(args) == 0:
			case len(args) == 1 && args[0] == "force":
				force = true
			default:
				return "", fmt.Errorf("usage: request high-availability failover [force]")
			}
			log.Info("handover requested", zap.Bool("force", force))
			return svc.Failover(ctx, force)
		},
	}
	srv.Ops["pair-config-diff"] = func(ctx context.Context, args []string) (string, error) {
		if len(args) != 0 {
			return "", fmt.Errorf("usage: show high-availability config-diff")
		}
		d, err := svc.Diff(ctx)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(d)
		return string(b), err
	}
	srv.Ops["pair-config-sync"] = func(ctx context.Context, args []string) (string, error) {
		user := configd.UserFrom(ctx)
		switch {
		case len(args) == 1 && args[0] == "from-peer":
			log.Info("config-sync from the peer requested", zap.String("user", user))
			return svc.SyncFromPeer(ctx, user)
		case len(args) == 1 && args[0] == "to-peer":
			log.Info("config-sync to the peer requested", zap.String("user", user))
			return svc.SyncToPeer(ctx, user)
		}
		return "", fmt.Errorf("usage: request high-availability config-sync from-peer|to-peer")
	}
	log.Info("pair identity", zap.String("identity", id.Fingerprint))
	return svc, nil
}

// pairSync gives the commit path config sync (configd.PairSync).
type pairSync struct{ svc *pair.Service }

func (p pairSync) Begin(ctx context.Context, prev, cand *configtree.Node, user string, local bool) (configd.PairTxn, string, error) {
	t, note, err := p.svc.Begin(ctx, prev, cand, user, local)
	if t == nil {
		// A nil *Txn is not a nil PairTxn.
		return nil, note, err
	}
	return t, note, err
}

// pairLocal gives config sync the commit path (pair.Local).
type pairLocal struct{ srv *configd.Server }

func (l pairLocal) Hold(ctx context.Context) (pair.Held, error) {
	h, err := l.srv.HoldCommits(ctx, pair.HoldWait)
	if err != nil {
		return nil, err
	}
	return pairHeld{h}, nil
}

type pairHeld struct{ *configd.Held }

func (h pairHeld) Commit(ctx context.Context, cand *configtree.Node, user, comment string) (int, []string, error) {
	res, seq, err := h.Held.Commit(ctx, cand, user, comment)
	if err != nil {
		return 0, nil, err
	}
	return seq, res.Messages, nil
}
