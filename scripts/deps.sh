#!/usr/bin/env bash
# Installs what ctsync needs on Debian 12, as root: the engines it drives
# and the tools its tests use. Only what is missing is installed, so it is
# cheap to run before every make test / make demo.
set -euo pipefail
# debootstrap, systemd-container (systemd-nspawn), lintian: make test-package;
# prometheus (and its promtool): the metrics tests.
pkgs=(conntrackd conntrack keepalived nftables iproute2 libyang2-tools make gcc libc6-dev procps psmisc
	debootstrap systemd-container lintian prometheus)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "deps: Go is at /usr/local/go/bin; add it to PATH" >&2
	else
		echo "deps: Go 1.26 is needed (https://go.dev/dl), at /usr/local/go" >&2
	fi
	exit 1
fi
