// Package paths names every file and socket ctsync keeps under its root:
// no other package joins a name onto the root or one of its directories.
// Everything lives under one root so that several routers, each in its
// own network namespace with its own root, can run side by side on one
// machine. The files an engine names itself (keepalived's state dumps)
// land in a directory named here.
package paths

import (
	"os"
	"path/filepath"
)

// EnvRoot is the environment variable that sets the root when --root is
// not given.
const EnvRoot = "CTSYNC_ROOT"

// Root is the directory every path is relative to. The zero value and "/"
// mean the system paths.
type Root struct {
	Dir string
}

// Resolve picks the root: the flag if set, else $CTSYNC_ROOT, else "/".
func Resolve(flag string) Root {
	if flag != "" {
		return Root{Dir: flag}
	}
	if env := os.Getenv(EnvRoot); env != "" {
		return Root{Dir: env}
	}
	return Root{Dir: "/"}
}

// Join returns rel under the root.
func (r Root) Join(rel ...string) string {
	dir := r.Dir
	if dir == "" {
		dir = "/"
	}
	return filepath.Join(append([]string{dir}, rel...)...)
}

// ConfigDir holds the saved configuration and the commit archive.
func (r Root) ConfigDir() string { return r.Join("config") }

// ConfigBoot is the saved configuration loaded at start.
func (r Root) ConfigBoot() string { return r.Join("config", "config.boot") }

// ArchiveDir holds committed revisions.
func (r Root) ArchiveDir() string { return r.Join("config", "archive") }

// RunDir holds sockets, pid files, lock files and the running config.
func (r Root) RunDir() string { return r.Join("run", "ctsync") }

// StateDir holds state that must survive a reboot of the service but is
// not configuration (last VRRP transition, pending commit-confirm).
func (r Root) StateDir() string { return r.Join("var", "lib", "ctsync") }

// EtcDir holds the generated engine configurations.
func (r Root) EtcDir() string { return r.Join("etc", "ctsync") }

// LogDir holds the engines' stdout/stderr when ctsync supervises them.
func (r Root) LogDir() string { return r.Join("var", "log", "ctsync") }

// CtsyncdSocket is the control socket of ctsyncd.
func (r Root) CtsyncdSocket() string { return filepath.Join(r.RunDir(), "ctsyncd.sock") }

// RunningConfig is the running configuration as ctsyncd last committed it,
// in config.boot format, readable without asking ctsyncd.
func (r Root) RunningConfig() string { return filepath.Join(r.RunDir(), "running.boot") }

// CommitLock is held (flock) for the whole of a commit.
func (r Root) CommitLock() string { return filepath.Join(r.RunDir(), "commit.lock") }

// ConntrackdConf is the generated conntrackd.conf.
func (r Root) ConntrackdConf() string { return filepath.Join(r.EtcDir(), "conntrackd.conf") }

// ConntrackdSocket is conntrackd's UNIX control socket.
func (r Root) ConntrackdSocket() string { return filepath.Join(r.RunDir(), "conntrackd.ctl") }

// ConntrackdLock is conntrackd's lock file; a crash leaves it behind.
func (r Root) ConntrackdLock() string { return filepath.Join(r.RunDir(), "conntrackd.lock") }

// ConntrackdPid is written by whoever starts conntrackd.
func (r Root) ConntrackdPid() string { return filepath.Join(r.RunDir(), "conntrackd.pid") }

// ConntrackdStarted records what the running conntrackd was started with
// (pid, start time, hash of conntrackd.conf): see supervise.Started.
func (r Root) ConntrackdStarted() string { return filepath.Join(r.RunDir(), "conntrackd.started.json") }

// KeepalivedStarted is keepalived's record, as ConntrackdStarted.
func (r Root) KeepalivedStarted() string { return filepath.Join(r.RunDir(), "keepalived.started.json") }

// FailoverFacts is generated with conntrackd.conf in the same commit: what
// the VRRP hook needs to know of the configuration (the sync-group), so that
// it never depends on ctsyncd or on a running config written after the
// commit that starts keepalived.
func (r Root) FailoverFacts() string { return filepath.Join(r.EtcDir(), "failover.json") }

// KeepalivedConf is the generated keepalived.conf.
func (r Root) KeepalivedConf() string { return filepath.Join(r.EtcDir(), "keepalived.conf") }

// KeepalivedDumpDir is where keepalived writes its state dumps
// (keepalived.json, .data, .stats): ctsyncd starts it with TMPDIR set to
// it, since keepalived writes them into $TMPDIR, which routers sharing a
// machine would otherwise share.
func (r Root) KeepalivedDumpDir() string { return r.RunDir() }

// KeepalivedPid is keepalived's main pid file.
func (r Root) KeepalivedPid() string { return filepath.Join(r.RunDir(), "keepalived.pid") }

// TransitionState records the last VRRP transition the hook ran.
func (r Root) TransitionState() string { return filepath.Join(r.StateDir(), "transition.json") }

// TransitionLock serializes overlapping VRRP hook runs.
func (r Root) TransitionLock() string { return filepath.Join(r.RunDir(), "transition.lock") }

// VRRPState records the VRRP state of each group as the hooks saw it.
func (r Root) VRRPState() string { return filepath.Join(r.StateDir(), "vrrp-state.json") }

// PairKey is this ctsyncd's private key for the peer channel, made at
// first start (mode 0600); its public half is the identity the peer pins.
func (r Root) PairKey() string { return filepath.Join(r.StateDir(), "pair.key") }

// PairState records maintenance and a handed-over mastership: state the
// operator asked for, which outlives ctsyncd, keepalived and reboots.
func (r Root) PairState() string { return filepath.Join(r.StateDir(), "pair-state.json") }

// PairAgreed records the hash of the synced part both nodes of the pair
// last held alike: config sync tells from it which node changed while
// they were apart.
func (r Root) PairAgreed() string { return filepath.Join(r.StateDir(), "pair-agreed.json") }

// PairLock serializes writers of PairState and VRRPWeight (the op
// command and ctsyncd answering the peer).
func (r Root) PairLock() string { return filepath.Join(r.RunDir(), "pair.lock") }

// VRRPWeight is the file keepalived's track_file reads: a number added to
// every VRRP instance's priority, changed at run time without a reload.
func (r Root) VRRPWeight() string { return filepath.Join(r.StateDir(), "vrrp-weight") }

// ConntrackdRefill records the refill of conntrackd's caches after its
// last start (the resync requested from the peer, or the resync with the
// kernel and bulk send of a master), tied to that process by pid and
// start ticks: see transition.RefillRecord. It lives in RunDir, like the
// process it describes.
func (r Root) ConntrackdRefill() string { return filepath.Join(r.RunDir(), "conntrackd.refill.json") }

// PeerObservation is readiness's last look at conntrackd's sync link
// counters, so that whether the peer is heard can be answered from one
// sample and the previous one instead of watching the link.
func (r Root) PeerObservation() string { return filepath.Join(r.RunDir(), "peer-observation.json") }

// KeepalivedLoaded records the hash of the keepalived.conf the running
// keepalived last read (written by the vrrp handler after a start or a
// reload), so the hook can tell whether keepalived still runs an older
// file than the one installed.
func (r Root) KeepalivedLoaded() string { return filepath.Join(r.RunDir(), "keepalived.conf.loaded") }

// FullRunningConfig is the running configuration with its secrets, 0600:
// what a restarted ctsyncd resumes. RunningConfig, readable by op-mode
// and the hook, has them masked.
func (r Root) FullRunningConfig() string { return filepath.Join(r.RunDir(), "running-full.boot") }

// CommitJournal is the commit journal: a commit's intent while it runs,
// and the pending commit-confirm. It lives with the persistent state, as
// the files a commit installs do.
func (r Root) CommitJournal() string { return filepath.Join(r.StateDir(), "commit-journal.json") }

// BootNotice holds what ctsyncd must tell the operator about its last
// start (a corrupt saved config it replaced), one line each.
func (r Root) BootNotice() string { return filepath.Join(r.StateDir(), "boot-notice") }

// EditSessions holds how many config sessions have uncommitted changes,
// for `show system commit`, which does not ask ctsyncd.
func (r Root) EditSessions() string { return filepath.Join(r.RunDir(), "edit-sessions") }

// CtsyncdLock is held (flock) by the ctsyncd of a root for its whole
// life, and holds its pid.
func (r Root) CtsyncdLock() string { return filepath.Join(r.RunDir(), "ctsyncd.lock") }

// CtsyncdLog is ctsyncd's log when no journal takes it.
func (r Root) CtsyncdLog() string { return filepath.Join(r.LogDir(), "ctsyncd.log") }

// ConntrackdLog is conntrackd's output when ctsync supervises it.
func (r Root) ConntrackdLog() string { return filepath.Join(r.LogDir(), "conntrackd.log") }

// KeepalivedLog is keepalived's output when ctsync supervises it.
func (r Root) KeepalivedLog() string { return filepath.Join(r.LogDir(), "keepalived.log") }

// KeepalivedSupervisorPid is the pid file of the keepalived ctsyncd
// supervises: distinct from KeepalivedPid, keepalived's own -p file,
// which keepalived checks at start to refuse a second copy of itself.
func (r Root) KeepalivedSupervisorPid() string {
	return filepath.Join(r.RunDir(), "keepalived.sup.pid")
}

// KeepalivedVRRPPid is the pid file of keepalived's VRRP child, the
// process that does the work; it appears once keepalived has read its
// config.
func (r Root) KeepalivedVRRPPid() string { return filepath.Join(r.RunDir(), "keepalived_vrrp.pid") }

// KeepalivedCheckersPid and KeepalivedBFDPid are the pid files of
// keepalived's other children, which ctsync never runs (-P), named under
// the root all the same so that keepalived reads no other router's.
func (r Root) KeepalivedCheckersPid() string {
	return filepath.Join(r.RunDir(), "keepalived_checkers.pid")
}

// KeepalivedBFDPid: see KeepalivedCheckersPid.
func (r Root) KeepalivedBFDPid() string { return filepath.Join(r.RunDir(), "keepalived_bfd.pid") }

// KeepalivedReload is the file keepalived deletes once it has read its
// config after a reload.
func (r Root) KeepalivedReload() string { return filepath.Join(r.RunDir(), "keepalived.reload") }

// KeepalivedDumpLock serializes the ctsync commands that ask keepalived
// for a state dump.
func (r Root) KeepalivedDumpLock() string {
	return filepath.Join(r.KeepalivedDumpDir(), "keepalived.dump.lock")
}

// TransitionSeq holds the last ticket the VRRP hook issued per group; it
// is also the hook's bookkeeping lock.
func (r Root) TransitionSeq() string { return filepath.Join(r.RunDir(), "transition.seq") }

// GuardState records the switchover guard's state.
func (r Root) GuardState() string { return filepath.Join(r.RunDir(), "guard.json") }
