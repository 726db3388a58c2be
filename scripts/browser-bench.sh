#!/usr/bin/env bash
# browser-bench.sh runs the browser capture benchmark (e2e/bench/capture.mjs)
# against `fieldsync serve` in Debian's headless Chromium and prints a
# readable result block on stdout; scripts/bench.sh records it in
# docs/BENCHMARKS.md (section "browser").
#
#   scripts/browser-bench.sh
#   FIELDSYNC_BENCH_RECORDS=10000 FIELDSYNC_BENCH_EDITS=200 scripts/browser-bench.sh
#
# Measures, in one page: raw IndexedDB puts of N records; a bulk import of
# the same N records through the app's data layer until Go acknowledged
# every change in its bbolt journal (the ratio of the two); and the
# edit-to-durable latency (median, p99) of single edits. Needs what
# scripts/browser-test.sh needs; the Drillbit is not used by the figures
# (serve runs with --no-agent) but FIELDSYNC_DRILL_URL must be set (bench.sh
# sets it) so the device is configured as in the field.
set -uo pipefail
cd "$(dirname "$0")/.."

die() { printf 'browser-bench: %s\n' "$*" >&2; exit 1; }

source scripts/lib/e2e-prereq.sh
[ -n "${FIELDSYNC_DRILL_URL:-}" ] || die "FIELDSYNC_DRILL_URL is not set: run it through scripts/bench.sh (make bench), or 'scripts/drillbit.sh start' and export the URL it prints"

mkdir -p build/artifacts/e2e
FIELDSYNC_BIN=$bin exec node e2e/bench/capture.mjs
