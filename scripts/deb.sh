#!/usr/bin/env bash
# make deb: the binaries, the systemd unit, the maintainer scripts, the
# default config.boot, logrotate, man pages and bash completion into a
# .deb with dpkg-deb (no debhelper needed: what dh would generate is
# written out in debian/postinst, prerm and postrm). The binaries are
# built here, stripped and position-independent, as Debian's hardening
# asks (lintian checks it: make test-package runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
version="${VERSION:-0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M 2>/dev/null || date +%Y%m%d%H%M)}"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

bindir="$stage.bin"
mkdir -p "$bindir"
trap 'rm -rf "$stage" "$bindir"' EXIT
go build -trimpath -buildmode=pie -ldflags='-s -w -linkmode=external -extldflags=-Wl,-z,relro,-z,now' -o "$bindir/" ./cmd/ctsync ./cmd/ctsyncd

install -D -m 0755 "$bindir/ctsync" "$stage/usr/bin/ctsync"
install -D -m 0755 "$bindir/ctsyncd" "$stage/usr/sbin/ctsyncd"
install -D -m 0644 debian/ctsyncd.service "$stage/lib/systemd/system/ctsyncd.service"
install -D -m 0644 debian/config.boot "$stage/usr/share/ctsync/config.boot.default"
install -D -m 0644 debian/ctsync.logrotate "$stage/etc/logrotate.d/ctsync"
install -D -m 0644 README.md "$stage/usr/share/doc/ctsync/README.md"
install -D -m 0644 debian/copyright "$stage/usr/share/doc/ctsync/copyright"
install -D -m 0644 debian/ctsync.bash-completion "$stage/usr/share/bash-completion/completions/ctsync"
# A native package's changelog, from git, compressed as policy asks.
{
	echo "ctsync ($version) unstable; urgency=medium"
	echo
	git log -20 --format='  * %s' 2>/dev/null | cut -c1-78 || echo "  * Build from a checkout."
	echo
	echo " -- ctsync developers <ctsync-devel@lists.example.org>  $(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$stage/usr/share/doc/ctsync/changelog.gz"
# Man pages compressed as Debian policy asks; -n keeps the name and time
# out of the header so that the package builds reproducibly.
for page in debian/ctsync.1 debian/ctsyncd.8; do
	sect="${page##*.}"
	install -d -m 0755 "$stage/usr/share/man/man$sect"
	gzip -9n <"$page" >"$stage/usr/share/man/man$sect/$(basename "$page").gz"
	chmod 0644 "$stage/usr/share/man/man$sect/$(basename "$page").gz"
done
find "$stage" -type d -exec chmod 0755 {} +

install -d -m 0755 "$stage/DEBIAN"
for s in postinst prerm postrm; do
	install -m 0755 "debian/$s" "$stage/DEBIAN/$s"
done
install -m 0644 debian/conffiles "$stage/DEBIAN/conffiles"
size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" debian/control.in >"$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums"
out="bin/ctsync_${version}_${arch}.deb"
mkdir -p bin
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "$out"
