#!/usr/bin/env bash
# make bench: every speed and memory figure the README reports, each
# against the stock tool in the same run where there is one.
#   1. commit check (validate + verify + generate), schema, config.boot,
#      archive listing of 1,000 revisions
#   2. show conntrack table ipv4 vs conntrack -L on 250,000 entries
#   3. master transition vs conntrackd -c and the stock -c -f -R -B sequence
#   4. reset conntrack vs conntrack -D on 100,000 entries, whole and filtered
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

echo "== 1. ctsync's own work (go test -bench)"
go test -run '^$' -bench 'CommitCheck|ResolveValidate|ParseFormat|Render|List1000' -benchmem \
	./internal/commit/ ./internal/schema/ ./internal/configtree/ ./internal/archive/ ./conf-mode/... | grep -E '^(Benchmark|ok|---)'

echo
echo "== 2. show conntrack table ipv4 vs conntrack -L"
CTSYNC="${CTSYNC:-bin/ctsync}" ./scripts/bench-table.sh

echo
echo "== 3. master transition vs conntrackd -c"
./scripts/bench-failover.sh

echo
echo "== 4. reset conntrack vs conntrack -D"
CTSYNC="${CTSYNC:-bin/ctsync}" ./scripts/bench-reset.sh
