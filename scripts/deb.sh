#!/usr/bin/env bash
# make deb: bin/ctsync and bin/ctsyncd, the systemd unit, the man pages,
# the bash completion and the postinst into a .deb with dpkg-deb (no
# debhelper needed).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${VERSION:-0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d)}"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 bin/ctsync "$stage/usr/bin/ctsync"
install -D -m 0755 bin/ctsyncd "$stage/usr/sbin/ctsyncd"
install -D -m 0644 debian/ctsyncd.service "$stage/lib/systemd/system/ctsyncd.service"
install -D -m 0644 README.md "$stage/usr/share/doc/ctsync/README.md"
install -D -m 0644 debian/ctsync.bash-completion "$stage/usr/share/bash-completion/completions/ctsync"
# Man pages compressed as Debian policy asks; -n keeps the name and time
# out of the header so that the package builds reproducibly.
for page in debian/ctsync.1 debian/ctsyncd.8; do
	sect="${page##*.}"
	install -d -m 0755 "$stage/usr/share/man/man$sect"
	gzip -9n <"$page" >"$stage/usr/share/man/man$sect/$(basename "$page").gz"
	chmod 0644 "$stage/usr/share/man/man$sect/$(basename "$page").gz"
done
install -D -m 0755 debian/postinst "$stage/DEBIAN/postinst"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" debian/control.in >"$stage/DEBIAN/control"
out="bin/ctsync_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$out" >/dev/null
echo "$out"
dpkg-deb --info "$out" | sed -n '/Package/,/Depends/p'
