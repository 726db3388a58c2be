#!/usr/bin/env bash
# package-deb.sh builds build/bin/fieldsync_<version>_amd64.deb from the
# binary `make build` made: the app/command line, its desktop entry and icon,
# an XDG autostart entry (so the app starts at login), a systemd user unit
# for headless sync, systemd timers + services for IT's servers
# (fieldsync-compact and fieldsync-ingest, never enabled), and the docs. Installs silently:
#   sudo DEBIAN_FRONTEND=noninteractive apt-get install -y ./fieldsync_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/fieldsync
[ -x "$bin" ] || { echo "package-deb: $bin is missing: run make build first" >&2; exit 1; }
# FIELDSYNC_DEB_VERSION overrides wails.json's version (test-deb.sh builds an
# older package from the same binary to test upgrades).
version=${FIELDSYNC_DEB_VERSION:-$(python3 -c 'import json; print(json.load(open("wails.json"))["info"]["productVersion"])')}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -Dm0755 "$bin" "$stage/usr/bin/fieldsync"
install -Dm0644 build/linux/fieldsync.desktop "$stage/usr/share/applications/fieldsync.desktop"
install -Dm0644 build/appicon.png "$stage/usr/share/icons/hicolor/512x512/apps/fieldsync.png"
install -Dm0644 build/linux/fieldsync-autostart.desktop "$stage/etc/xdg/autostart/fieldsync.desktop"
install -Dm0644 build/linux/fieldsync-agent.service "$stage/usr/lib/systemd/user/fieldsync-agent.service"
# Compaction is IT's server job: installed, never enabled by the package.
for u in fieldsync-compact.service fieldsync-compact.timer fieldsync-compact-json.service fieldsync-compact-json.timer; do
  install -Dm0644 "build/linux/$u" "$stage/usr/lib/systemd/system/$u"
done
# The server-side ingester, for IT to enable on a server (never enabled by
# the package): systemctl enable --now fieldsync-ingest.timer
install -Dm0644 build/linux/fieldsync-ingest.service "$stage/usr/lib/systemd/system/fieldsync-ingest.service"
install -Dm0644 build/linux/fieldsync-ingest.timer "$stage/usr/lib/systemd/system/fieldsync-ingest.timer"
for f in README.md docs/CONFIG.md docs/OPERATIONS.md docs/ANALYSTS.md docs/SECURITY.md; do
  install -Dm0644 "$f" "$stage/usr/share/doc/fieldsync/$(basename "$f")"
done
install -Dm0644 docs/examples/collections.json "$stage/usr/share/doc/fieldsync/examples/collections.json"
mkdir -p "$stage/DEBIAN"
echo /etc/xdg/autostart/fieldsync.desktop > "$stage/DEBIAN/conffiles"
size=$(du -sk "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: fieldsync
Version: $version
Section: utils
Priority: optional
Architecture: amd64
Depends: libgtk-3-0, libwebkit2gtk-4.1-0
Installed-Size: $size
Maintainer: fieldsync maintainers <fieldsync@localhost>
Description: offline-first field data capture, synced to Apache Drill
 fieldsync keeps every record captured in the field in a durable journal
 on the machine and pushes it to an Apache Drill cluster on a schedule,
 pulling other devices' changes back and surfacing conflicts for review.
CONTROL
out=build/bin/fieldsync_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "$out"
