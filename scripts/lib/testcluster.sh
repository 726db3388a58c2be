# testcluster.sh is sourced by test.sh: testcluster_run starts the
# development cluster (scripts/cluster.sh: ZooKeeper, HDFS, two Drillbits) on
# free ports with a throw-away data dir, runs the cluster suite (every
# TestCluster... test) against it, one package at a time since a test kills
# Drillbits, and stops it. The cluster also stops by itself if the calling
# script dies (--exit-with-pid).

testcluster_data=$(mktemp -d /tmp/fieldsync-test-cluster.XXXXXX)

testcluster_stop() {
  scripts/cluster.sh stop --data "$testcluster_data" >/dev/null 2>&1
  rm -rf "$testcluster_data"
}

testcluster_run() {
  local urls pkgs rc
  pkgs=$(grep -rl --include='*_test.go' '^func TestCluster[A-Z]' . | xargs -r -n1 dirname | sort -u)
  [ -n "$pkgs" ] || { echo "no TestCluster tests found"; return 1; }
  urls=$(scripts/cluster.sh start --data "$testcluster_data" --port 0 --exit-with-pid $$ |
    sed -n 's/^FIELDSYNC_DRILL_URLS=//p') || { scripts/cluster.sh logs --data "$testcluster_data" | tail -n 60; return 1; }
  [ -n "$urls" ] || return 1
  FIELDSYNC_DRILL_URLS=$urls FIELDSYNC_CLUSTER_DIR=$testcluster_data \
    go test -count=1 -timeout 15m -p 1 -run '^TestCluster[A-Z]' $pkgs
  rc=$?
  if [ $rc -ne 0 ]; then scripts/cluster.sh logs --data "$testcluster_data" | tail -n 80; fi
  testcluster_stop
  return $rc
}
