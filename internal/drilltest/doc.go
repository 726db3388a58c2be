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
// A Drillbit that cannot start fails the test with the end of its log and the
// command that fixes the machine; it is never skipped. A Drillbit started
// here also dies with the test binary, however the binary ends: it stops when
// its standard input, a pipe from the test process, reaches end of file.
//
// The auth profile's user is AuthUser with AuthPassword. These are test-only
// credentials, written into the Drillbit's own htpasswd file at start.
package drilltest
