// Package metrics is ctsyncd's Prometheus exporter. Everything the
// engines and the failover hook know is read at scrape time from where
// they already put it (conntrackd's control socket, the kernel's
// /proc/sys, the hook's records under the root, the supervisor), so that
// a scrape reports the state of the router and not a copy ctsyncd kept;
// what only ctsyncd sees (commits) and what happened between scrapes
// (failover transitions, recorded by the hook one run at a time) are
// counted as they happen.
//
// The listener is configured in the tree (service ctsync metrics) and
// moved by conf-mode/metrics through Listener.
package metrics

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ctsync/ctsync/internal/conntrackd"
	"github.com/ctsync/ctsync/internal/ctdstats"
	"github.com/ctsync/ctsync/internal/kernelinfo"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/transition"
)

// Namespace prefixes every metric name.
const Namespace = "ctsync"

// CountPath is the kernel table's current size, relative to "/".
const CountPath = "proc/sys/net/netfilter/nf_conntrack_count"

// Engines reports what the supervisor knows of the engines.
type Engines interface {
	// Restarts is how often the engine was restarted after it exited.
	Restarts(name string) int
}

// Sources is what a scrape reads.
type Sources struct {
	Root paths.Root
	// Engines is the supervisor; nil reports no restarts.
	Engines Engines
	// EngineNames are the engines whose restarts are reported.
	EngineNames []string
	// Proc is the filesystem the kernel's numbers are read from, rooted
	// at "/"; nil means the live one (of the calling process's network
	// namespace, which is the router's).
	Proc fs.FS
	// Stats asks conntrackd for its statistics (code 21); nil means its
	// control socket under Root.
	Stats func(ctx context.Context) ([]byte, error)
	// Readiness evaluates whether this node could take over now; nil
	// omits the readiness series.
	Readiness func(ctx context.Context) (ready bool, reason string)
	// Timeout bounds each scrape's questions to conntrackd and readiness.
	Timeout time.Duration
}

// Metrics is the registry and the metrics ctsyncd counts itself.
type Metrics struct {
	Registry *prometheus.Registry
	src      Sources

	commits        *prometheus.CounterVec
	commitDuration *prometheus.HistogramVec

	tmu         sync.Mutex
	lastSeq     uint64
	seen        bool
	transitions *prometheus.CounterVec
	transDur    *prometheus.HistogramVec
	stepDur     *prometheus.HistogramVec
	kernelReady *prometheus.HistogramVec
	lastTransTS prometheus.Gauge
}

// Failover durations run from milliseconds (a backup's resync request)
// to the hook's 30 s bound; commits are similar.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New builds the registry: the collector of scrape-time facts, the
// counted metrics and Go's own process metrics.
func New(src Sources) *Metrics {
	if src.Proc == nil {
		src.Proc = os.DirFS("/")
	}
	if src.Timeout == 0 {
		src.Timeout = 2 * time.Second
	}
	if src.Stats == nil {
		sock := src.Root.ConntrackdSocket()
		src.Stats = func(ctx context.Context) ([]byte, error) {
			c := &conntrackd.Client{Path: sock}
			return c.Do(ctx, conntrackd.Stats)
		}
	}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		src:      src,
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "commits_total",
			Help: "Commits ctsyncd ran, by outcome (ok: applied; failed: refused or rolled back, nothing changed).",
		}, []string{"outcome"}),
		commitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "commit_duration_seconds",
			Help:    "Time a commit took, from validation to the engines answering or the rollback done.",
			Buckets: durationBuckets,
		}, []string{"outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "failover_transitions_total",
			Help: "VRRP transitions the failover hook ran since ctsyncd started, by target state and outcome.",
		}, []string{"state", "outcome"}),
		transDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "failover_transition_duration_seconds",
			Help:    "Time the failover hook took for a whole transition.",
			Buckets: durationBuckets,
		}, []string{"state"}),
		stepDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "failover_step_duration_seconds",
			Help:    "Time each step of the failover hook took (one request to conntrackd or one check).",
			Buckets: durationBuckets,
		}, []string{"state", "step"}),
		kernelReady: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "failover_kernel_ready_seconds",
			Help:    "Time from the start of a master transition until the kernel table held the committed entries.",
			Buckets: durationBuckets,
		}, []string{"mode"}),
		lastTransTS: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "failover_last_transition_timestamp_seconds",
			Help: "When the last transition the hook recorded started (Unix time).",
		}),
	}
	m.Registry.MustRegister(m.commits, m.commitDuration, m.transitions, m.transDur, m.stepDur, m.kernelReady, m.lastTransTS,
		&collector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{"ok", "failed"} {
		m.commits.WithLabelValues(o)
	}
	// The record already there at start was counted by the ctsyncd that
	// ran then: transitions count from now.
	m.PollTransitions()
	return m
}

// ObserveCommit counts one commit; err nil means it was applied.
func (m *Metrics) ObserveCommit(d time.Duration, err error) {
	o := "ok"
	if err != nil {
		o = "failed"
	}
	m.commits.WithLabelValues(o).Inc()
	m.commitDuration.WithLabelValues(o).Observe(d.Seconds())
}

// PollTransitions reads the hook's record and counts it when it is new.
// The hook keeps only its last run, so ctsyncd polls it (every second,
// and at every scrape); two runs within one poll count as the later one.
func (m *Metrics) PollTransitions() {
	rec, err := transition.ReadRecord(m.src.Root)
	m.tmu.Lock()
	defer m.tmu.Unlock()
	if err != nil || rec == nil {
		m.seen = true
		return
	}
	first := !m.seen
	m.seen = true
	if !first && rec.Seq == m.lastSeq {
		return
	}
	m.lastSeq = rec.Seq
	m.lastTransTS.Set(float64(rec.Started.UnixNano()) / 1e9)
	if first {
		return
	}
	m.observe(rec)
}

func (m *Metrics) observe(rec *transition.Record) {
	state := strings.ToLower(rec.State)
	o := "ok"
	if !rec.OK {
		o = "failed"
	}
	m.transitions.WithLabelValues(state, o).Inc()
	m.transDur.WithLabelValues(state).Observe(rec.Duration.Seconds())
	for _, s := range rec.Steps {
		m.stepDur.WithLabelValues(state, s.Name).Observe(s.Duration.Seconds())
	}
	if rec.KernelReady > 0 {
		m.kernelReady.WithLabelValues(rec.Mode).Observe(rec.KernelReady.Seconds())
	}
}

// Run polls the hook's record until ctx ends.
func (m *Metrics) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.PollTransitions()
		}
	}
}

// collector reads the scrape-time facts.
type collector struct{ m *Metrics }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	dConntrackdUp   = desc("conntrackd_up", "Whether conntrackd answered its control socket at this scrape (1) or not (0).")
	dCacheEntries   = desc("conntrackd_cache_entries", "Entries in a conntrackd cache (internal: this router's flows; external: the peer's).", "cache")
	dCacheOps       = desc("conntrackd_cache_operations_total", "Operations on a conntrackd cache since conntrackd started, by operation and result.", "cache", "operation", "result")
	dTrafficBytes   = desc("conntrackd_traffic_processed_bytes_total", "Bytes of the flows conntrackd processed from the kernel since it started.")
	dTrafficPackets = desc("conntrackd_traffic_processed_packets_total", "Packets of the flows conntrackd processed from the kernel since it started.")
	dLinkBytes      = desc("conntrackd_link_bytes_total", "Bytes conntrackd sent to or received from the peer over a dedicated link.", "device", "direction")
	dLinkPackets    = desc("conntrackd_link_packets_total", "Sync messages conntrackd sent to or received from the peer over a dedicated link.", "device", "direction")
	dLinkErrors     = desc("conntrackd_link_errors_total", "Send or receive errors on a dedicated link.", "device", "direction")
	dLost           = desc("conntrackd_messages_lost_total", "Sync messages from the peer that conntrackd found missing (sequence gaps).")
	dMalformed      = desc("conntrackd_messages_malformed_total", "Sync messages from the peer that conntrackd could not parse.")
	dKernelEntries  = desc("kernel_conntrack_entries", "Entries in the kernel connection tracking table (nf_conntrack_count).")
	dKernelMax      = desc("kernel_conntrack_max_entries", "Most entries the kernel tracks (nf_conntrack_max).")
	dReady          = desc("ready", "Whether this node could take over without losing flows (1) or not (0); reason says why not.", "reason")
	dVRRPState      = desc("vrrp_group_state", "VRRP state of each group as the failover hook last saw it: 1 for the current state.", "group", "state")
	dVRRPSince      = desc("vrrp_group_state_since_timestamp_seconds", "When each VRRP group entered its current state (Unix time).", "group")
	dRestarts       = desc("engine_restarts_total", "Times ctsyncd restarted an engine that exited while configured.", "engine")
)

// Describe implements prometheus.Collector. The series vary with the
// configuration (caches, links, groups), so the collector is unchecked
// beyond these descriptors.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dConntrackdUp, dCacheEntries, dCacheOps, dTrafficBytes, dTrafficPackets,
		dLinkBytes, dLinkPackets, dLinkErrors, dLost, dMalformed, dKernelEntries, dKernelMax, dVRRPState, dVRRPSince, dRestarts} {
		ch <- d
	}
	if c.m.src.Readiness != nil {
		ch <- dReady
	}
}

// VRRPStates are the states a group is reported in, so that a series
// exists (at 0) for each and an alert can compare them.
var VRRPStates = []string{"master", "backup", "fault"}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.src
	c.m.PollTransitions()
	ctx, cancel := context.WithTimeout(context.Background(), src.Timeout)
	defer cancel()

	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}

	up := 0.0
	if b, err := src.Stats(ctx); err == nil {
		if st, err := ctdstats.Parse(bytes.NewReader(b)); err == nil {
			up = 1
			collectStats(st, gauge, counter)
		}
	}
	gauge(dConntrackdUp, up)

	if b, err := fs.ReadFile(src.Proc, CountPath); err == nil {
		if n, err := kernelinfo.ParseInt(b); err == nil {
			gauge(dKernelEntries, float64(n))
		}
	}
	if b, err := fs.ReadFile(src.Proc, kernelinfo.ConntrackMaxPath); err == nil {
		if n, err := kernelinfo.ParseInt(b); err == nil {
			gauge(dKernelMax, float64(n))
		}
	}

	if src.Readiness != nil {
		ready, reason := src.Readiness(ctx)
		v := 0.0
		if ready {
			v = 1
		}
		gauge(dReady, v, reason)
	}

	if groups, err := transition.ReadVRRPState(src.Root); err == nil {
		for g, gs := range groups {
			cur := strings.ToLower(gs.State)
			for _, s := range VRRPStates {
				v := 0.0
				if s == cur {
					v = 1
				}
				gauge(dVRRPState, v, g, s)
			}
			if !gs.Since.IsZero() {
				gauge(dVRRPSince, float64(gs.Since.UnixNano())/1e9, g)
			}
		}
	}

	if src.Engines != nil {
		for _, e := range src.EngineNames {
			counter(dRestarts, uint64(src.Engines.Restarts(e)), e)
		}
	}
}

func collectStats(st *ctdstats.Stats, gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	for name, cc := range st.Cache {
		gauge(dCacheEntries, float64(cc.Current), name)
		for _, op := range []struct {
			name     string
			ok, fail uint64
		}{{"create", cc.Created, cc.CreateFailed}, {"update", cc.Updated, cc.UpdateFailed}, {"destroy", cc.Destroyed, cc.DestroyFailed}} {
			counter(dCacheOps, op.ok, name, op.name, "ok")
			counter(dCacheOps, op.fail, name, op.name, "failed")
		}
	}
	if st.Traffic != nil {
		counter(dTrafficBytes, st.Traffic.Bytes)
		counter(dTrafficPackets, st.Traffic.Packets)
	}
	links := st.Links
	if st.Link != nil {
		links = append(links, *st.Link)
	}
	seen := map[string]bool{}
	for _, l := range links {
		// Two channels on one device would give duplicate series.
		dev := l.Device
		if seen[dev] {
			dev += "#" + strconv.Itoa(len(seen))
		}
		seen[dev] = true
		counter(dLinkBytes, l.BytesSent, dev, "sent")
		counter(dLinkBytes, l.BytesRecv, dev, "received")
		counter(dLinkPackets, l.PacketsSent, dev, "sent")
		counter(dLinkPackets, l.PacketsRecv, dev, "received")
		counter(dLinkErrors, l.ErrorsSend, dev, "sent")
		counter(dLinkErrors, l.ErrorsRecv, dev, "received")
	}
	if st.Tracking != nil {
		counter(dLost, st.Tracking.Lost)
		counter(dMalformed, st.Tracking.Malformed)
	}
}
