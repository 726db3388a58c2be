#!/usr/bin/env bash
# run.sh opens the built fieldsync app. When no Drillbit is configured (no
# drill.urls in the settings and no FIELDSYNC_DRILL_URLS), it starts the local
# development Drillbit (scripts/drillbit.sh) and points the app at it; when no
# collections file is configured it uses docs/examples/collections.json.
# Without a display it serves the same UI to a browser instead (fieldsync serve).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin/fieldsync

settings=$("$bin" settings --json)
get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" <<<"$settings"; }

if [ -z "$(get "','.join(d['drill'].get('urls') or [])")" ]; then
  url=$(scripts/drillbit.sh start | sed -n 's/^FIELDSYNC_DRILL_URL=//p')
  echo "run: no Drillbit configured; using the local development Drillbit at $url" >&2
  export FIELDSYNC_DRILL_URLS=$url
fi
if [ -z "$(get "d.get('collections') or ''")" ]; then
  export FIELDSYNC_COLLECTIONS=$PWD/docs/examples/collections.json
fi

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "run: no display (DISPLAY is not set): serving the UI to a browser instead; open the URL below." >&2
  exec "$bin" serve
fi
exec "$bin"
