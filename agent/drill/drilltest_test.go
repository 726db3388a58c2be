package drill

import (
	"testing"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// The integration tests get their Drillbits from internal/drilltest: the
// ones named by FIELDSYNC_DRILL_URL / FIELDSYNC_DRILL_AUTH_URL (make test
// sets them), otherwise ones started for this test binary and stopped by
// TestMain. Without a Drillbit they fail loudly with the fix.

func TestMain(m *testing.M) { drilltest.Main(m) }

const (
	drillAuthUser      = drilltest.AuthUser
	drillAuthPassword  = drilltest.AuthPassword
	drillWrongPassword = drilltest.WrongPassword
)

func drillURL(tb testing.TB) string     { tb.Helper(); return drilltest.URL(tb) }
func drillAuthURL(tb testing.TB) string { tb.Helper(); return drilltest.AuthURL(tb) }
