package main

import (
	"bytes"
	"context"
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
// every commit) starts it. The channel carries the pair view and
// handover requests; the failover hook never uses it.
func startPair(root paths.Root, s *schema.Schema, eng *commit.Engine, srv *configd.Server, log *zap.Logger) (*pair.Service, error) {
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
	svc := &pair.Service{Identity: id, Collector: coll, Log: log.Named("pair")}
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
	log.Info("pair identity", zap.String("identity", id.Fingerprint))
	return svc, nil
}
