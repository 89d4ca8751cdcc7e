#!/bin/bash
# bench-reset.sh: "ctsync reset conntrack" against "conntrack -D" on the
# same N-entry table (default 100,000), in a network namespace made for
# it (and deleted after): the whole ipv4 table, and the quarter of it
# with mark 1 (a filter both hand to the kernel). Prints the median wall
# time and CPU time of each over RUNS alternating runs, refilling the
# table before each, and checks each removed what it should.
#   CTSYNC=bin/ctsync N=100000 RUNS=3 scripts/bench-reset.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
RUNS=${RUNS:-3}
CTSYNC=${CTSYNC:-bin/ctsync}
[ "$(id -u)" = 0 ] || { echo "bench-reset: needs root (it creates a network namespace)" >&2; exit 1; }
[ -x "$CTSYNC" ] || { echo "bench-reset: $CTSYNC not built (make build)" >&2; exit 1; }
CTSYNC=$(readlink -f "$CTSYNC")
work=$(mktemp -d)
ns=ctsreset-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/ctfill" ./internal/ctflow/bench/ctfill
ip netns add "$ns"

refill() {
	ip netns exec "$ns" conntrack -F 2>/dev/null || true
	ip netns exec "$ns" "$work/ctfill" -n "$N" -mark-every 4
}
measure() { # name, expected removals, command...: appends "wall cpu" to $work/name
	local name=$1 want=$2; shift 2
	refill
	local before after
	before=$(ip netns exec "$ns" conntrack -C)
	/usr/bin/time -o "$work/t" -f "%e %U %S" ip netns exec "$ns" "$@" >/dev/null 2>&1
	after=$(ip netns exec "$ns" conntrack -C)
	[ $((before - after)) -eq "$want" ] || { echo "bench-reset: $name removed $((before - after)), want $want" >&2; exit 1; }
	read -r wall user sys <"$work/t"
	echo "$wall $(echo "$user + $sys" | bc)" >>"$work/$name"
}
for i in $(seq "$RUNS"); do
	measure conntrack-all "$N" conntrack -D -f ipv4
	measure ctsync-all "$N" "$CTSYNC" reset conntrack ipv4 --yes
	measure conntrack-mark $((N / 4)) conntrack -D -f ipv4 -m 1
	measure ctsync-mark $((N / 4)) "$CTSYNC" reset conntrack ipv4 mark 1 --yes
done
median() { sort -n -k"$2" "$work/$1" | awk -v k="$2" '{a[NR]=$k} END {print a[int((NR+1)/2)]}'; }
printf '%-44s %8s %8s\n' "table of $N entries" "wall s" "cpu s"
for what in all mark; do
	for tool in conntrack ctsync; do
		label="$tool -D -f ipv4"
		[ $tool = ctsync ] && label="ctsync reset conntrack ipv4"
		[ $what = mark ] && label="$label mark 1"
		printf '%-44s %8s %8s\n' "$label" "$(median $tool-$what 1)" "$(median $tool-$what 2)"
	done
	printf 'ratio ctsync/conntrack (%s): wall %.2fx\n' "$what" "$(echo "$(median ctsync-$what 1) / $(median conntrack-$what 1)" | bc -l)"
done
echo "each removed exactly the entries it should"
