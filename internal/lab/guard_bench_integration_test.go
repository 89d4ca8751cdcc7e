//go:build integration

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/vishvananda/netns"

	"github.com/ctsync/ctsync/internal/guard"
	"github.com/ctsync/ctsync/internal/nstest"
)

// BenchmarkFailoverGuard is issue 9's failover figures, in one run: the
// longest gap and the flows alive at failover r1->r2, and r2's resets
// (TcpOutRsts), for
//
//   - stock: conntrackd and keepalived with conntrack-tools'
//     primary-backup.sh as the sync-group's notify script (what VyOS and
//     most pairs run), advert 1 s, no guard;
//   - ctsync, advert 1 s;
//   - ctsync, advert 0.1 s with VRRP version 3;
//   - ctsync, advert 1 s, disable-external-cache (states go straight
//     into the backup's kernel table: nothing to commit);
//
// each at 200 synced entries (the live flows alone: 100 where the client
// sends, 100 where the server sends) and at 100,000 more made in r1's
// kernel over netlink. For ctsync it also reports, from r2's hook record,
// the time from the master hook's start until the guard's drop rule was
// lifted, and for both, after the failback that follows each failover,
// how much of the table r1's internal cache and r2's external cache hold.
// The stock pair uses the very conntrackd.conf and keepalived.conf ctsync
// generated, with only the notify scripts replaced. tcp_loose=0.
//
//	go test -tags integration -run '^$' -bench FailoverGuard -benchtime 1x -timeout 40m ./internal/lab/
//
// (scripts/bench-failover-lab.sh; make bench runs it.) CTSYNC_BENCH_ONLY=
// part of a variant's name runs only that variant.
func BenchmarkFailoverGuard(b *testing.B) {
	variants := []struct {
		name         string
		stock, noExt bool
		o            PairOptions
	}{
		{"stock conntrackd+keepalived, primary-backup.sh, advert 1s", true, false, PairOptions{}},
		{"ctsync, advert 1s", false, false, PairOptions{}},
		{"ctsync, advert 0.1s (VRRPv3)", false, false, PairOptions{AdvertInterval: 100 * time.Millisecond, VRRPVersion: 3}},
		{"ctsync, advert 1s, disable-external-cache", false, true, PairOptions{ExtraLines: map[string][]string{
			"r1": {"set service conntrack-sync disable-external-cache"},
			"r2": {"set service conntrack-sync disable-external-cache"},
		}}},
	}
	// 100,000 twice: the stock resets are a race, one sample says little.
	sizes := []int{0, 100000, 100000}
	var rows []benchRow
	only := os.Getenv("CTSYNC_BENCH_ONLY") // a part of a variant's name: run that one
	for _, v := range variants {
		if only != "" && !strings.Contains(v.name, only) {
			continue
		}
		for i := 0; i < b.N; i++ {
			rows = append(rows, runVariant(b, v.name, v.stock, v.noExt, v.o, sizes)...)
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(w, "\nfailover r1->r2, tcp_loose=0\t")
	fmt.Fprintln(w, "variant\tsynced entries\tflows alive (client sends + server sends)\tlongest gap\tr2 TcpOutRsts\tkernel ready\tguard lifted after\tafter the failback: r1 internal, r2 external\t")
	var notes []string
	for _, r := range rows {
		if r.note != "" {
			notes = append(notes, fmt.Sprintf("%s: not measured: %s", r.variant, r.note))
			continue
		}
		after := "-"
		if r.afterIn >= 0 {
			after = fmt.Sprintf("%d, %d", r.afterIn, r.afterExt)
		}
		fmt.Fprintf(w, "%s\t%d\t%d/%d (%d + %d)\t%.2f s\t%d\t%s\t%s\t%s\t\n", r.variant, r.synced, r.alive, r.flows, r.aliveCS, r.aliveSS,
			r.gap.Seconds(), r.rsts, ms(r.kernelReady), ms(r.guardLifted), after)
	}
	w.Flush()
	for _, n := range notes {
		fmt.Println(n)
	}
}

type benchRow struct {
	variant                  string
	synced                   int
	flows, alive             int
	aliveCS, aliveSS         int
	gap                      time.Duration
	rsts                     uint64
	kernelReady, guardLifted time.Duration
	// afterIn and afterExt are r1's internal and r2's external cache
	// sizes after the failback that follows (-1: not measured).
	afterIn, afterExt int
	note              string // why the variant was not measured
}

// afterFailback waits for r1's master script (ctsync's hook records its
// run; the stock script does not, so it gets 10 s, three times what it
// takes) and for r1's dying list, then reads r1's internal and r2's
// external cache sizes.
func afterFailback(ctx context.Context, p *Pair, stock bool, since time.Time) (int, int, error) {
	if stock {
		time.Sleep(10 * time.Second)
	} else if _, err := p.WaitTransition(ctx, "r1", "master", since, time.Minute); err != nil {
		return -1, -1, err
	}
	if err := p.WaitNoDying(ctx, "r1", time.Minute); err != nil {
		return -1, -1, err
	}
	// Events delivered a moment ago may still be in conntrackd's socket.
	time.Sleep(2 * time.Second)
	in, err := p.Cache(ctx, "r1", "internal")
	if err != nil {
		return -1, -1, err
	}
	ext, err := p.External(ctx, "r2")
	return in, ext, err
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

// runVariant starts one pair and fails it over once per size (filler
// entries on top of the 200 live flows), failing back between. A step
// that fails ends the variant with a row that says why; the other
// variants still run.
func runVariant(b *testing.B, name string, stock, noExt bool, o PairOptions, sizes []int) (rows []benchRow) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	p, err := startBenchPair(b, ctx, o)
	if err != nil {
		// A variant this build cannot configure (advertise-interval 0.1
		// before its schema lands) is reported as such.
		b.Logf("%s: not measured: %v", name, err)
		return []benchRow{{variant: name, note: firstLine(err.Error())}}
	}
	defer p.Close()
	defer func() {
		if err != nil {
			p.Keep()
			b.Logf("%s: stopped: %v", name, err)
			rows = append(rows, benchRow{variant: name, note: firstLine(err.Error())})
		}
	}()
	if stock {
		if err = makeStock(ctx, p); err != nil {
			return rows
		}
	}
	sy := syncer{p: p, kernel: noExt}
	const each = 100
	filled := 0
	for _, extra := range sizes {
		if extra > filled {
			if err = sy.fill(ctx, extra-filled); err != nil {
				return rows
			}
			filled = extra
		} else if got, werr := sy.wait(ctx, filled, 30*time.Second); werr != nil && got >= 0 && got < filled {
			// The stock failback loses entries (its commit's late
			// destroy events: the "after the failback" column shows
			// how many). Top the table up so that every variant
			// fails over with the size in its row.
			if err = sy.fill(ctx, filled-got); err != nil {
				return rows
			}
		} else if err = werr; err != nil {
			return rows
		}
		var cs, ss *Flows
		if cs, err = p.StartFlows(ctx, each, ClientSends); err != nil {
			return rows
		}
		if ss, err = p.StartFlows(ctx, each, ServerSends); err != nil {
			return rows
		}
		if _, err = sy.wait(ctx, filled+2*each, time.Minute); err != nil {
			return rows
		}
		time.Sleep(2 * time.Second)
		var rsts, after uint64
		if rsts, err = p.TCPOutRsts(ctx, "r2"); err != nil {
			return rows
		}
		var fo Phase
		if fo, err = p.Failover(ctx, cs, ss); err != nil {
			return rows
		}
		after, _ = p.TCPOutRsts(ctx, "r2")
		row := benchRow{variant: name, synced: filled + 2*each, flows: fo.Sample.Flows, alive: fo.Sample.Alive,
			gap: fo.Sample.LongestGap, rsts: after - rsts, afterIn: -1, afterExt: -1}
		if len(fo.Samples) == 2 {
			row.aliveCS, row.aliveSS = fo.Samples[0].Alive, fo.Samples[1].Alive
		}
		if rec := fo.Transitions["r2"]; rec != nil {
			row.kernelReady = rec.KernelReady
			if rec.Guard != nil {
				row.guardLifted = rec.Guard.LiftedAfter
			}
		}
		b.Logf("%s, %d synced: %d/%d alive, longest gap %v, r2 sent %d resets, kernel ready %s, guard lifted after %s",
			name, row.synced, row.alive, row.flows, row.gap, row.rsts, ms(row.kernelReady), ms(row.guardLifted))
		rows = append(rows, row)
		cs.Stop()
		ss.Stop()
		back := time.Now()
		if _, err = p.Failback(ctx); err != nil {
			return rows
		}
		if !noExt {
			// What the failback left of the table in r1's internal
			// cache and r2's external cache, once r1's master script
			// is done and every destroy event of its commit is in.
			in, ext, merr := afterFailback(ctx, p, stock, back)
			if merr != nil {
				b.Logf("%s: after the failback: %v", name, merr)
			}
			rows[len(rows)-1].afterIn, rows[len(rows)-1].afterExt = in, ext
			b.Logf("%s, %d synced: after the failback r1's internal cache holds %d, r2's external cache %d", name, row.synced, in, ext)
		}
		if err = clearFlows(ctx, sy); err != nil {
			return rows
		}
	}
	return rows
}

// syncer counts and fills what r2 holds of r1's table: its external
// cache, or with disable-external-cache (kernel) its kernel table, where
// conntrackd puts the peer's states straight away.
type syncer struct {
	p      *Pair
	kernel bool
}

func (s syncer) count(ctx context.Context) (int, error) {
	if !s.kernel {
		return s.p.External(ctx, "r2")
	}
	out, err := s.p.run.Run(ctx, nil, "ip", "netns", "exec", s.p.NS("r2"), "conntrack", "-C")
	if err != nil {
		return -1, err
	}
	var n int
	if _, err := fmt.Sscan(string(out), &n); err != nil {
		return -1, fmt.Errorf("r2: conntrack -C: %q", out)
	}
	return n, nil
}

func (s syncer) wait(ctx context.Context, n int, limit time.Duration) (int, error) {
	if !s.kernel {
		return s.p.WaitExternal(ctx, "r2", n, limit)
	}
	got := -1
	err := poll(ctx, limit, 200*time.Millisecond, func() (bool, error) {
		var err error
		got, err = s.count(ctx)
		return got >= n, err
	})
	if errors.Is(err, errPollLimit) {
		return got, fmt.Errorf("r2: kernel table holds %d entries after %v, want %d", got, limit, n)
	}
	return got, err
}

// fill is FillSynced, or for the kernel count the same entries made in
// r1's table and waited for in r2's.
func (s syncer) fill(ctx context.Context, n int) error {
	if !s.kernel {
		return s.p.FillSynced(ctx, n)
	}
	before, err := s.count(ctx)
	if err != nil {
		return err
	}
	s.p.mu.Lock()
	first := s.p.filled
	s.p.filled += n
	s.p.mu.Unlock()
	if err := fillTable(s.p.NS("r1"), first, n); err != nil {
		return err
	}
	// As FillSynced: r1's conntrackd loses events of so fast a fill.
	limit := 15*time.Second + time.Duration(n)*200*time.Microsecond
	if _, err = s.wait(ctx, before+n, limit/2); err == nil || ctx.Err() != nil {
		return err
	}
	if err := s.p.Resend(ctx); err != nil {
		return err
	}
	_, err = s.wait(ctx, before+n, limit/2)
	return err
}

// clearFlows deletes the stopped flows' entries (to the server) from both
// kernel tables and waits until what r2 holds stops moving, so that the
// next fill counts only its own entries.
func clearFlows(ctx context.Context, sy syncer) error {
	p := sy.p
	for _, r := range []string{"r1", "r2"} {
		// conntrack -D exits 1 when nothing matched.
		_, _ = p.run.Run(ctx, nil, "ip", "netns", "exec", p.NS(r), "conntrack", "-D", "-p", "tcp", "--orig-dst", ServerIP.String())
	}
	last := -2
	for i := 0; i < 30; i++ {
		n, err := sy.count(ctx)
		if err != nil {
			return err
		}
		if n == last {
			return nil
		}
		last = n
		time.Sleep(time.Second)
	}
	return fmt.Errorf("r2's external cache still moving (%d)", last)
}

func startBenchPair(b *testing.B, ctx context.Context, o PairOptions) (*Pair, error) {
	b.Helper()
	ctsync, _ := nstest.Binaries(b)
	o.BinDir = filepath.Dir(ctsync)
	var log strings.Builder
	if o.Out == nil {
		o.Out = &log
	}
	p, err := StartPair(ctx, o)
	if err != nil {
		b.Logf("lab log:\n%s", log.String())
		return nil, fmt.Errorf("lab: %w", err)
	}
	return p, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// notifyLine is one notify line of a generated keepalived.conf.
var notifyLine = regexp.MustCompile(`(?m)^(\s*)notify_(master|backup|fault) "[^"]*"$`)

// makeStock turns a running pair into the stock setup: ctsyncd and its
// engines stopped, the guard lifted, then conntrackd started with the
// conntrackd.conf ctsync generated and keepalived with ctsync's
// keepalived.conf whose sync-group notify lines call primary-backup.sh
// (conntrack-tools' example, its paths pointed at the router's root)
// instead of ctsync. Close stops them by the same pid files.
func makeStock(ctx context.Context, p *Pair) error {
	script, err := os.ReadFile("/usr/share/doc/conntrackd/examples/sync/primary-backup.sh")
	if err != nil {
		return fmt.Errorf("stock: conntrack-tools' primary-backup.sh: %w", err)
	}
	// r2 first, so that it does not take over while r1 stops.
	for _, name := range []string{"r2", "r1"} {
		r := p.Router(name)
		conf, err := os.ReadFile(r.Root.KeepalivedConf())
		if err != nil {
			return err
		}
		if err := r.Stop(); err != nil {
			return fmt.Errorf("stock: stopping ctsync on %s: %w", name, err)
		}
		if err := liftGuardIn(r.NS); err != nil {
			return err
		}
		dir := filepath.Join(r.Root.Dir, "stock")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		sh := strings.NewReplacer(
			"CONNTRACKD_LOCK=/var/lock/conntrack.lock", "CONNTRACKD_LOCK="+r.Root.ConntrackdLock(),
			"CONNTRACKD_CONFIG=/etc/conntrackd/conntrackd.conf", "CONNTRACKD_CONFIG="+r.Root.ConntrackdConf(),
		).Replace(string(script))
		shPath := filepath.Join(dir, "primary-backup.sh")
		if err := os.WriteFile(shPath, []byte(sh), 0o755); err != nil {
			return err
		}
		arg := map[string]string{"master": "primary", "backup": "backup", "fault": "fail"}
		kconf := notifyLine.ReplaceAllStringFunc(string(conf), func(l string) string {
			m := notifyLine.FindStringSubmatch(l)
			return fmt.Sprintf(`%snotify_%s "%s %s"`, m[1], m[2], shPath, arg[m[2]])
		})
		if n := strings.Count(kconf, shPath); n != 3 {
			return fmt.Errorf("stock: %d notify lines replaced in %s, want 3", n, r.Root.KeepalivedConf())
		}
		kpath := filepath.Join(dir, "keepalived.conf")
		if err := os.WriteFile(kpath, []byte(kconf), 0o644); err != nil {
			return err
		}
		if err := startStock(r, "conntrackd", []string{"conntrackd", "-C", r.Root.ConntrackdConf()}, r.Root.ConntrackdPid()); err != nil {
			return err
		}
		if err := waitStockConntrackd(ctx, r); err != nil {
			return err
		}
	}
	for _, name := range []string{"r1", "r2"} {
		r := p.Router(name)
		run := r.Root.RunDir()
		dir := filepath.Join(r.Root.Dir, "stock")
		argv := []string{"keepalived", "--dont-fork", "--log-console", "--log-detail", "-P",
			"-f", filepath.Join(dir, "keepalived.conf"), "-p", r.Root.KeepalivedPid(),
			"-r", filepath.Join(run, "keepalived_vrrp.pid"), "-c", filepath.Join(run, "keepalived_checkers.pid"),
			"-b", filepath.Join(run, "keepalived_bfd.pid")}
		if err := startStock(r, "keepalived", argv, ""); err != nil {
			return err
		}
	}
	p.Logf("stock: conntrackd and keepalived with primary-backup.sh on r1 and r2, no ctsyncd, no guard")
	return p.WaitMaster(ctx, "r1", 30*time.Second)
}

// startStock starts argv in r's namespace in the background, its output
// in the root's stock folder; pidFile, when set, gets its pid.
func startStock(r *Router, name string, argv []string, pidFile string) error {
	logf, err := os.Create(filepath.Join(r.Root.Dir, "stock", name+".log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	// ip netns exec execs in place: the pid is the engine's own.
	cmd := exec.Command("ip", append([]string{"netns", "exec", r.NS}, argv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stock: starting %s on %s: %w", name, r.Name, err)
	}
	go func() { _ = cmd.Wait() }()
	if pidFile != "" {
		if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", cmd.Process.Pid)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func waitStockConntrackd(ctx context.Context, r *Router) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", r.NS, "conntrackd", "-C", r.Root.ConntrackdConf(), "-s").CombinedOutput()
		if err == nil && strings.Contains(string(out), "cache") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stock: conntrackd on %s does not answer: %v\n%s", r.Name, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// liftGuardIn removes ctsync's guard table from a namespace.
func liftGuardIn(ns string) error {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return guard.Kernel{NetNS: int(h)}.Lift()
}
