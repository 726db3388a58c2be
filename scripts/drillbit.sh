#!/usr/bin/env bash
# drillbit.sh runs the embedded Apache Drill 1.22.0 Drillbit of dev/drillbit/
# for development and tests.
#
#   scripts/drillbit.sh start|stop|status|logs|url|build|run [options]
#
#   start   build when needed, start in the background, wait until
#           GET /status.json answers, print FIELDSYNC_DRILL_URL=<url>.
#           Already running: print the URL and exit 0.
#   stop    stop the Drillbit started with the same --data (by its pid file)
#           and wait until it has exited.
#   status  print "running <url> pid <pid>" (exit 0) or "stopped" (exit 3).
#   logs    print the end of the log (-f to follow).
#   url     print the URL of the running Drillbit (exit 3 when stopped).
#   build   fetch the Maven jars and compile the launcher when needed.
#   run     build when needed and run the Drillbit in the foreground (exec),
#           logging to stdout; it stops when stdin reaches EOF or on SIGTERM.
#           internal/drilltest uses this so a Drillbit dies with its test.
#
# Options:
#   --auth          the authentication profile: htpasswd user fieldsync /
#                   fieldsync-test-pw (TEST-ONLY credentials), HTTP auth FORM
#                   and BASIC. Both profiles can run at once.
#   --port N        web/REST port; 0 picks a free one. Default 8047, or 8147
#                   with --auth.
#   --user-port N   user RPC port (control and data use N+1, N+2); 0 picks.
#                   Default 31010 (31110 with --auth) when --port is not
#                   given, otherwise 0.
#   --data DIR      data directory: store, tmp, log, pid file and the
#                   dfs.fieldsync workspace (DIR/workspace).
#                   Default dev/drillbit/run/<plain|auth>.
#   --zk HOST:PORT  distributed mode: one Drillbit of a cluster registered in
#                   this ZooKeeper (scripts/cluster.sh passes it), with
#   --cluster-id ID its cluster id (default fieldsync-dev) and
#   --dfs URI       the shared file system of dfs (e.g. hdfs://127.0.0.1:9820/);
#                   dfs.fieldsync is then /fieldsync on it.
#   --exit-with-pid P  the Drillbit stops by itself when process P exits.
#
# Environment: DRILLBIT_HEAP (1g), DRILLBIT_DIRECT_MEMORY (1g),
# DRILLBIT_START_TIMEOUT seconds (180), DRILLBIT_JAVA_OPTS (extra JVM
# flags, split on spaces), JAVA (java).
#
# On success only the URL line is printed on stdout, plus one line of
# startup time and memory on stderr when a Drillbit was started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROJECT=$ROOT/dev/drillbit
TARGET=$PROJECT/target
MAIN_CLASS=dev.fieldsync.drillbit.FieldsyncDrillbit
JAVA=${JAVA:-java}
# shellcheck source=lib/launcher.sh
source "$ROOT/scripts/lib/launcher.sh"

die() { launcher_die drillbit "$@"; }

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
follow=false
auth=false
port=
user_port=
data=
zk= cluster_id= dfs= owner_pid=
while [ $# -gt 0 ]; do
  case $1 in
    --auth) auth=true ;;
    --port) [ $# -ge 2 ] || usage; port=$2; shift ;;
    --user-port) [ $# -ge 2 ] || usage; user_port=$2; shift ;;
    --data) [ $# -ge 2 ] || usage; data=$2; shift ;;
    --zk) [ $# -ge 2 ] || usage; zk=$2; shift ;;
    --cluster-id) [ $# -ge 2 ] || usage; cluster_id=$2; shift ;;
    --dfs) [ $# -ge 2 ] || usage; dfs=$2; shift ;;
    --exit-with-pid) [ $# -ge 2 ] || usage; owner_pid=$2; shift ;;
    -f|--follow) follow=true ;;
    -h|--help) usage ;;
    *) printf 'drillbit: unknown argument %s\n' "$1" >&2; usage ;;
  esac
  shift
done

if $auth; then profile=auth; def_port=8147; def_user_port=31110
else profile=plain; def_port=8047; def_user_port=31010; fi
if [ -z "$user_port" ]; then
  if [ -z "$port" ]; then user_port=$def_user_port; else user_port=0; fi
fi
port=${port:-$def_port}
data=${data:-$PROJECT/run/$profile}
case $data in /*) ;; *) data=$PWD/$data ;; esac
for p in "$port" "$user_port"; do
  case $p in ''|*[!0-9]*) die "bad port '$p'" ;; esac
done


PIDFILE=$data/drillbit.pid
LOG=$data/drillbit.log
READY=$data/ready

# --- build -------------------------------------------------------------------

# build fetches the dependency classpath with Maven and compiles the launcher
# (scripts/lib/launcher.sh), each step only when its inputs changed.
build() {
  java_build drillbit "$PROJECT" "the Drill 1.22.0 jars"
}

# --- process helpers -----------------------------------------------------------

# running_pid prints the pid of this --data's Drillbit when it runs.
running_pid() { launcher_pid "$PIDFILE" "$MAIN_CLASS"; }

http_ok() { # url
  curl -fsS -o /dev/null --max-time 5 "$1/status.json" 2>/dev/null
}

ready_url() {
  [ -s "$READY" ] && head -n 1 "$READY"
}

print_tail() {
  if [ -f "$LOG" ]; then
    printf -- '--- last lines of %s ---\n' "$LOG" >&2
    grep -v -e 'ScanResult - loading' -e 'Drillbit environment: java.class.path' "$LOG" | tail -n 40 >&2 || true
    printf -- '---\n' >&2
  fi
}

# wait_ready waits until the launcher wrote its ready file (the dfs.fieldsync
# workspace is configured by then) and /status.json answers.
wait_ready() { # pid
  local pid=$1 timeout=${DRILLBIT_START_TIMEOUT:-180} start=$SECONDS url
  while :; do
    url=$(ready_url || true)
    if [ -n "$url" ] && http_ok "$url"; then
      printf '%s\n' "$url"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      print_tail
      rm -f "$PIDFILE"
      die "the Drillbit exited during start-up (log above, full log $LOG)"
    fi
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      print_tail
      stop_pid "$pid"
      die "the Drillbit did not answer within ${timeout}s (log above, full log $LOG); stopped it"
    fi
    sleep 0.5
  done
}

stop_pid() { # pid
  launcher_stop drillbit "$1"
  rm -f "$PIDFILE" "$READY"
}

# java_command sets JAVA_CMD to the launcher's command line for $data.
java_command() {
  local heap=${DRILLBIT_HEAP:-1g} direct=${DRILLBIT_DIRECT_MEMORY:-1g}
  mkdir -p "$data/tmp"
  local env=(MALLOC_ARENA_MAX=4)
  # In a cluster each Drillbit advertises its host name in ZooKeeper and the
  # others connect to it there: keep that on loopback like every port.
  if [ -n "$zk" ]; then env+=(DRILL_HOST_NAME=127.0.0.1); fi
  JAVA_CMD=(
    env "${env[@]}" "$JAVA"
    -Xms256m "-Xmx$heap" "-XX:MaxDirectMemorySize=$direct"
    -XX:ReservedCodeCacheSize=256m
    # C1 only and the serial collector: half the CPU time to start (measured
    # 5.5 s instead of 13 s of CPU), which is what counts on 2 cores; test
    # queries are too small to miss C2.
    -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
    -Duser.timezone=UTC -Dfile.encoding=UTF-8
    -Djava.net.preferIPv4Stack=true -Djava.net.preferIPv6Addresses=false
    "-Djava.io.tmpdir=$data/tmp"
    # Reflective access Drill needs on Java 17 (as Drill's drill-config.sh).
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.net=ALL-UNNAMED
    --add-opens java.base/java.nio=ALL-UNNAMED
    --add-opens java.security.jgss/sun.security.krb5=ALL-UNNAMED
    ${DRILLBIT_JAVA_OPTS:-}
    -cp "$TARGET/classes:$(cat "$TARGET/classpath.txt")"
    "$MAIN_CLASS" --data "$data" --http-port "$port" --user-port "$user_port"
  )
  if $auth; then JAVA_CMD+=(--auth); fi
  if [ -n "$zk" ]; then JAVA_CMD+=(--zk "$zk" --cluster-id "${cluster_id:-fieldsync-dev}"); fi
  if [ -n "$dfs" ]; then JAVA_CMD+=(--dfs "$dfs"); fi
  if [ -n "$owner_pid" ]; then JAVA_CMD+=(--exit-with-pid "$owner_pid"); fi
}

# --- commands ------------------------------------------------------------------

start() {
  local pid url
  if pid=$(running_pid); then
    url=$(wait_ready "$pid")
    printf 'FIELDSYNC_DRILL_URL=%s\n' "$url"
    return 0
  fi
  if [ "$port" != 0 ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use (another Drillbit with a different --data? see 'ss -ltnp'); choose one with --port N (0 = free)"
  fi
  build
  mkdir -p "$data"
  chmod 700 "$data"
  rm -f "$READY" "$PIDFILE"
  java_command
  # setsid: the Drillbit outlives the shell (and the Ctrl-C) that started it.
  setsid "${JAVA_CMD[@]}" >"$LOG" 2>&1 </dev/null &
  pid=$!
  printf '%s\n' "$pid" >"$PIDFILE"
  url=$(wait_ready "$pid")
  local stats
  stats=$(grep -m1 '^FIELDSYNC_DRILL_STARTED ' "$LOG" || true)
  if [ -n "$stats" ]; then
    # FIELDSYNC_DRILL_STARTED ms=.. heap_used_mb=.. heap_max_mb=.. rss_mb=.. ...
    printf 'drillbit: %s started in %s ms, heap %s/%s MB, RSS %s MB (pid %s, log %s)\n' "$profile" \
      "$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$stats")" \
      "$(sed -n 's/.* heap_used_mb=\([0-9]*\).*/\1/p' <<<"$stats")" \
      "$(sed -n 's/.* heap_max_mb=\([0-9]*\).*/\1/p' <<<"$stats")" \
      "$(sed -n 's/.* rss_mb=\([0-9]*\).*/\1/p' <<<"$stats")" "$pid" "$LOG" >&2
  fi
  printf 'FIELDSYNC_DRILL_URL=%s\n' "$url"
}

stop() {
  local pid
  if pid=$(running_pid); then
    stop_pid "$pid"
  else
    rm -f "$PIDFILE" "$READY"
  fi
}

status() {
  local pid url
  if pid=$(running_pid); then
    url=$(ready_url || true)
    if [ -n "$url" ] && http_ok "$url"; then
      printf 'running %s pid %s\n' "$url" "$pid"
    else
      printf 'starting pid %s (log %s)\n' "$pid" "$LOG"
    fi
    return 0
  fi
  printf 'stopped\n'
  return 3
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url)
    if running_pid >/dev/null && url=$(ready_url) && http_ok "$url"; then
      printf '%s\n' "$url"
    else
      exit 3
    fi
    ;;
  logs)
    [ -f "$LOG" ] || die "no log at $LOG"
    if $follow; then exec tail -n 100 -f "$LOG"; else tail -n 100 "$LOG"; fi
    ;;
  build) build ;;
  run)
    build
    mkdir -p "$data"
    chmod 700 "$data"
    rm -f "$READY"
    java_command
    exec "${JAVA_CMD[@]}" --exit-on-eof
    ;;
  *) usage ;;
esac
