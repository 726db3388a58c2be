#!/usr/bin/env bash
# cluster.sh runs a development Apache Drill 1.22 cluster on this machine, the
# way an operator runs one: ZooKeeper, an HDFS NameNode + DataNode (both from
# dev/cluster, one JVM), and two Drillbits in distributed mode (dev/drillbit)
# registered in that ZooKeeper, whose dfs.fieldsync workspace is /fieldsync on
# that HDFS. Everything binds to 127.0.0.1.
#
#   scripts/cluster.sh start|stop|status|urls|info|logs|build [options]
#   scripts/cluster.sh kill N|start-drillbit N [options]
#
#   start   build when needed, start ZooKeeper + HDFS, then the Drillbits,
#           wait until each answers GET /status.json and sees the others in
#           ZooKeeper, print FIELDSYNC_DRILL_URLS=<url1>,<url2>. Already
#           running: print the URLs and exit 0.
#   stop    stop the Drillbits, then ZooKeeper + HDFS, and wait for the exits.
#   status  one line per process: "running ..." or "stopped" (exit 3 when any
#           is stopped).
#   urls    print the Drillbit URLs, comma separated (exit 3 unless all answer).
#   info    print KEY=VALUE lines: FIELDSYNC_DRILL_URLS, FIELDSYNC_CLUSTER_ZK,
#           FIELDSYNC_CLUSTER_HDFS, FIELDSYNC_CLUSTER_DIR.
#   logs    print the end of the logs (-f to follow the first Drillbit's).
#   build   fetch the Maven jars and compile both launchers when needed.
#   kill N  SIGKILL Drillbit N (1-based): a crash, not a shutdown (tests).
#   start-drillbit N
#           start Drillbit N again on the web port it had (new RPC
#           ports), and wait for it.
#
# Options:
#   --data DIR        the cluster's data: services/ (ZooKeeper, HDFS blocks,
#                     log) and drillbit-N/ (local store, log, pid file).
#                     Default dev/cluster/run. Tables survive a stop/start.
#   --drillbits N     how many Drillbits (default 2).
#   --port P          web port of Drillbit 1 (default 8247); Drillbit N gets
#                     P+N-1, user ports 31210, 31220, ...; ZooKeeper 2182,
#                     the NameNode 9820. --port 0 picks free ports for all
#                     (the Drillbits' web ports below the ephemeral range).
#   --exit-with-pid P every process stops by itself once process P exits, so
#                     a cluster started by a test never outlives it.
#
# Environment: DRILLBIT_HEAP (1g) and DRILLBIT_DIRECT_MEMORY (1g) per
# Drillbit, CLUSTER_SERVICES_HEAP (512m), CLUSTER_START_TIMEOUT seconds
# (240), JAVA (java).
#
# On success only the FIELDSYNC_DRILL_URLS line is printed on stdout, plus
# lines of start-up time and memory on stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROJECT=$ROOT/dev/cluster
TARGET=$PROJECT/target
MAIN_CLASS=dev.fieldsync.cluster.FieldsyncCluster
JAVA=${JAVA:-java}
# shellcheck source=lib/launcher.sh
source "$ROOT/scripts/lib/launcher.sh"
DRILLBIT=$ROOT/scripts/drillbit.sh
CLUSTER_ID=fieldsync-dev

die() { launcher_die cluster "$@"; }

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
nth=
case $cmd in
  kill|start-drillbit)
    [ $# -ge 1 ] || usage
    nth=$1; shift
    case $nth in ''|*[!0-9]*|0) die "bad Drillbit number '$nth' (1, 2, ...)" ;; esac
    ;;
esac
follow=false
data=
drillbits=2
port=8247
owner_pid=
while [ $# -gt 0 ]; do
  case $1 in
    --data) [ $# -ge 2 ] || usage; data=$2; shift ;;
    --drillbits) [ $# -ge 2 ] || usage; drillbits=$2; shift ;;
    --port) [ $# -ge 2 ] || usage; port=$2; shift ;;
    --exit-with-pid) [ $# -ge 2 ] || usage; owner_pid=$2; shift ;;
    -f|--follow) follow=true ;;
    -h|--help) usage ;;
    *) printf 'cluster: unknown argument %s\n' "$1" >&2; usage ;;
  esac
  shift
done
case $drillbits in ''|*[!0-9]*|0) die "bad --drillbits '$drillbits'" ;; esac
case $port in ''|*[!0-9]*) die "bad port '$port'" ;; esac
data=${data:-$PROJECT/run}
case $data in /*) ;; *) data=$PWD/$data ;; esac
if [ -n "$nth" ] && [ "$nth" -gt "$drillbits" ]; then die "there are $drillbits Drillbits; no Drillbit $nth"; fi


SERVICES=$data/services
PIDFILE=$SERVICES/services.pid
LOG=$SERVICES/services.log
READY=$SERVICES/ready

# --- build -------------------------------------------------------------------

# build resolves dev/cluster's classpath and compiles its launcher
# (scripts/lib/launcher.sh: the same ~/.m2 and settings.xml as dev/drillbit,
# so shared jars are fetched once), then builds the Drillbit launcher.
build() {
  java_build cluster "$PROJECT" "the Hadoop 3.3.6 minicluster and ZooKeeper jars"
  "$DRILLBIT" build
}

# --- ZooKeeper + HDFS ----------------------------------------------------------

services_pid() { launcher_pid "$PIDFILE" "$MAIN_CLASS"; }

# ready_value KEY prints a value of the services' ready file (zk, hdfs, webhdfs).
ready_value() {
  [ -s "$READY" ] && sed -n "s/^$1=//p" "$READY" | head -n 1
}

services_tail() {
  if [ -f "$LOG" ]; then
    printf -- '--- last lines of %s ---\n' "$LOG" >&2
    grep -v '^[[:space:]]*at ' "$LOG" | tail -n 30 >&2 || true
    printf -- '---\n' >&2
  fi
}

start_services() {
  local pid zk_port=2182 hdfs_port=9820 timeout=${CLUSTER_START_TIMEOUT:-240} t0=$SECONDS
  if pid=$(services_pid); then
    [ -s "$READY" ] && return 0
  else
    if [ "$port" = 0 ]; then zk_port=0 hdfs_port=0; fi
    for p in $zk_port $hdfs_port; do
      if [ "$p" != 0 ] && (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is in use (another cluster with a different --data? see 'ss -ltnp'); use --port 0 for free ports"
      fi
    done
    mkdir -p "$SERVICES"
    chmod 700 "$data" "$SERVICES"
    rm -f "$READY" "$PIDFILE"
    local cmd=(env MALLOC_ARENA_MAX=4 "$JAVA" -Xms128m "-Xmx${CLUSTER_SERVICES_HEAP:-512m}"
      -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
      -Duser.timezone=UTC -Dfile.encoding=UTF-8 -Djava.net.preferIPv4Stack=true
      -Dzookeeper.admin.enableServer=false "-Djava.io.tmpdir=$SERVICES"
      # WebHDFS (JAXB through Jersey 1) needs this on Java 17.
      --add-opens java.base/java.lang=ALL-UNNAMED
      -cp "$TARGET/classes:$(cat "$TARGET/classpath.txt")"
      "$MAIN_CLASS" --data "$SERVICES" --zk-port "$zk_port" --hdfs-port "$hdfs_port")
    if [ -n "$owner_pid" ]; then cmd+=(--exit-with-pid "$owner_pid"); fi
    setsid "${cmd[@]}" >"$LOG" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$PIDFILE"
  fi
  while [ ! -s "$READY" ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      services_tail
      rm -f "$PIDFILE"
      die "ZooKeeper + HDFS exited during start-up (log above, full log $LOG)"
    fi
    if [ $((SECONDS - t0)) -ge "$timeout" ]; then
      services_tail
      stop_pid "$pid"
      die "ZooKeeper + HDFS were not ready within ${timeout}s (log above, full log $LOG); stopped them"
    fi
    sleep 0.3
  done
  local stats
  stats=$(grep -m1 '^FIELDSYNC_CLUSTER_STARTED ' "$LOG" || true)
  if [ -n "$stats" ]; then
    printf 'cluster: ZooKeeper %s + HDFS %s started in %s ms, heap %s/%s MB, RSS %s MB (pid %s, log %s)\n' \
      "$(ready_value zk)" "$(ready_value hdfs)" \
      "$(sed -n 's/.* ms=\([0-9]*\).*/\1/p' <<<"$stats")" \
      "$(sed -n 's/.* heap_used_mb=\([0-9]*\).*/\1/p' <<<"$stats")" \
      "$(sed -n 's/.* heap_max_mb=\([0-9]*\).*/\1/p' <<<"$stats")" \
      "$(sed -n 's/.* rss_mb=\([0-9]*\).*/\1/p' <<<"$stats")" "$pid" "$LOG" >&2
  fi
}

stop_pid() { launcher_stop cluster "$1"; }

# --- Drillbits -----------------------------------------------------------------

bit_dir() { printf '%s/drillbit-%s\n' "$data" "$1"; }

# bit_ports N prints "WEB USER" for Drillbit N: for a restart the web port it
# had before (so it keeps its URL) and fresh RPC ports (the other Drillbits
# find those in ZooKeeper; an outgoing connection may have taken the old
# ones while it was down: "could not bind to port", cluster suite 03:37
# UTC), else the defaults for --port.
bit_ports() {
  local n=$1 f web
  f=$(bit_dir "$n")/ports
  if [ -s "$f" ]; then read -r web _ <"$f"; echo "$web 0"; return; fi
  if [ "$port" = 0 ]; then echo "$(free_web_port) 0"; else echo "$((port + n - 1)) $((31200 + 10 * n))"; fi
}

# free_web_port prints a free port below the kernel's ephemeral range. A
# Drillbit restarted must get its web port back (its URL), and a port the
# system picked (--port 0: in the ephemeral range) can meanwhile be the
# local end of some client's connection: "Address already in use" when the
# cluster suite restarted a killed Drillbit (fresh clone, 12:04 UTC). A
# port below that range is never given to an outgoing connection.
free_web_port() {
  local lo=32768 top p _
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  top=$((lo > 20500 ? lo : 32768))
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % (top - 20000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo 0 # none found: let the system pick
}

# bit_args N prints the drillbit.sh options of Drillbit N, one per line.
bit_args() {
  local n=$1 web user
  read -r web user < <(bit_ports "$n")
  printf '%s\n' --data "$(bit_dir "$n")" --port "$web" --user-port "$user" \
    --zk "$(ready_value zk)" --cluster-id "$CLUSTER_ID" --dfs "$(ready_value hdfs)"
  if [ -n "$owner_pid" ]; then printf '%s\n' --exit-with-pid "$owner_pid"; fi
}

# start_bit N starts Drillbit N (drillbit.sh waits until it answers) and
# remembers its ports.
start_bit() {
  local n=$1 dir out url user args
  dir=$(bit_dir "$n")
  mkdir -p "$dir"
  mapfile -t args < <(bit_args "$n")
  out=$(DRILLBIT_START_TIMEOUT=${CLUSTER_START_TIMEOUT:-240} "$DRILLBIT" start "${args[@]}") || return 1
  url=$(sed -n 's/^FIELDSYNC_DRILL_URL=//p' <<<"$out")
  [ -n "$url" ] || return 1
  user=$(grep -m1 '^FIELDSYNC_DRILL_STARTED ' "$dir/drillbit.log" | sed -n 's/.* user_port=\([0-9]*\).*/\1/p')
  if [ -n "$user" ]; then printf '%s %s\n' "${url##*:}" "$user" >"$dir/ports"; fi
}

bit_url() { # N: the URL of a running, answering Drillbit N
  local n=$1 args
  mapfile -t args < <(bit_args "$n")
  "$DRILLBIT" url "${args[@]}" 2>/dev/null
}

# wait_registered waits until Drillbit 1 sees all Drillbits in ZooKeeper, so
# a query planned right after start may use every one of them.
wait_registered() {
  local url=$1 t0=$SECONDS n
  while :; do
    n=$(curl -fsS --max-time 5 "$url/cluster.json" 2>/dev/null | grep -o '"address"' | wc -l || true)
    [ "${n:-0}" -ge "$drillbits" ] && return 0
    if [ $((SECONDS - t0)) -ge 60 ]; then
      die "Drillbit 1 ($url) sees ${n:-0} of $drillbits Drillbits in ZooKeeper after 60s (logs: $data/drillbit-*/drillbit.log)"
    fi
    sleep 0.5
  done
}

urls() {
  local n u out=()
  for n in $(seq 1 "$drillbits"); do
    u=$(bit_url "$n") || return 3
    out+=("$u")
  done
  (IFS=,; printf '%s\n' "${out[*]}")
}

# --- commands ------------------------------------------------------------------

start() {
  local n pids=() failed=0 list
  build
  start_services
  # The Drillbits start side by side: each needs ~6 s of CPU and waits on
  # ZooKeeper and HDFS in between.
  for n in $(seq 1 "$drillbits"); do
    start_bit "$n" &
    pids+=($!)
  done
  for n in "${pids[@]}"; do wait "$n" || failed=1; done
  [ "$failed" = 0 ] || die "a Drillbit did not start (its log tail is above)"
  list=$(urls) || die "a Drillbit does not answer after start"
  wait_registered "${list%%,*}"
  printf 'FIELDSYNC_DRILL_URLS=%s\n' "$list"
}

stop() {
  local n pid args
  for n in $(seq 1 "$drillbits"); do
    [ -d "$(bit_dir "$n")" ] || continue
    "$DRILLBIT" stop --data "$(bit_dir "$n")" &
  done
  wait
  if pid=$(services_pid); then stop_pid "$pid"; fi
  rm -f "$PIDFILE" "$READY"
}

status() {
  local n pid rc=0 args u
  if pid=$(services_pid); then
    printf 'services running zk %s hdfs %s pid %s\n' "$(ready_value zk)" "$(ready_value hdfs)" "$pid"
  else
    printf 'services stopped\n'; rc=3
  fi
  for n in $(seq 1 "$drillbits"); do
    mapfile -t args < <(bit_args "$n")
    printf 'drillbit %s ' "$n"
    "$DRILLBIT" status "${args[@]}" || rc=3
  done
  return $rc
}

kill_bit() {
  local dir pid
  dir=$(bit_dir "$nth")
  pid=$(cat "$dir/drillbit.pid" 2>/dev/null || true)
  case $pid in ''|*[!0-9]*) die "Drillbit $nth is not running (no pid file in $dir)" ;; esac
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- dev.fieldsync.drillbit.FieldsyncDrillbit; then
    die "Drillbit $nth is not running (pid $pid is gone)"
  fi
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$dir/drillbit.pid" "$dir/ready"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  urls) urls ;;
  info)
    list=$(urls || true)
    printf 'FIELDSYNC_DRILL_URLS=%s\nFIELDSYNC_CLUSTER_ZK=%s\nFIELDSYNC_CLUSTER_HDFS=%s\nFIELDSYNC_CLUSTER_DIR=%s\n' \
      "$list" "$(ready_value zk || true)" "$(ready_value hdfs || true)" "$data"
    ;;
  logs)
    if $follow; then exec tail -n 100 -f "$(bit_dir 1)/drillbit.log"; fi
    for f in "$LOG" "$data"/drillbit-*/drillbit.log; do
      [ -f "$f" ] || continue
      printf -- '--- %s ---\n' "$f"
      grep -v -e 'ScanResult - loading' -e 'Drillbit environment: java.class.path' -e '^[[:space:]]*at ' "$f" | tail -n 40
    done
    ;;
  build) build ;;
  kill) kill_bit ;;
  start-drillbit)
    services_pid >/dev/null || die "ZooKeeper + HDFS are not running: scripts/cluster.sh start"
    start_bit "$nth"
    ;;
  *) usage ;;
esac
