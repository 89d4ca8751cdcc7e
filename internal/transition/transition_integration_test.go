//go:build integration

package transition

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

const integrationFlows = 10000

// syncedPair is a pair whose r2 external cache holds the n flows created
// in r1's kernel table, and whose r2 kernel table does not.
func syncedPair(t *testing.T, n int) (r1, r2 *router) {
	t.Helper()
	r1, r2 = newPair(t)
	r1.createFlows(n)
	r2.waitExternal(n, 60*time.Second)
	if k := r2.kernelCount(); k != 0 {
		t.Fatalf("r2 kernel table holds %d entries before failover, want 0", k)
	}
	return r1, r2
}

func (r *router) transition(t *testing.T, state string) error {
	var err error
	_ = r.ns.Do(func() error {
		err = Run(context.Background(), Options{Root: r.root, State: state, Group: syncGroupName, Log: zaptest.NewLogger(t)})
		return nil
	})
	return err
}

func TestIntegrationMaster(t *testing.T) {
	_, r2 := syncedPair(t, integrationFlows)
	if err := r2.transition(t, Master); err != nil {
		t.Fatalf("master transition: %v\n%s", err, r2.daemonLog())
	}
	if m := r2.missingFlows(integrationFlows); m != 0 {
		t.Fatalf("r2 kernel table lacks %d of %d synced flows after master", m, integrationFlows)
	}
	rec, err := ReadRecord(r2.root)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.OK || rec.ExternalEntries != integrationFlows || rec.Committed != integrationFlows || rec.KernelEntries < integrationFlows {
		t.Errorf("record = %+v", rec)
	}
	// Master flushes the caches and resyncs the internal cache with the
	// kernel: the external cache is empty, the internal one holds the
	// committed flows.
	cc := r2.caches()
	if cc.External != 0 || cc.Internal < integrationFlows {
		t.Errorf("r2 caches after master = %+v", cc)
	}
	t.Logf("master: commit of %d entries checked complete %v after the hook started; whole hook %v", rec.ExternalEntries, rec.KernelReady, rec.Duration)

	// Idempotent: a second master commits nothing new and succeeds.
	if err := r2.transition(t, Master); err != nil {
		t.Fatalf("second master transition: %v", err)
	}
	if m := r2.missingFlows(integrationFlows); m != 0 {
		t.Fatalf("second master lost %d flows", m)
	}
}

func TestIntegrationBackupRestartsCrashedConntrackd(t *testing.T) {
	r1, r2 := syncedPair(t, integrationFlows)
	old := r2.kill9()
	if _, err := os.Stat(r2.root.ConntrackdLock()); err != nil {
		t.Fatalf("the crash left no lock file to clear: %v", err)
	}
	if err := r2.transition(t, Backup); err != nil {
		t.Fatalf("backup transition: %v\n%s", err, r2.daemonLog())
	}
	pid := r2.pid()
	if pid == 0 || pid == old || !isConntrackd(pid, r2.root.ConntrackdConf()) {
		t.Fatalf("pid file names %d (old %d); want a new live conntrackd", pid, old)
	}
	// The new daemon starts with empty caches; backup asked r1 for a
	// resync, so the external cache fills again.
	r2.waitExternal(integrationFlows, 60*time.Second)
	rec, _ := ReadRecord(r2.root)
	if rec == nil || !rec.OK || len(rec.Steps) == 0 || rec.Steps[0].Name != "ensure-running" {
		t.Fatalf("record = %+v", rec)
	}
	t.Logf("backup: %s", rec.Steps[0].Detail)
	_ = r1

	// And the restarted daemon can take over.
	if err := r2.transition(t, Master); err != nil {
		t.Fatalf("master after restart: %v", err)
	}
	if m := r2.missingFlows(integrationFlows); m != 0 {
		t.Fatalf("r2 kernel table lacks %d flows", m)
	}
}

// Two overlapping transitions on r2: backup is called, then master while
// backup still waits behind a running transition (held here by the test
// taking the lock). The router must end as master with every flow in its
// kernel table, whichever of the two gets the lock first.
func TestIntegrationOverlappingTransitions(t *testing.T) {
	_, r2 := syncedPair(t, integrationFlows)
	held, err := lockFile(context.Background(), r2.root.TransitionLock())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() { errs <- r2.transition(t, Backup) }()
	waitSeq(t, r2.root, syncGroupName, 1)
	go func() { errs <- r2.transition(t, Master) }()
	waitSeq(t, r2.root, syncGroupName, 2)
	unlock(held)
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rec, _ := ReadRecord(r2.root)
	if rec.State != Master || rec.Seq != 2 || !rec.OK {
		t.Fatalf("record = %+v, want master seq 2", rec)
	}
	vs, _ := ReadVRRPState(r2.root)
	if vs[syncGroupName].State != Master {
		t.Errorf("vrrp state = %+v", vs)
	}
	if m := r2.missingFlows(integrationFlows); m != 0 {
		t.Fatalf("r2 kernel table lacks %d flows", m)
	}
}
