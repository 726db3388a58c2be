package drill

import (
	"os"
	"testing"
)

// Until internal/drilltest is in the tree, the integration tests take the
// Drillbits from the environment (make test sets both URLs) and fail loudly
// without them.

const (
	drillAuthUser      = "fieldsync"
	drillAuthPassword  = "fieldsync-test-pw" // test-only credentials of the auth profile
	drillWrongPassword = "not-the-fieldsync-test-pw"
)

func drillURL(tb testing.TB) string {
	tb.Helper()
	return mustEnv(tb, "FIELDSYNC_DRILL_URL", "bash scripts/drillbit.sh start")
}

func drillAuthURL(tb testing.TB) string {
	tb.Helper()
	return mustEnv(tb, "FIELDSYNC_DRILL_AUTH_URL", "bash scripts/drillbit.sh start --auth")
}

func mustEnv(tb testing.TB, name, fix string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		tb.Fatalf("%s is not set: start a Drillbit with `%s` and export the URL it prints", name, fix)
	}
	return v
}
