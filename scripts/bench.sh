#!/usr/bin/env bash
# bench.sh runs fieldsync's benchmarks and records their output in
# docs/BENCHMARKS.md, between the <!-- bench:NAME --> markers of each section
# (the prose around them is written by people and kept). Raw output also goes
# to bench-out/. `make bench` calls it after scripts/setup.sh.
#
#   scripts/bench.sh            every suite
#   scripts/bench.sh store push only those suites (store, size, push, reference, ingest, scale, fleet,
#                               fleet-cluster, fleet-1000, browser)
#
# The scale suite replicates 50 and 500 batches by default; the sizes of
# issue 8 (about 40 minutes more on 2 cores, most of it the 30,000-batch
# replication and first snapshot refresh):
#   FIELDSYNC_BENCH_BATCHES=50,500,2000,10000,30000 \
#     FIELDSYNC_BENCH_LAYOUTS=snapshot scripts/bench.sh scale
# The fleet suite simulates FIELDSYNC_BENCH_DEVICES (20) devices syncing
# every 10 simulated minutes in the first FIELDSYNC_BENCH_ACTIVE_HOURS (1)
# hours of FIELDSYNC_BENCH_DAYS (3) simulated days, with a compaction pass
# every simulated hour (7 minutes on 2 shared cores at load 5-6, 14 at 8-12;
# every hour of the day active, FIELDSYNC_BENCH_ACTIVE_HOURS=24: 1-1.5 h a day).
# The fleet suite runs three times: batches written as Parquet, then as JSON
# (drill.batch_format), then as JSON with light compaction passes every 2
# simulated minutes and a 1 minute settle (FIELDSYNC_BENCH_CONVERT_EVERY,
# FIELDSYNC_BENCH_JSON_SETTLE: fieldsync compact --json-only).
# The fleet-cluster suite runs the same simulation on the development cluster
# (FIELDSYNC_BENCH_CLUSTER=1: two Drillbits, the workspace on HDFS; the one
# named by FIELDSYNC_DRILL_URLS and FIELDSYNC_CLUSTER_DIR, as make cluster
# prints them, else one the test starts), the devices spread over the
# Drillbits (about 2 minutes a simulated day of 20 devices more than fleet).
# The fleet-1000 suite measures issue 8's goal on the development cluster: a
# fleet of 1,000 devices writing JSON batches with light passes every
# minute, of which 6 are real devices (measured) and 994 ghosts that write
# their batches straight into HDFS at the same schedule (agent/fleetghost_test.go;
# FIELDSYNC_BENCH_DAYS simulated days, default 1: about 25 minutes a day).
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"
mkdir -p bench-out
source scripts/lib/testdrill.sh
trap testdrill_stop EXIT

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(store size push reference ingest scale fleet fleet-cluster fleet-1000 browser)

record() { # name command...
  local name=$1; shift
  local out=bench-out/$name.txt
  echo "==> bench $name: $*"
  if ! "$@" >"$out" 2>&1; then
    cat "$out"; echo "bench $name FAILED"; return 1
  fi
  cat "$out"
  python3 scripts/lib/splice.py docs/BENCHMARKS.md "$name" "$*" "$out"
}

rc=0
for s in "${suites[@]}"; do
  case $s in
    store)
      record store go test -run '^$' -bench 'BenchmarkAppend|BenchmarkApplyRemote|BenchmarkPending' -benchtime 3s -count 3 ./store/ || rc=1
      record accept go test -run '^$' -bench 'BenchmarkServiceAccept|BenchmarkAcceptBody' -benchtime 3s -count 3 ./service/ ./app/bridge/ || rc=1
      record history go test -run '^$' -bench 'BenchmarkHistory|BenchmarkMigrateAuditRec' -benchtime 3s -count 3 ./store/ || rc=1 ;;
    size)
      record size go test -run '^$' -bench BenchmarkStoreSize -benchtime 1x ./store/ || rc=1 ;;
    push)
      if [ -z "${FIELDSYNC_DRILL_URL:-}" ]; then testdrill_start || { echo "cannot start a Drillbit"; exit 1; }; fi
      record push go test -run '^$' -bench 'BenchmarkPush|BenchmarkPull|BenchmarkBatchRows' -benchtime 1x -timeout 60m ./internal/cli/ || rc=1 ;;
    reference)
      if [ -z "${FIELDSYNC_DRILL_URL:-}" ]; then testdrill_start || { echo "cannot start a Drillbit"; exit 1; }; fi
      record reference go test -run '^$' -bench 'BenchmarkReferencePull' -benchtime 1x -timeout 30m ./agent/ || rc=1 ;;
    ingest)
      if [ -z "${FIELDSYNC_DRILL_URL:-}" ]; then testdrill_start || { echo "cannot start a Drillbit"; exit 1; }; fi
      record ingest go test -run '^$' -bench 'BenchmarkIngest' -benchtime 1x -timeout 30m ./agent/ || rc=1 ;;
    scale)
      if [ -z "${FIELDSYNC_DRILL_URL:-}" ]; then testdrill_start || { echo "cannot start a Drillbit"; exit 1; }; fi
      record scale go test -run '^$' -bench IntegrationHistory -benchtime 1x -timeout 180m ./agent/ || rc=1
      record compaction go test -run '^$' -bench IntegrationCompaction -benchtime 1x -timeout 60m ./agent/ || rc=1 ;;
    fleet)
      if [ -z "${FIELDSYNC_DRILL_URL:-}" ]; then testdrill_start || { echo "cannot start a Drillbit"; exit 1; }; fi
      record fleet go test -run '^$' -bench IntegrationFleet -benchtime 1x -v -timeout 60m ./agent/ || rc=1
      record fleet-json env FIELDSYNC_BENCH_BATCH_FORMAT=json go test -run '^$' -bench IntegrationFleet -benchtime 1x -v -timeout 60m ./agent/ || rc=1
      record fleet-json-light env FIELDSYNC_BENCH_BATCH_FORMAT=json FIELDSYNC_BENCH_CONVERT_EVERY=2m FIELDSYNC_BENCH_JSON_SETTLE=1m \
        go test -run '^$' -bench IntegrationFleet -benchtime 1x -v -timeout 60m ./agent/ || rc=1 ;;
    fleet-cluster)
      record fleet-cluster env FIELDSYNC_BENCH_CLUSTER=1 go test -run '^$' -bench IntegrationFleet -benchtime 1x -v -timeout 90m ./agent/ || rc=1 ;;
    fleet-1000)
      record fleet-1000 env FIELDSYNC_BENCH_CLUSTER=1 FIELDSYNC_BENCH_BATCH_FORMAT=json FIELDSYNC_BENCH_DEVICES=6 FIELDSYNC_BENCH_GHOSTS=994 \
        FIELDSYNC_BENCH_DAYS="${FIELDSYNC_BENCH_DAYS:-1}" FIELDSYNC_BENCH_CONVERT_EVERY=1m FIELDSYNC_BENCH_JSON_SETTLE=1m \
        go test -run '^$' -bench IntegrationFleet -benchtime 1x -v -timeout 240m ./agent/ || rc=1 ;;
    browser)
      if [ -x scripts/browser-bench.sh ]; then
        if [ -z "${FIELDSYNC_DRILL_URL:-}" ]; then testdrill_start || { echo "cannot start a Drillbit"; exit 1; }; fi
        record browser scripts/browser-bench.sh || rc=1
      fi ;;
    *) echo "unknown suite $s (store, size, push, reference, ingest, scale, fleet, fleet-cluster, fleet-1000, browser)"; exit 2 ;;
  esac
done
exit $rc
