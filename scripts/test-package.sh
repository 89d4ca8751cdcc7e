#!/usr/bin/env bash
# make test-package (root): the .deb on a Debian 12 system booted with
# systemd, as a user would have it.
#
#  1. A minbase Debian 12 tree from Debian's mirror (the one apt uses on
#     this machine) with debootstrap, cached in $PKGTEST_CACHE/minbase so
#     that a second run starts in seconds; each run works on a copy.
#  2. The package is installed there with apt-get install ./ctsync_*.deb,
#     so its dependencies resolve from the archive as a user's would;
#     lintian and systemd-analyze verify run on it.
#  3. The copy boots with systemd-nspawn --boot in a network namespace of
#     its own (--private-network: nothing reaches the host's links; a
#     veth pair inside it stands in for the sync and VRRP links), and the
#     test checks, through nsenter into the container: ctsyncd active,
#     Debian's conntrackd and keepalived units masked and not running, a
#     configure + commit through the shell, conntrackd and keepalived
#     running under ctsyncd, metrics served, show log, systemctl restart
#     ctsyncd keeping the engines' pids, and a reboot bringing the
#     committed configuration back.
#
# Where the container cannot boot, it says why and stops after step 2.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${PKGTEST_CACHE:-/var/cache/ctsync-test-package}"
suite=bookworm
log() { printf '[test-package %s] %s\n' "$(date -u +%T)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, systemd-nspawn)"
for t in debootstrap systemd-nspawn nsenter lintian; do
	command -v "$t" >/dev/null || fail "$t is missing (scripts/deps.sh installs it)"
done

# Debian's mirror as apt on this machine has it.
mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	grep -oE 'https?://[^ ]+' | head -1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"

deb="${DEB:-$(ls -t bin/ctsync_*.deb 2>/dev/null | head -1)}"
[ -n "$deb" ] && [ -f "$deb" ] || fail "no bin/ctsync_*.deb (make deb)"
log "package $deb"
log "lintian:"
lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'root privileges' | sed 's/^/    /' || true
if lintian "$deb" 2>/dev/null | grep -q '^E:'; then
	fail "lintian reports errors"
fi

mkdir -p "$cache/archives/partial"
if [ ! -d "$cache/minbase" ]; then
	log "debootstrap $suite from $mirror into $cache/minbase"
	rm -rf "$cache/minbase.tmp"
	debootstrap --variant=minbase --include=systemd-sysv,dbus "$suite" "$cache/minbase.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
		fail "debootstrap failed: $(tail -3 "$cache/debootstrap.log")"
	mv "$cache/minbase.tmp" "$cache/minbase"
fi

work="$(mktemp -d /var/tmp/ctsync-test-package.XXXXXX)"
dir="$work/root"
nspawn_pid=""
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		kill -TERM "$nspawn_pid" 2>/dev/null || true
		for _ in $(seq 1 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$nspawn_pid" 2>/dev/null || true
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	if [ -z "${KEEP:-}" ]; then
		rm -rf "$work"
	else
		log "kept $work"
	fi
}
trap cleanup EXIT
log "copying the cached tree to $dir"
cp -a "$cache/minbase" "$dir"
cp "$deb" "$dir/root/"
debname="$(basename "$deb")"

# Commands in the tree without booting it (no systemd runs there, so the
# package's scripts only enable, as in a chroot or an image build).
run_in() {
	systemd-nspawn -q --register=no --keep-unit -D "$dir" \
		--bind="$cache/archives:/var/cache/apt/archives" "$@"
}
echo "deb $mirror $suite main" >"$dir/etc/apt/sources.list"
log "apt-get install ./$debname"
run_in sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ./root/$debname" \
	>"$work/apt.log" 2>&1 || fail "apt-get install: $(tail -20 "$work/apt.log")"
run_in dpkg-query -W -f='    ${Package} ${Version}\n' ctsync conntrackd keepalived nftables iproute2 conntrack systemd

log "systemd-analyze verify ctsyncd.service"
if ! run_in systemd-analyze verify --man=no /lib/systemd/system/ctsyncd.service >"$work/verify.log" 2>&1; then
	cat "$work/verify.log"
	fail "systemd-analyze verify"
fi
sed 's/^/    /' "$work/verify.log"
for u in conntrackd.service keepalived.service; do
	[ "$(readlink "$dir/etc/systemd/system/$u")" = /dev/null ] || fail "$u is not masked after install"
done
[ -L "$dir/etc/systemd/system/multi-user.target.wants/ctsyncd.service" ] || fail "ctsyncd.service is not enabled"
[ -f "$dir/config/config.boot" ] || fail "no default /config/config.boot"
log "installed: Debian's units masked, ctsyncd enabled, default config.boot in place"

# The links the configuration uses, made at every boot before ctsyncd
# (a commit at boot needs its interfaces): sync0 for conntrack-sync,
# lan0 for VRRP, as on a router with a dedicated sync link; in the
# container's own network namespace.
cat >"$dir/etc/systemd/system/test-links.service" <<'UNIT'
[Unit]
Description=test links for ctsync (veth pair)
Before=ctsyncd.service network-online.target
DefaultDependencies=no
After=systemd-sysctl.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/ip link add sync0 type veth peer name sync0p
ExecStart=/bin/ip addr add 192.0.2.1/24 dev sync0
ExecStart=/bin/ip link set sync0p up
ExecStart=/bin/ip link set sync0 up
ExecStart=/bin/ip link add lan0 type veth peer name lan0p
ExecStart=/bin/ip addr add 198.51.100.1/24 dev lan0
ExecStart=/bin/ip link set lan0p up
ExecStart=/bin/ip link set lan0 up
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/test-links.service "$dir/etc/systemd/system/multi-user.target.wants/test-links.service"

boot() {
	systemd-nspawn -q --register=no --keep-unit --private-network -D "$dir" --boot >>"$work/console.log" 2>&1 &
	nspawn_pid=$!
	init=""
	for _ in $(seq 1 100); do
		for c in $(pgrep -P "$nspawn_pid" 2>/dev/null); do
			# The container's init is pid 1 in its own pid namespace.
			if awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$c/status" 2>/dev/null; then
				init=$c
			fi
		done
		[ -n "$init" ] && break
		kill -0 "$nspawn_pid" 2>/dev/null || break
		sleep 0.2
	done
	if [ -z "$init" ]; then
		log "the container did not boot; its console:"
		tail -30 "$work/console.log" | sed 's/^/    /'
		log "NOT RUN: the boot checks (systemd-nspawn --boot failed on this machine: see its console above); install and systemd-analyze verify passed"
		exit 2
	fi
	log "container booting: nspawn pid $nspawn_pid, init pid $init"
	# Until systemd inside has its bus up, systemctl answers "offline".
	local state="" i
	for i in $(seq 1 240); do
		state="$(timeout 60 nsenter --target "$init" --all -- systemctl is-system-running --wait 2>/dev/null || true)"
		case "$state" in running | degraded) break ;; esac
		kill -0 "$nspawn_pid" 2>/dev/null || fail "the container exited while booting: $(tail -5 "$work/console.log")"
		sleep 0.5
	done
	log "system state: $state"
	if [ "$state" != running ]; then
		inside systemctl --failed --no-legend | sed 's/^/    /' || true
	fi
}
inside() { nsenter --target "$init" --all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb "$@"; }

pidof_in() { inside sh -c "cat /run/ctsync/$1.pid 2>/dev/null" || true; }
check_engines() {
	local c k
	c="$(pidof_in conntrackd)"
	k="$(pidof_in keepalived)"
	[ -n "$c" ] && inside sh -c "[ \"\$(cat /proc/$c/comm)\" = conntrackd ]" || fail "conntrackd is not running under ctsyncd (pid file: '$c')"
	[ -n "$k" ] && inside sh -c "[ \"\$(cat /proc/$k/comm)\" = keepalived ]" || fail "keepalived is not running under ctsyncd (pid file: '$k')"
	echo "$c $k"
}
check_debian_units() {
	local u s
	for u in conntrackd.service keepalived.service; do
		s="$(inside systemctl is-active "$u" || true)"
		[ "$s" != active ] || fail "Debian's $u is running"
		log "Debian's $u: $(inside systemctl is-enabled "$u" 2>/dev/null || true), $s"
	done
}

boot
s="$(inside systemctl is-active ctsyncd || true)"
[ "$s" = active ] || { inside journalctl -u ctsyncd --no-pager | tail -30; fail "ctsyncd is $s"; }
log "systemctl is-active ctsyncd: $s"
check_debian_units

log "configure + commit through the shell"
inside ctsync configure <<'CFG' | sed 's/^/    /' || fail "configure"
set service conntrack-sync interface sync0 peer 192.0.2.2
set service conntrack-sync failover-mechanism vrrp sync-group MAIN
set high-availability vrrp group wan interface lan0
set high-availability vrrp group wan vrid 10
set high-availability vrrp group wan address 198.51.100.100/24
set high-availability vrrp sync-group MAIN member wan
set service ctsync metrics listen-address 127.0.0.1
commit comment "test-package"
save
exit
CFG
read -r cpid kpid < <(check_engines)
log "engines under ctsyncd: conntrackd pid $cpid, keepalived pid $kpid"
check_debian_units
inside ctsync show conntrack-sync status | sed 's/^/    /' || true
log "metrics on 127.0.0.1:9797:"
inside bash -c 'exec 3<>/dev/tcp/127.0.0.1/9797 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3' >"$work/metrics.txt" || fail "no metrics on 127.0.0.1:9797"
grep -E '^ctsync_(ready|conntrackd_up|commits_total|kernel_conntrack_max_entries|engine_restarts_total)' "$work/metrics.txt" | sed 's/^/    /'
grep -q '^ctsync_conntrackd_up 1' "$work/metrics.txt" || fail "metrics: conntrackd_up is not 1"
log "show log ctsyncd tail 5:"
inside ctsync show log ctsyncd tail 5 | sed 's/^/    /' || fail "show log ctsyncd"
log "show log conntrack-sync tail 3:"
inside ctsync show log conntrack-sync tail 3 | sed 's/^/    /' || fail "show log conntrack-sync"

# Alone on its link, keepalived becomes master within a few adverts and
# runs the hook, which logs to the journal with structured fields: a
# match on STATE= and GROUP= finds its lines only if they are fields.
log "the hook's journal lines (journalctl SYSLOG_IDENTIFIER=ctsync-vrrp-transition STATE=master GROUP=MAIN):"
hook=""
for _ in $(seq 1 30); do
	hook="$(inside journalctl --no-pager -o cat SYSLOG_IDENTIFIER=ctsync-vrrp-transition STATE=master GROUP=MAIN 2>/dev/null || true)"
	[ -n "$hook" ] && break
	sleep 1
done
[ -n "$hook" ] || fail "no journal entry of the hook with STATE=master GROUP=MAIN"
printf '%s\n' "$hook" | tail -4 | sed 's/^/    /'
inside journalctl --no-pager -o verbose -n 1 SYSLOG_IDENTIFIER=ctsync-vrrp-transition STEP=commit 2>/dev/null |
	grep -E '^ +(STATE|GROUP|STEP|DURATION|CTSYNC_ROOT)=' | sed 's/^ */    /' || true
log "show log vrrp tail 3:"
inside ctsync show log vrrp tail 3 | sed 's/^/    /' || fail "show log vrrp"

log "systemctl restart ctsyncd"
inside systemctl restart ctsyncd || fail "restart ctsyncd"
[ "$(inside systemctl is-active ctsyncd || true)" = active ] || fail "ctsyncd not active after restart"
read -r cpid2 kpid2 < <(check_engines)
[ "$cpid2" = "$cpid" ] && [ "$kpid2" = "$kpid" ] ||
	{ inside journalctl --no-pager -u ctsyncd -n 25 | sed 's/^/    /'; fail "engines restarted with ctsyncd: conntrackd $cpid -> $cpid2, keepalived $kpid -> $kpid2"; }
log "after the restart: the same engines (conntrackd $cpid2, keepalived $kpid2)"

log "reboot"
inside systemctl reboot || true
rc=0
wait "$nspawn_pid" || rc=$?
nspawn_pid=""
# systemd-nspawn exits with 133 when the container asked for a reboot.
[ "$rc" = 133 ] || [ "$rc" = 0 ] || fail "systemd-nspawn exited $rc at reboot"
boot
[ "$(inside systemctl is-active ctsyncd || true)" = active ] || fail "ctsyncd not active after reboot"
inside ctsync show configuration commands >"$work/after-reboot.txt" || fail "show configuration after reboot"
grep -q "set high-availability vrrp group wan vrid '\?10'\?" "$work/after-reboot.txt" ||
	{ cat "$work/after-reboot.txt"; fail "the committed configuration did not come back after the reboot"; }
read -r cpid3 kpid3 < <(check_engines)
log "after the reboot: committed configuration back, conntrackd $cpid3, keepalived $kpid3"
check_debian_units
inside ctsync show system commit | head -5 | sed 's/^/    /' || true

log "apt-get purge ctsync"
inside sh -c 'DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq ctsync' >"$work/purge.log" 2>&1 || fail "purge: $(tail -5 "$work/purge.log")"
for u in conntrackd.service keepalived.service; do
	[ "$(readlink "$dir/etc/systemd/system/$u" 2>/dev/null)" != /dev/null ] || fail "$u still masked after purge"
	log "after purge, Debian's $u: $(inside systemctl is-enabled "$u" 2>/dev/null || true), $(inside systemctl is-active "$u" || true)"
done
for p in $cpid3 $kpid3; do
	inside sh -c "[ ! -e /proc/$p ]" || fail "engine pid $p still runs after purge"
done
log "after purge: Debian's units unmasked, the engines ctsyncd ran stopped, /config kept: $(ls "$dir/config" | tr "\n" " ")"
log "PASS"
