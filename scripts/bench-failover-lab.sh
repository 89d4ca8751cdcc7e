#!/bin/sh
# Failover in the two-router lab (issue 9), in one run: the longest gap,
# the flows alive and the new master's resets (TcpOutRsts) at failover
# r1->r2, for stock conntrackd + keepalived with primary-backup.sh (advert
# 1 s), ctsync (advert 1 s), ctsync (advert 0.1 s, VRRPv3) and ctsync with
# disable-external-cache, each at 200 and at 100,200 synced entries; and,
# for ctsync, the time from the master hook's start until the switchover
# guard's drop rule is lifted; and after each failback, how much of the
# table r1's internal cache and r2's external cache still hold. See
# BenchmarkFailoverGuard.
#
# Needs root, conntrackd, keepalived, nft. Builds its own namespaces and
# removes them. About 6 minutes.
set -eu
cd "$(dirname "$0")/.."
exec go test -tags integration -run '^$' \
	-bench BenchmarkFailoverGuard -benchtime 1x \
	-timeout 45m ./internal/lab/
