//go:build integration

package vrrp

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/lab"
	"github.com/ctsync/ctsync/internal/nstest"
)

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// labStates reads `show vrrp --json` on a lab router.
func labStates(t *testing.T, ctx context.Context, r *lab.Router) map[string]string {
	t.Helper()
	out, err := r.Show(ctx, "vrrp", "--json")
	if err != nil {
		t.Fatalf("%s: %v", r.Name, err)
	}
	var v struct{ Groups []Instance }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s: show vrrp --json: %v\n%s", r.Name, err, out)
	}
	m := map[string]string{}
	for _, g := range v.Groups {
		m[g.Name] = g.State
	}
	return m
}

// waitLab polls until `show vrrp` on r says want for both groups.
func waitLab(t *testing.T, ctx context.Context, r *lab.Router, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := labStates(t, ctx, r)
		if got["lan"] == want && got["wan"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: show vrrp says %v, want lan and wan %s", r.Name, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLabShowVRRPFailover: in the two-router lab, `show vrrp` on r1 and
// r2 says MASTER and BACKUP; after the failover (r1's traffic links
// down) the states have swapped (r2 MASTER, r1 FAULT), and after the
// failback they are back.
func TestLabShowVRRPFailover(t *testing.T) {
	nstest.Require(t, "conntrackd", "keepalived", "nft", "conntrack")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctsync, _ := nstest.Binaries(t)
	p, err := lab.StartPair(ctx, lab.PairOptions{BinDir: filepath.Dir(ctsync), WorkDir: t.TempDir(), Out: logWriter{t}})
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.Keep()
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	r1, r2 := p.Router("r1"), p.Router("r2")
	waitLab(t, ctx, r1, "MASTER")
	waitLab(t, ctx, r2, "BACKUP")
	if _, err := p.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	waitLab(t, ctx, r2, "MASTER")
	waitLab(t, ctx, r1, "FAULT")
	if _, err := p.Failback(ctx); err != nil {
		t.Fatal(err)
	}
	waitLab(t, ctx, r1, "MASTER")
	waitLab(t, ctx, r2, "BACKUP")
}
