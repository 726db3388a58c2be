# testdrill.sh is sourced by test.sh and bench.sh: it starts a no-auth and an
# auth Drillbit on ports of their own (18047, 18147) with a throw-away data
# dir, exports the FIELDSYNC_DRILL_* variables internal/drilltest reads, and
# stops them when the calling script exits.

testdrill_data=$(mktemp -d /tmp/fieldsync-test-drill.XXXXXX)

testdrill_stop() {
  scripts/drillbit.sh stop --data "$testdrill_data/plain" >/dev/null 2>&1
  scripts/drillbit.sh stop --auth --data "$testdrill_data/auth" >/dev/null 2>&1
  rm -rf "$testdrill_data"
}

testdrill_start() {
  local url
  url=$(scripts/drillbit.sh start --port 18047 --user-port 18010 --data "$testdrill_data/plain" | sed -n 's/^FIELDSYNC_DRILL_URL=//p') || return 1
  [ -n "$url" ] || return 1
  export FIELDSYNC_DRILL_URL=$url
  export FIELDSYNC_DRILL_WORKSPACE_DIR=$testdrill_data/plain/workspace
  url=$(scripts/drillbit.sh start --auth --port 18147 --user-port 18110 --data "$testdrill_data/auth" | sed -n 's/^FIELDSYNC_DRILL_URL=//p') || return 1
  [ -n "$url" ] || return 1
  export FIELDSYNC_DRILL_AUTH_URL=$url
}
