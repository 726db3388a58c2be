// Package drilltest gives tests a real Apache Drill 1.22.0 Drillbit.
//
// The Drillbit is the embedded one of dev/drillbit, run by
// scripts/drillbit.sh. Tests get it three ways:
//
//   - URL and AuthURL return the base URL of a shared Drillbit without and
//     with authentication. When FIELDSYNC_DRILL_URL (FIELDSYNC_DRILL_AUTH_URL)
//     is set, as `make test` does, that Drillbit is used; otherwise the first
//     call starts one on free ports in a temporary directory and it is shared
//     by every test of the test binary. Call Main from TestMain so it is
//     stopped when the tests end:
//
//     func TestMain(m *testing.M) { drilltest.Main(m) }
//
//   - WorkspaceDir returns the directory behind the shared Drillbit's
//     writable dfs.fieldsync workspace (FIELDSYNC_DRILL_WORKSPACE_DIR when the
//     environment names the Drillbit). Use a unique table name per test.
//
//   - Start runs a private Drillbit for fault tests, with Stop and Restart
//     (same port and data, so tables survive). It is slow: 10 to 40 seconds
//     per start on a small machine.
//
//   - Cluster returns the development cluster of scripts/cluster.sh
//     (ZooKeeper, HDFS, two Drillbits in distributed mode, dfs.fieldsync on
//     HDFS): the one named by FIELDSYNC_DRILL_URLS and FIELDSYNC_CLUSTER_DIR
//     when set, as `make test` does, otherwise one started for this test
//     binary (15 to 60 seconds, about 1 GB). Kill crashes one Drillbit
//     (SIGKILL) and StartDrillbit brings it back on the same ports. Tests
//     that use it are named TestCluster...; scripts/test.sh runs them in a
//     step of their own, one package at a time, since a kill affects every
//     test using the cluster.
//
// A Drillbit that cannot start fails the test with the end of its log and the
// command that fixes the machine; it is never skipped. A Drillbit started
// here also dies with the test binary, however the binary ends: it stops when
// its standard input, a pipe from the test process, reaches end of file.
//
// The auth profile's user is AuthUser with AuthPassword. These are test-only
// credentials, written into the Drillbit's own htpasswd file at start.
package drilltest
