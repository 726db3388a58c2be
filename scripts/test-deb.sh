#!/usr/bin/env bash
# test-deb.sh builds the .deb and checks it: control fields, every file in
# place with its mode, and that the packaged binary runs (extracted into a
# temp dir, so the machine's /usr is left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(scripts/package-deb.sh)
fail() { echo "test-deb: $*" >&2; exit 1; }
dpkg-deb -f "$deb" Package | grep -qx fieldsync || fail "Package field"
dpkg-deb -f "$deb" Depends | grep -q libwebkit2gtk-4.1-0 || fail "Depends lacks WebKitGTK 4.1"
contents=$(dpkg-deb -c "$deb")
for want in "-rwxr-xr-x root/root .* ./usr/bin/fieldsync" \
            "./usr/share/applications/fieldsync.desktop" \
            "./etc/xdg/autostart/fieldsync.desktop" \
            "./usr/lib/systemd/user/fieldsync-agent.service" \
            "./usr/share/doc/fieldsync/OPERATIONS.md"; do
  grep -Eq -- "$want" <<<"$contents" || fail "missing: $want"
done
x=$(mktemp -d); trap 'rm -rf "$x"' EXIT
dpkg-deb -x "$deb" "$x"
"$x/usr/bin/fieldsync" version | grep -q '^fieldsync ' || fail "packaged binary does not run"
desktop-file-validate "$x/usr/share/applications/fieldsync.desktop" 2>/dev/null || true
echo "test-deb: $deb ok ($(du -h "$deb" | cut -f1))"
