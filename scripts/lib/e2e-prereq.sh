# e2e-prereq.sh is sourced by browser-test.sh and browser-bench.sh: it checks
# what driving the real UI in Chromium needs and sets $bin to the absolute
# path of the fieldsync binary. The caller defines die().

bin=${FIELDSYNC_BIN:-build/bin/fieldsync}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
[ -x "$bin" ] || die "$bin is missing: run 'make build' first"
newer=$(find frontend/src app agent store schema internal main.go desktop.go -newer "$bin" -type f 2>/dev/null | head -n 1)
[ -z "$newer" ] || printf '%s: warning: %s is older than %s (and maybe more): run make build to test the current sources\n' "$(basename "$0" .sh)" "$bin" "$newer" >&2
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing: apt-get install chromium (scripts/setup.sh); never 'npx playwright install'"
command -v node >/dev/null || die "node is missing: scripts/setup.sh installs Node >= 20.19"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  die "node $(node --version) is too old: Node >= 20.19 is needed (scripts/setup.sh)"
[ -d e2e/node_modules/playwright-core ] || die "e2e/node_modules is missing: run 'cd e2e && npm ci' (scripts/setup.sh does)"
