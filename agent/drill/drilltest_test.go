package drill

import (
	"os"
	"testing"
)

// Until internal/drilltest lands, the integration tests take the Drillbits
// from the environment and fail loudly without them.

const (
	drillAuthUser      = "fieldsync"
	drillWrongPassword = "not-the-password"
)

func drillURL(tb testing.TB) string {
	tb.Helper()
	return mustEnv(tb, "FIELDSYNC_DRILL_URL", "bash scripts/drillbit.sh start")
}

func drillAuthURL(tb testing.TB) string {
	tb.Helper()
	return mustEnv(tb, "FIELDSYNC_DRILL_AUTH_URL", "bash scripts/drillbit.sh start --auth")
}

func drillAuthPassword(testing.TB) string { return "fieldsync-test-pw" }

func mustEnv(tb testing.TB, name, fix string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		tb.Fatalf("%s is not set: start a Drillbit with `%s` and export the URL it prints", name, fix)
	}
	return v
}
