#!/bin/sh
# The failover lab, the way a user first meets ctsync: on a Debian machine
# as root it installs what is missing, builds, and runs `ctsync-lab demo`
# (two routers in network namespaces, failover with and without
# conntrack-sync). Extra arguments go to ctsync-lab: --flows N, --keep.
set -eu

cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it creates network namespaces): sudo make demo" >&2
	exit 1
fi

# Go is not a Debian package here: the toolchain the module needs lives in
# /usr/local/go on a fresh machine.
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH="/usr/local/go/bin:$PATH"
fi
PATH="$PATH:/usr/sbin:/sbin"
export PATH
if ! command -v go >/dev/null 2>&1; then
	echo "demo: Go not found (install it in /usr/local/go, see go.mod for the version)" >&2
	exit 1
fi

# Engines and tools the lab drives, by Debian package.
missing=""
for pkg in conntrackd conntrack keepalived nftables iproute2 procps make; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $pkg"
	fi
done
if [ -n "$missing" ]; then
	echo "demo: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086 # the list is meant to split
	apt-get install -y -q --no-install-recommends $missing
fi

# The routers' sysctls need conntrack loaded; nftables would load it
# too, but say so early if the kernel cannot.
modprobe nf_conntrack 2>/dev/null || true

echo "demo: building"
make build

exec bin/ctsync-lab demo --bin bin "$@"
