#!/usr/bin/env bash
# package-windows.sh cross-builds fieldsync for Windows amd64 on this Linux
# machine and packs its NSIS installer (`make windows`, after the frontend
# build):
#   build/bin/fieldsync.exe                           the app and command line
#   build/bin/fieldsync_<version>_amd64_setup.exe     the installer
# The exe is built by `wails build` (pure Go, no cgo: Wails' Windows side
# needs no C compiler), which also embeds the icon, the manifest and the
# version info from build/windows/. The installer is
# build/windows/installer/fieldsync.nsi, compiled by Debian's makensis.
# Both, and the uninstaller inside the installer, are signed by
# scripts/sign-windows.sh when FIELDSYNC_SIGN_PFX is set (see there).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
root=$PWD
version=$(python3 -c 'import json; print(json.load(open("wails.json"))["info"]["productVersion"])')
build_version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
[ -f frontend/dist/index.html ] || { echo "package-windows: frontend/dist is not built: run make windows" >&2; exit 1; }
for tool in wails makensis osslsigncode; do
  command -v "$tool" >/dev/null || { echo "package-windows: $tool is missing: run make setup" >&2; exit 1; }
done

log=$(mktemp)
stage=$(mktemp -d)
trap 'rm -rf "$log" "$stage"' EXIT
run() { # quiet unless it fails
  "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "package-windows: failed: $*" >&2; exit 1; }
}

# -s: the frontend is built already; -skipbindings, -m, -nosyncgomod: leave
# frontend/wailsjs, go.mod and go.sum alone. wails adds -H windowsgui -s -w.
rm -f build/bin/fieldsync.exe
run wails build -platform windows/amd64 -s -skipbindings -m -nosyncgomod -trimpath -nocolour \
  -tags desktop,production -ldflags "-X github.com/fieldsync/fieldsync/internal/cli.version=$build_version" \
  -o fieldsync.exe
exe=build/bin/fieldsync.exe
[ -f "$exe" ] || { cat "$log" >&2; echo "package-windows: wails build made no $exe" >&2; exit 1; }
scripts/sign-windows.sh "$exe"

for f in README.md docs/CONFIG.md docs/OPERATIONS.md docs/ANALYSTS.md docs/SECURITY.md; do
  install -Dm0644 "$f" "$stage/docs/$(basename "$f")"
done
install -Dm0644 docs/examples/collections.json "$stage/docs/examples/collections.json"

# Microsoft's WebView2 bootstrapper, shipped inside the Wails module, runs
# when a machine lacks the runtime (it downloads the runtime from Microsoft).
wv2="$(go list -m -f '{{.Dir}}' github.com/wailsapp/wails/v2)/internal/webview2runtime/MicrosoftEdgeWebview2Setup.exe"
[ -f "$wv2" ] || { echo "package-windows: $wv2 is missing: run make setup" >&2; exit 1; }

out=build/bin/fieldsync_${version}_amd64_setup.exe
rm -f "$out"
run makensis -V2 -INPUTCHARSET UTF8 \
  "-DVERSION=$version" "-DEXE=$root/$exe" "-DOUTFILE=$root/$out" "-DDOCS=$stage/docs" \
  "-DICON=$root/build/windows/icon.ico" "-DWEBVIEW2_SETUP=$wv2" "-DSIGN=$root/scripts/sign-windows.sh" \
  build/windows/installer/fieldsync.nsi
[ -f "$out" ] || { cat "$log" >&2; echo "package-windows: makensis made no $out" >&2; exit 1; }
[ -n "${FIELDSYNC_SIGN_PFX:-}" ] || echo "package-windows: FIELDSYNC_SIGN_PFX is not set: the installer and uninstaller are NOT signed" >&2
echo "$out"
