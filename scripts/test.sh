#!/usr/bin/env bash
# test.sh runs every fieldsync test: lint, frontend unit tests, Go unit and
# real-Drillbit integration tests, the cluster suite (two Drillbits, ZooKeeper
# and HDFS), the desktop smoke test under Xvfb and the browser end-to-end
# tests. `make test` calls it after scripts/setup.sh.
#
#   scripts/test.sh          everything
#   scripts/test.sh lint     only the static checks
#   scripts/test.sh browser  only the browser end-to-end tests (after
#                            `make build`; scripts/browser-test.sh starts
#                            its own Drillbit when none is given)
#
# Test Drillbits are started here on their own ports and data directory (so a
# developer's `make drillbit` is left alone) and stopped on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$(go env GOPATH)/bin:$PATH"

only=${1:-all}
passed=0 failed=0
failures=()
art=build/artifacts
mkdir -p "$art"

step() { # name command...
  local name=$1; shift
  local t0=$SECONDS
  printf '==> %s\n' "$name"
  if "$@"; then
    passed=$((passed + 1)); printf '<== %s ok (%ds)\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failures+=("$name"); printf '<== %s FAILED (%ds)\n' "$name" $((SECONDS - t0))
  fi
}

gofmt_clean() {
  local out; out=$(gofmt -l $(git ls-files '*.go'))
  [ -z "$out" ] || { echo "gofmt would change:"; echo "$out"; return 1; }
}
lint() {
  step "gofmt" gofmt_clean
  step "go vet" go vet ./...
  step "staticcheck" staticcheck ./...
  step "frontend typecheck" bash -c 'cd frontend && npm run --silent check'
}

# browser_suite runs the browser end-to-end tests. A missing or
# non-executable scripts/browser-test.sh is a failed step, never a skip: a
# suite that silently does not run proves nothing.
browser_suite() {
  if [ ! -x scripts/browser-test.sh ]; then
    echo "scripts/browser-test.sh is missing or not executable: the browser end-to-end tests cannot run" >&2
    return 1
  fi
  scripts/browser-test.sh
}

summary() {
  echo
  for f in "${failures[@]}"; do echo "failed: $f"; done
  echo "steps: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

case $only in
  all) ;;
  lint) lint; summary; exit ;;
  browser) step "browser end-to-end" browser_suite; summary; exit ;;
  *) echo "usage: scripts/test.sh [lint|browser]" >&2; exit 2 ;;
esac

lint

step "frontend unit tests" bash -c 'cd frontend && npm run --silent test'
step "frontend build" bash -c 'cd frontend && npm run --silent build >/dev/null'

# --- real Drillbits for the integration tests -------------------------------
source scripts/lib/testdrill.sh
trap testdrill_stop EXIT
step "start test Drillbits" testdrill_start

# The cluster suite has a step (and a cluster) of its own below.
step "go test" go test -count=1 -timeout 30m -skip '^TestCluster[A-Z]' ./...

# --- the development cluster: ZooKeeper, HDFS, two Drillbits ----------------
source scripts/lib/testcluster.sh
trap 'testdrill_stop; testcluster_stop' EXIT
step "cluster" testcluster_run

step "build app" make --no-print-directory build
step "desktop smoke" scripts/desktop-smoke.sh
step "debian package" scripts/test-deb.sh
step "windows installer" scripts/test-windows.sh
step "browser end-to-end" browser_suite

summary
