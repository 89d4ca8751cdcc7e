// Package vrrp is the op-mode family for keepalived: show vrrp [detail|
// statistics|sync-group] and restart vrrp. Everything shown comes from
// keepalived's own state dumps, asked for by signal and read from the
// router's run directory (see Fetch), so what is shown is what the VRRP
// process itself holds, never a guess from the configuration.
package vrrp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ctsync/ctsync/internal/configd"
	"github.com/ctsync/ctsync/internal/opcmd"
	"github.com/ctsync/ctsync/internal/paths"
	"github.com/ctsync/ctsync/internal/service"
)

func init() {
	for _, c := range []opcmd.Command{
		{Path: []string{"show", "vrrp"}, Help: "Show each VRRP group: state, priority, addresses, last transition", Run: runSummary},
		{Path: []string{"show", "vrrp", "detail"}, Help: "Show everything keepalived reports of each VRRP group", Run: runDetail},
		{Path: []string{"show", "vrrp", "statistics"}, Help: "Show keepalived's advertisement and error counters per group", Run: runStatistics},
		{Path: []string{"show", "vrrp", "sync-group"}, Help: "Show each VRRP sync-group, its state and its members' states", Run: runSyncGroups},
		{Path: []string{"restart", "vrrp"}, Help: "Restart keepalived (refused while a commit runs; a master hands over)", Run: runRestart},
	} {
		opcmd.Register(c)
	}
}

// location is the time zone transition times are printed in; tests fix it.
var location = time.Local

func noArgs(cmd string, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: %s takes no arguments (got %q)", ErrUsage, cmd, strings.Join(args, " "))
	}
	return nil
}

// Read asks the keepalived of root for its JSON dump and decodes it.
func Read(ctx context.Context, root paths.Root) ([]Instance, error) {
	if err := Configured(root); err != nil {
		return nil, err
	}
	b, err := Fetch(ctx, root, JSONDump)
	if err != nil {
		return nil, err
	}
	return ParseJSON(b)
}

func runSummary(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("show vrrp", args); err != nil {
		return err
	}
	inst, err := Read(ctx, env.Root)
	if err != nil {
		return err
	}
	return WriteSummary(env.Out, inst, env.JSON)
}

func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}

func localize(inst []Instance) []Instance {
	out := make([]Instance, len(inst))
	for i, in := range inst {
		if in.LastTransition != nil {
			t := in.LastTransition.In(location)
			in.LastTransition = &t
		}
		out[i] = in
	}
	return out
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.In(location).Format("2006-01-02 15:04:05 MST")
}

func addresses(a []string) string {
	if len(a) == 0 {
		return "-"
	}
	return strings.Join(a, ",")
}

// WriteSummary prints one line per group, or {"groups": [...]}.
func WriteSummary(w io.Writer, inst []Instance, asJSON bool) error {
	if asJSON {
		return writeJSON(w, struct {
			Groups []Instance `json:"groups"`
		}{localize(inst)})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Group\tInterface\tVRID\tState\tPriority\tAddresses\tLast transition")
	for _, in := range inst {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", in.Name, in.Interface, in.VRID, in.State, in.Priority, addresses(in.Addresses), when(in.LastTransition))
	}
	return tw.Flush()
}

// Detail is one group as `show vrrp detail` shows it: the JSON dump's
// view and what only the data dump holds.
type Detail struct {
	Instance
	SyncGroup       string  `json:"sync_group,omitempty"`
	SourceAddress   string  `json:"source_address,omitempty"`
	MasterRouter    string  `json:"master_router,omitempty"` // as a backup hears it
	MasterDownTimer float64 `json:"master_down_timer"`       // seconds
	Accept          bool    `json:"accept"`
	Authentication  string  `json:"authentication"`
	Faults          int     `json:"faults"` // interface and track script faults
}

// Details joins the two dumps by instance name.
func Details(inst []Instance, d *Data) []Detail {
	by := map[string]*Block{}
	for _, b := range d.Instances {
		by[b.Name] = b
	}
	out := make([]Detail, 0, len(inst))
	for _, in := range inst {
		dt := Detail{Instance: in}
		if b := by[in.Name]; b != nil {
			dt.SyncGroup = b.Get("Sync group")
			dt.SourceAddress = b.Get("Using src_ip")
			dt.MasterRouter = b.Get("Master router")
			if us, ok := strings.CutSuffix(b.Get("Master down timer"), " usecs"); ok {
				if n, err := strconv.ParseUint(us, 10, 64); err == nil {
					dt.MasterDownTimer = float64(n) / 1e6
				}
			}
			dt.Accept = b.Get("Accept") == "enabled"
			dt.Authentication = b.Get("Authentication type")
			dt.Faults, _ = strconv.Atoi(b.Get("Number of interface and track script faults"))
		}
		out = append(out, dt)
	}
	return out
}

func runDetail(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("show vrrp detail", args); err != nil {
		return err
	}
	inst, err := Read(ctx, env.Root)
	if err != nil {
		return err
	}
	d, err := readData(ctx, env.Root)
	if err != nil {
		return err
	}
	return WriteDetail(env.Out, Details(inst, d), env.JSON)
}

func readData(ctx context.Context, root paths.Root) (*Data, error) {
	b, err := Fetch(ctx, root, DataDump)
	if err != nil {
		return nil, err
	}
	return ParseData(b)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func seconds(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64) + " s"
}

// WriteDetail prints a block per group, or {"groups": [...]}.
func WriteDetail(w io.Writer, ds []Detail, asJSON bool) error {
	if asJSON {
		for i := range ds {
			ds[i].Instance = localize([]Instance{ds[i].Instance})[0]
		}
		return writeJSON(w, struct {
			Groups []Detail `json:"groups"`
		}{ds})
	}
	for i, d := range ds {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Group %s\n", d.Name)
		tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
		line := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s:\t"+format+"\n", append([]any{k}, a...)...) }
		st := d.State
		if d.WantState != d.State {
			st += " (going " + d.WantState + ")"
		}
		line("State", "%s", st)
		if d.SyncGroup != "" {
			line("Sync group", "%s", d.SyncGroup)
		}
		iface := d.Interface
		if d.SourceAddress != "" {
			iface += ", source " + d.SourceAddress
		}
		line("Interface", "%s", iface)
		line("VRID", "%d (VRRP version %d)", d.VRID, d.Version)
		line("Priority", "%d (configured %d)", d.Priority, d.BasePriority)
		if d.State == "BACKUP" && d.MasterRouter != "" {
			line("Master", "%s, priority %d", d.MasterRouter, d.MasterPriority)
		}
		line("Advertisement interval", "%s", seconds(d.AdvertInterval))
		if d.MasterDownTimer > 0 {
			line("Master down timer", "%s", seconds(d.MasterDownTimer))
		}
		pre := yesNo(d.Preempt)
		if d.Preempt && d.PreemptDelay > 0 {
			pre += ", after " + seconds(d.PreemptDelay)
		}
		line("Preempt", "%s", pre)
		line("Accept", "%s", yesNo(d.Accept))
		if d.Authentication != "" {
			line("Authentication", "%s", d.Authentication)
		}
		set := "not on this router"
		if d.AddressesSet {
			set = "on this router"
		}
		line("Addresses", "%s (%s)", addresses(d.Addresses), set)
		line("Faults", "%d", d.Faults)
		line("Last transition", "%s", when(d.LastTransition))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func runStatistics(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("show vrrp statistics", args); err != nil {
		return err
	}
	if err := Configured(env.Root); err != nil {
		return err
	}
	b, err := Fetch(ctx, env.Root, StatsDump)
	if err != nil {
		return err
	}
	st, err := ParseStats(b)
	if err != nil {
		return err
	}
	return WriteStatistics(env.Out, st, env.JSON)
}

// WriteStatistics prints a row per group, or {"groups": [...]}. The text
// form sums the packet and authentication error kinds; JSON has each.
func WriteStatistics(w io.Writer, st []Stats, asJSON bool) error {
	if asJSON {
		if st == nil {
			st = []Stats{}
		}
		return writeJSON(w, struct {
			Groups []Stats `json:"groups"`
		}{st})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Group\tAdverts in\tAdverts out\tBecame master\tReleased master\tPacket errors\tAuth errors\tPriority 0 in\tPriority 0 out")
	for _, s := range st {
		pkt := s.LengthErrors + s.TTLErrors + s.InvalidType + s.IntervalErrors + s.AddressListErrors
		auth := s.InvalidAuthType + s.AuthTypeMismatch + s.AuthFailures
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", s.Name, s.AdvertsReceived, s.AdvertsSent,
			s.BecameMaster, s.ReleasedMaster, pkt, auth, s.PriorityZeroRcvd, s.PriorityZeroSent)
	}
	return tw.Flush()
}

// SyncGroup is one vrrp_sync_group and the states of its members.
type SyncGroup struct {
	Name    string   `json:"name"`
	State   string   `json:"state"`
	Members []Member `json:"members"`
}

// Member is a group of a sync-group.
type Member struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// SyncGroups reads the sync groups of a data dump.
func SyncGroups(d *Data) []SyncGroup {
	states := map[string]string{}
	for _, b := range d.Instances {
		states[b.Name] = b.Get("State")
	}
	out := []SyncGroup{}
	for _, b := range d.SyncGroups {
		g := SyncGroup{Name: b.Name, State: b.Get("State"), Members: []Member{}}
		for _, m := range b.Lists["VRRP member instances"] {
			g.Members = append(g.Members, Member{Name: m, State: states[m]})
		}
		out = append(out, g)
	}
	return out
}

func runSyncGroups(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("show vrrp sync-group", args); err != nil {
		return err
	}
	if err := Configured(env.Root); err != nil {
		return err
	}
	d, err := readData(ctx, env.Root)
	if err != nil {
		return err
	}
	return WriteSyncGroups(env.Out, SyncGroups(d), env.JSON)
}

// WriteSyncGroups prints a row per sync-group, or {"sync_groups": [...]}.
func WriteSyncGroups(w io.Writer, gs []SyncGroup, asJSON bool) error {
	if asJSON {
		return writeJSON(w, struct {
			SyncGroups []SyncGroup `json:"sync_groups"`
		}{gs})
	}
	if len(gs) == 0 {
		_, err := fmt.Fprintln(w, "No sync-group is configured.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Sync group\tState\tMembers")
	for _, g := range gs {
		var ms []string
		for _, m := range g.Members {
			ms = append(ms, m.Name+" ("+m.State+")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, g.State, strings.Join(ms, ", "))
	}
	return tw.Flush()
}

// engine is the name ctsyncd's supervisor knows keepalived by
// (conf-mode/vrrp.Engine; a test keeps them equal). Importing that
// package here would link the config handler into every op command and
// cost each of them 2 MiB at start.
const engine = "keepalived"

// ErrCommitInProgress refuses a restart while ctsyncd commits.
var ErrCommitInProgress = service.ErrCommitInProgress

// restartTimeout bounds the wait for the new keepalived to answer.
var restartTimeout = 20 * time.Second

// runRestart asks ctsyncd to restart keepalived, as `restart
// conntrack-sync` does conntrackd: its supervisor owns the engine and the
// spec it runs with, and refuses while a commit runs. It then checks that
// the new keepalived answers with a state dump.
func runRestart(ctx context.Context, env *opcmd.Env, args []string) error {
	if err := noArgs("restart vrrp", args); err != nil {
		return err
	}
	if err := Configured(env.Root); err != nil {
		return err
	}
	// keepalived writes its pid file before it has read its config: a
	// dump is the proof that the VRRP process runs.
	answers := func(ctx context.Context) error {
		_, err := Fetch(ctx, env.Root, JSONDump)
		return err
	}
	res, err := configd.RestartEngine(ctx, env.Root, engine, restartTimeout, answers)
	switch {
	case errors.Is(err, service.ErrCommitInProgress):
		return ErrCommitInProgress
	case err != nil:
		return fmt.Errorf("restart vrrp: %w", err)
	}
	return res.Write(env.Out, env.JSON)
}
