//go:build integration

package transition

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ctsync/ctsync/internal/conntrackd"
)

// BenchmarkMasterTransition measures, on one pair in one run, the time
// from the start of a master failover until all N synced flows are in
// r2's kernel table, three ways:
//
//   - ctsync: transition.Run(master), in process; "kernel ready" is when
//     its commit was checked complete (the whole hook, flush, resync and
//     bulk send included, is reported as ctsync-total);
//   - stock-c: the stock client's `conntrackd -C conf -c` alone;
//   - stock-seq: primary-backup.sh's master sequence, `-c`, `-f`, `-R`,
//     `-B`, one client process each; its flows are in the kernel when
//     `-c` returns, its total is the whole sequence.
//
// Before each measurement r2's kernel table is flushed and its external
// cache refilled from r1 (request resync), untimed, and one untimed
// commit warms the pair up; the order of the three rotates each iteration so that drift does not favour one. N is
// CTSYNC_BENCH_FLOWS (default 100,000). Run with
//
//	go test -tags integration -run '^$' -bench BenchmarkMasterTransition -benchtime 5x ./internal/transition/
func BenchmarkMasterTransition(b *testing.B) {
	n := 100000
	if s := os.Getenv("CTSYNC_BENCH_FLOWS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("CTSYNC_BENCH_FLOWS=%q: want a positive number", s)
		}
		n = v
	}
	r1, r2 := newPair(b)
	r1.createFlows(n)
	r2.waitExternal(n, 3*time.Minute)

	var i int // the round, for the variants' logs
	var ctsyncReady, ctsyncTotal, ctsyncOver, stockC, seqReady, seqTotal time.Duration
	variants := []func(){
		func() {
			var rec *Record
			b.StartTimer()
			t0 := time.Now()
			r2.do(func() error {
				return Run(context.Background(), Options{Root: r2.root, State: Master, Group: syncGroupName})
			})
			total := time.Since(t0)
			b.StopTimer()
			rec, err := ReadRecord(r2.root)
			if err != nil || rec == nil || rec.ExternalEntries < n {
				b.Fatalf("ctsync master: record %+v, %v", rec, err)
			}
			ctsyncReady += rec.KernelReady
			ctsyncTotal += total
			// What the hook adds to the daemon's own commit: config
			// reading, ordering, the before/after counts. This isolates
			// ctsync's cost from the commit's run-to-run variance.
			over := rec.KernelReady
			for _, st := range rec.Steps {
				if st.Name == "commit" {
					over -= st.Duration
				}
			}
			ctsyncOver += over
			b.Logf("round %d: ctsync kernel-ready %v (hook overhead %v), whole hook %v", i, rec.KernelReady, over, total)
		},
		func() {
			t0 := time.Now()
			r2.stockClient("-c")
			d := time.Since(t0)
			stockC += d
			b.Logf("round %d: stock -c %v", i, d)
		},
		func() {
			t0 := time.Now()
			r2.stockClient("-c")
			ready := time.Since(t0)
			r2.stockClient("-f")
			r2.stockClient("-R")
			r2.stockClient("-B")
			seqReady += ready
			seqTotal += time.Since(t0)
		},
	}
	// One untimed commit first: the first commit into a fresh table is
	// slower (allocation, hash growth), whichever variant would get it.
	refill(b, r2, n)
	r2.stockClient("-c")
	b.StopTimer()
	b.ResetTimer()
	for i = 0; i < b.N; i++ {
		for j := range variants {
			refill(b, r2, n)
			variants[(i+j)%len(variants)]()
			if k := r2.kernelCount(); k < n {
				b.Fatalf("after variant %d r2's kernel table holds %d entries, want %d", (i+j)%len(variants), k, n)
			}
		}
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
	b.ReportMetric(per(ctsyncReady), "ctsync-ms/op")
	b.ReportMetric(per(ctsyncTotal), "ctsync-total-ms/op")
	b.ReportMetric(per(ctsyncOver), "ctsync-overhead-ms/op")
	b.ReportMetric(per(stockC), "stock-c-ms/op")
	b.ReportMetric(per(seqReady), "stock-seq-ready-ms/op")
	b.ReportMetric(per(seqTotal), "stock-seq-total-ms/op")
	b.ReportMetric(ctsyncReady.Seconds()/stockC.Seconds(), "ctsync/stock-c")
	b.Logf("N=%d, %d rounds: flows in kernel after ctsync %.0f ms (whole hook %.0f ms), stock -c %.0f ms, stock -c -f -R -B %.0f ms (whole sequence %.0f ms); ctsync/stock-c = %.3f",
		n, b.N, per(ctsyncReady), per(ctsyncTotal), per(stockC), per(seqReady), per(seqTotal), ctsyncReady.Seconds()/stockC.Seconds())
}

// refill puts r2 back where a failover starts from: empty kernel table,
// empty internal cache, external cache holding all n flows from r1.
func refill(b *testing.B, r2 *router, n int) {
	b.Helper()
	r2.flushKernel()
	for i := 0; r2.kernelCount() != 0; i++ {
		if i > 100 {
			b.Fatalf("r2 kernel table not empty after flush: %d", r2.kernelCount())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r2.request(conntrackd.FlushInternal)
	r2.request(conntrackd.FlushExternal)
	r2.request(conntrackd.RequestResync)
	r2.waitExternal(n, 3*time.Minute)
	// Let the resync traffic settle so that it does not compete with the
	// commit being measured.
	time.Sleep(500 * time.Millisecond)
}
