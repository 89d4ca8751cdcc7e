#!/bin/sh
# Failover benchmark (issue 3): time from the start of a master transition
# until all N synced flows are in the new master's kernel table, for
# ctsync's hook, stock `conntrackd -c` alone, and the stock primary-backup
# sequence (-c -f -R -B), on one pair of namespaces in one run.
#
# Needs root, conntrackd and conntrack. Creates its own namespaces and
# removes them. Environment:
#   CTSYNC_BENCH_FLOWS  flows to sync (default 100000)
#   BENCHTIME           go test -benchtime (default 5x: rounds per variant)
set -eu
cd "$(dirname "$0")/.."
exec go test -tags integration -run '^$' \
	-bench BenchmarkMasterTransition -benchtime "${BENCHTIME:-5x}" \
	-timeout 30m ./internal/transition/
