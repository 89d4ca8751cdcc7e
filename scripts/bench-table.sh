#!/bin/bash
# bench-table.sh: "ctsync show conntrack table ipv4" against "conntrack -L"
# on the same N-entry table (default 250,000), in one run, in a network
# namespace made for it (and deleted after). Prints the median wall time,
# CPU time and peak RSS of each over RUNS alternating runs, the ratios,
# and checks both listed every entry. Needs root, conntrack, /usr/bin/time.
#   CTSYNC=bin/ctsync N=250000 RUNS=5 scripts/bench-table.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-250000}
RUNS=${RUNS:-5}
CTSYNC=${CTSYNC:-bin/ctsync}
[ "$(id -u)" = 0 ] || { echo "bench-table: needs root (it creates a network namespace)" >&2; exit 1; }
[ -x "$CTSYNC" ] || { echo "bench-table: $CTSYNC not built (make build)" >&2; exit 1; }
CTSYNC=$(readlink -f "$CTSYNC")
work=$(mktemp -d)
ns=ctsbench-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/ctfill" ./internal/ctflow/bench/ctfill
ip netns add "$ns"
echo "filling $N entries..."
ip netns exec "$ns" "$work/ctfill" -n "$N"
have=$(ip netns exec "$ns" conntrack -C)
[ "$have" -ge "$N" ] || { echo "bench-table: table has $have entries, wanted $N" >&2; exit 1; }

measure() { # name, command...: appends "wall cpu rssKiB lines" to $work/name
	local name=$1; shift
	/usr/bin/time -o "$work/t" -f "%e %U %S %M" ip netns exec "$ns" "$@" >"$work/out" 2>/dev/null
	read -r wall user sys rss <"$work/t"
	echo "$wall $(echo "$user + $sys" | bc) $rss $(wc -l <"$work/out")" >>"$work/$name"
}
for i in $(seq "$RUNS"); do
	measure conntrack conntrack -L -f ipv4
	measure ctsync "$CTSYNC" show conntrack table ipv4
done
median() { sort -n -k"$2" "$work/$1" | awk -v k="$2" '{a[NR]=$k} END {print a[int((NR+1)/2)]}'; }
cw=$(median conntrack 1); cc=$(median conntrack 2); cr=$(median conntrack 3); cl=$(median conntrack 4)
sw=$(median ctsync 1); sc=$(median ctsync 2); sr=$(median ctsync 3); sl=$(median ctsync 4)
printf '%-28s %10s %10s %12s %10s\n' "table of $have entries" "wall s" "cpu s" "peak RSS" "lines"
printf '%-28s %10s %10s %9s KiB %10s\n' "conntrack -L" "$cw" "$cc" "$cr" "$cl"
printf '%-28s %10s %10s %9s KiB %10s\n' "ctsync show conntrack table" "$sw" "$sc" "$sr" "$sl"
printf 'ratio ctsync/conntrack: wall %.2fx, cpu %.2fx, RSS %.2fx (median of %d runs)\n' \
	"$(echo "$sw / $cw" | bc -l)" "$(echo "$sc / $cc" | bc -l)" "$(echo "$sr / $cr" | bc -l)" "$RUNS"
# ctsync prints a header line; conntrack -L prints none.
[ "$sl" -eq $((cl + 1)) ] && [ "$cl" -eq "$have" ] || { echo "bench-table: entries listed differ: conntrack $cl, ctsync $((sl - 1)), table $have" >&2; exit 1; }
[ "$sr" -le 65536 ] || { echo "bench-table: ctsync peak RSS $sr KiB is over 64 MiB" >&2; exit 1; }
echo "every entry listed by both; ctsync peak RSS within 64 MiB"
