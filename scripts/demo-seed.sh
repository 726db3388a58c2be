#!/usr/bin/env bash
# demo-seed.sh fills `make run`'s demo data dir (scripts/lib/demo.sh says
# where; never the person's own data dir) with example records, with the
# real fieldsync commands against a real Drillbit:
#
#   1. this device imports docs/examples/demo-inspections.jsonl and syncs;
#   2. a simulated second device (its own data dir, device demo-tablet,
#      author sam) syncs, which pulls them, edits "Old mill bridge" and syncs;
#   3. this device edits the same fields of the same record and syncs: it
#      pulls the other edit, and the record is in conflict.
#
# So every screen has something to show: synced records, a sync history and
# one open conflict. A demo data dir that already has a store is used as it
# is (a second `make run` adds nothing); one that holds a store not marked as
# demo data is refused. The seed is built in $demo_dir/seeding and moved into
# place only when complete, so an interrupted seed starts again from scratch.
#
#   scripts/demo-seed.sh DRILL_URL
#
# Environment: FIELDSYNC_BIN (default build/bin/fieldsync),
# FIELDSYNC_DEMO_DIR, FIELDSYNC_DEMO_WORKSPACE (see scripts/lib/demo.sh).
# Prints what it did on stderr; nothing on stdout.
set -euo pipefail
umask 077
cd "$(dirname "$0")/.."
source scripts/lib/demo.sh

die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: scripts/demo-seed.sh DRILL_URL"
url=$1
bin=${FIELDSYNC_BIN:-build/bin/fieldsync}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
[ -x "$bin" ] || die "$bin is missing: run 'make build' first"
demo_isolate

data=$demo_dir/data
second=$demo_dir/second-device
marker=demo.txt # service.DemoMarker

# write_config FILE DATA_DIR DEVICE AUTHOR writes a demo device's settings
# (an empty AUTHOR leaves it to the OS user name).
write_config() {
  python3 - "$@" "$url" "$demo_workspace" "$demo_dir/drill" "$PWD/docs/examples/collections.json" <<'PY'
import json, os, sys
path, data, device, author, url, workspace, location, collections = sys.argv[1:]
c = {"data_dir": data, "device": device, "collections": collections,
     "drill": {"urls": [url], "workspace": workspace, "location": location}}
if author:
    c["author"] = author
tmp = path + ".tmp"
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    json.dump(c, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
}

mkdir -p "$demo_dir"
chmod 700 "$demo_dir"
# The settings are written every time: the Drillbit's address may change.
write_config "$demo_dir/config.json" "$data" demo-laptop ""
write_config "$demo_dir/second-device.json" "$second" demo-tablet sam

if [ -e "$data/fieldsync.db" ]; then
  [ -e "$data/$marker" ] || die "$data holds a store that is not demo data ($marker is missing); set FIELDSYNC_DEMO_DIR to another folder, or start without the demo: make run DEMO=0"
  printf 'demo: using the demo data in %s (delete that folder to start the demo afresh)\n' "$demo_dir" >&2
  exit 0
fi

printf 'demo: seeding example records into %s (Drill workspace dfs.%s)\n' "$demo_dir" "$demo_workspace" >&2
seeding=$demo_dir/seeding
rm -rf "$seeding" "$second" "$demo_dir/drill"
mkdir -p -m 700 "$seeding/data" "$seeding/second-device" "$demo_dir/drill"
for d in "$seeding/data" "$seeding/second-device"; do
  printf 'This folder holds fieldsync demo data, seeded by scripts/demo-seed.sh (make run).\nDelete %s to start the demo afresh; make run DEMO=0 starts without it.\n' "$demo_dir" >"$d/$marker"
done

# this and other run a fieldsync command on the demo device and on the
# simulated second device (the seeding copies of their data dirs).
this() { demo_args "$demo_dir/config.json" "$seeding/data" "$url"; "$bin" "$1" "${demo_args[@]}" "${@:2}"; }
other() { demo_args "$demo_dir/second-device.json" "$seeding/second-device" "$url"; "$bin" "$1" "${demo_args[@]}" "${@:2}"; }
# quiet runs a command and shows its output only when it fails.
quiet() {
  local out
  out=$("$@" 2>&1) || {
    printf '%s\n' "$out" >&2
    die "could not seed the demo: 'fieldsync $2' failed (above); 'make run DEMO=0' starts without the demo"
  }
}

quiet this import --collection inspections docs/examples/demo-inspections.jsonl
quiet this sync
quiet other sync
quiet other import --collection inspections - <<'JSONL'
{"id":"demo-old-mill-bridge","site":"Old mill bridge","inspector":"Ben Okafor","temperature_c":9,"defects":3,"passed":false,"risk":"high","inspected_at":"2026-03-03T11:20:00Z","notes":"Crack on the east abutment has widened to 4 mm; footpath closed."}
JSONL
quiet other sync
quiet this import --collection inspections - <<'JSONL'
{"id":"demo-old-mill-bridge","site":"Old mill bridge","inspector":"Ben Okafor","temperature_c":9,"defects":2,"passed":true,"risk":"low","inspected_at":"2026-03-03T11:20:00Z","notes":"Crack on the east abutment sealed by the contractor; spalling under the deck remains."}
JSONL
out=$(this sync --json 2>&1) || { printf '%s\n' "$out" >&2; die "could not seed the demo: the last sync failed (above)"; }
conflicts=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["conflicts"])' <<<"$out") ||
  die "could not read the last sync's report: $out"
[ "$conflicts" = 1 ] || die "expected 1 open conflict after the seed, found $conflicts"

mv "$seeding/second-device" "$second"
mv "$seeding/data" "$data"
rmdir "$seeding"
printf 'demo: seeded %s example records, synced through %s, and 1 open conflict with a second device\n' \
  "$(grep -c . docs/examples/demo-inspections.jsonl)" "$url" >&2
