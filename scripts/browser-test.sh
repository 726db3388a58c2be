#!/usr/bin/env bash
# browser-test.sh runs the browser end-to-end tests (e2e/tests/*.test.mjs):
# `fieldsync serve` devices with private data dirs and a private Drill
# workspace, driven in Debian's headless Chromium by playwright-core, synced
# into a real Drillbit. scripts/test.sh calls it after "build app".
#
#   scripts/browser-test.sh                  every test file
#   scripts/browser-test.sh conflict         only e2e/tests/conflict.test.mjs
#
# Needs: build/bin/fieldsync (make build), /usr/bin/chromium, node >= 20.19,
# e2e/node_modules (npm ci in e2e/; scripts/setup.sh does it). Uses the
# Drillbit in FIELDSYNC_DRILL_URL (test.sh starts one); without it, starts a
# private one for the run and stops it at the end.
#
# Artefacts: build/artifacts/e2e/*.png (screens), *.log (serve + browser).
# FIELDSYNC_E2E_KEEP=1 keeps the temp dirs; FIELDSYNC_E2E_VERBOSE=1 echoes
# browser console errors.
set -uo pipefail
cd "$(dirname "$0")/.."

die() { printf 'browser-test: %s\n' "$*" >&2; exit 1; }

source scripts/lib/e2e-prereq.sh

drill_data=''
cleanup() {
  local rc=$?
  if [ -n "$drill_data" ]; then
    scripts/drillbit.sh stop --data "$drill_data" >/dev/null 2>&1
    rm -rf "$drill_data"
  fi
  exit "$rc"
}
trap cleanup EXIT

if [ -z "${FIELDSYNC_DRILL_URL:-}" ]; then
  drill_data=$(mktemp -d /tmp/fieldsync-e2e-drill.XXXXXX)
  echo "browser-test: no FIELDSYNC_DRILL_URL; starting a private Drillbit"
  url=$(scripts/drillbit.sh start --port 0 --user-port 0 --data "$drill_data" | sed -n 's/^FIELDSYNC_DRILL_URL=//p')
  [ -n "$url" ] || die "could not start a Drillbit (see $drill_data/drillbit.log)"
  export FIELDSYNC_DRILL_URL=$url
fi

mkdir -p build/artifacts/e2e
rm -f build/artifacts/e2e/*.png build/artifacts/e2e/*.log

files=()
if [ $# -gt 0 ]; then
  for n in "$@"; do
    f=e2e/tests/$n.test.mjs
    [ -f "$f" ] || die "no test file $f"
    files+=("$f")
  done
else
  files=(e2e/tests/*.test.mjs)
fi

echo "browser-test: Drillbit $FIELDSYNC_DRILL_URL, binary $bin, ${#files[@]} file(s)"
export FIELDSYNC_BIN=$bin
# One file at a time: each runs its own serve processes and browsers, and
# the machine is small.
node --test --test-concurrency=1 --test-reporter=spec "${files[@]/#/$PWD/}"
rc=$?
shots=$(ls build/artifacts/e2e/*.png 2>/dev/null | wc -l)
echo "browser-test: $shots screenshot(s) in build/artifacts/e2e/"
exit $rc
