#!/usr/bin/env bash
# run.sh opens the built fieldsync app (make run).
#
# By default it opens the demo: example records seeded by
# scripts/demo-seed.sh into a demo data dir of their own (scripts/lib/demo.sh;
# never the person's own data dir, never a dir with real data), synced through
# the local development Drillbit, with one open conflict; the window's header
# says "Demo data". A second run reuses that data as it is.
#
# DEMO=0 (make run DEMO=0, or FIELDSYNC_DEMO=0) starts with the person's own
# settings and data instead. When no Drillbit is configured (no drill.urls in
# the settings and no FIELDSYNC_DRILL_URLS) it starts the local development
# Drillbit (scripts/drillbit.sh) and points the app at it; when no
# collections file is configured it uses docs/examples/collections.json.
#
# The local Drillbit is the one in FIELDSYNC_DRILL_URL when that is set (the
# test scripts' convention), else scripts/drillbit.sh's.
# Without a display it serves the same UI to a browser instead (fieldsync
# serve); the address to open is the first line on standard output.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FIELDSYNC_BIN:-build/bin/fieldsync}

local_drillbit() {
  if [ -n "${FIELDSYNC_DRILL_URL:-}" ]; then
    printf '%s\n' "$FIELDSYNC_DRILL_URL"
  else
    scripts/drillbit.sh start | sed -n 's/^FIELDSYNC_DRILL_URL=//p'
  fi
}

args=()
if [ "${DEMO:-${FIELDSYNC_DEMO:-1}}" != 0 ]; then
  source scripts/lib/demo.sh
  url=$(local_drillbit)
  [ -n "$url" ] || { echo "run: the local development Drillbit did not start (scripts/drillbit.sh logs)" >&2; exit 1; }
  FIELDSYNC_BIN=$bin scripts/demo-seed.sh "$url"
  demo_isolate
  demo_args "$demo_dir/config.json" "$demo_dir/data" "$url"
  args=("${demo_args[@]}")
  echo "run: demo data from $demo_dir; 'make run DEMO=0' starts with your own data" >&2
else
  settings=$("$bin" settings --json)
  get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" <<<"$settings"; }
  if [ -z "$(get "','.join(d['drill'].get('urls') or [])")" ]; then
    url=$(local_drillbit)
    echo "run: no Drillbit configured; using the local development Drillbit at $url" >&2
    export FIELDSYNC_DRILL_URLS=$url
  fi
  if [ -z "$(get "d.get('collections') or ''")" ]; then
    export FIELDSYNC_COLLECTIONS=$PWD/docs/examples/collections.json
  fi
fi

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display (DISPLAY is not set): serving the UI to a browser instead; open the URL below." >&2
  exec "$bin" serve "${args[@]}"
fi
exec "$bin" "${args[@]}"
