#!/usr/bin/env bash
# sign-windows.sh FILE signs a Windows executable in place with osslsigncode
# (Authenticode, SHA-256). scripts/package-windows.sh runs it on fieldsync.exe
# and makensis on the installer and the uninstaller inside it.
#
#   FIELDSYNC_SIGN_PFX            IT's code-signing certificate and key (PKCS#12)
#   FIELDSYNC_SIGN_PASSWORD       its password (read from a 0600 temp file, never
#                                 put on a command line)
#   FIELDSYNC_SIGN_TIMESTAMP_URL  optional RFC 3161 time-stamping server, so the
#                                 signature outlives the certificate
#
# Without FIELDSYNC_SIGN_PFX it signs nothing and says so (a developer build).
set -euo pipefail
file=${1:?usage: sign-windows.sh FILE}
if [ -z "${FIELDSYNC_SIGN_PFX:-}" ]; then
  echo "sign-windows: FIELDSYNC_SIGN_PFX is not set: $(basename "$file") is NOT signed" >&2
  exit 0
fi
[ -r "$FIELDSYNC_SIGN_PFX" ] || { echo "sign-windows: cannot read FIELDSYNC_SIGN_PFX=$FIELDSYNC_SIGN_PFX" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(umask 077; printf '%s' "${FIELDSYNC_SIGN_PASSWORD:-}" >"$tmp/pass")
args=(sign -pkcs12 "$FIELDSYNC_SIGN_PFX" -readpass "$tmp/pass" -h sha256 -n fieldsync)
[ -z "${FIELDSYNC_SIGN_TIMESTAMP_URL:-}" ] || args+=(-ts "$FIELDSYNC_SIGN_TIMESTAMP_URL")
if ! out=$(osslsigncode "${args[@]}" -in "$file" -out "$tmp/signed" 2>&1); then
  echo "$out" >&2; echo "sign-windows: signing $file failed" >&2; exit 1
fi
# cat, not mv: keeps the file's inode, mode and the path makensis expects.
cat "$tmp/signed" >"$file"
