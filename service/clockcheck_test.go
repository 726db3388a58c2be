package service

import (
	"strings"
	"testing"
	"time"
)

// TestClockCheck: doctor's clock line per Drillbit. Up to 2 minutes off
// either way is ok; more is a warning (a wrong clock decides which edit
// wins a conflict); more ahead than the bound is a failure, because
// changes made here are not sent then. A clock behind is never a failure:
// its changes are sent and lose "newest" decisions only.
func TestClockCheck(t *testing.T) {
	t.Parallel()
	const bound = 24 * time.Hour
	tests := []struct {
		name       string
		skew       time.Duration
		status     string
		detail     string
		hintHas    string // "" means no hint
		hintHasNot string
	}{
		{"on time", 0, CheckOK, "this computer's clock is 0s ahead of the Drillbit's (skew 0 ms)", "", ""},
		{"a minute ahead", time.Minute, CheckOK, "1m0s ahead of the Drillbit's (skew 60000 ms)", "", ""},
		{"exactly 2 minutes behind", -2 * time.Minute, CheckOK, "2m0s behind the Drillbit's (skew -120000 ms)", "", ""},
		{"just over 2 minutes ahead", 2*time.Minute + time.Second, CheckWarn, "2m1s ahead of the Drillbit's", "decides which edit wins a conflict", "not sent"},
		{"an hour behind", -time.Hour, CheckWarn, "1h0m0s behind the Drillbit's (skew -3600000 ms)", "turn on automatic time / NTP", "not sent"},
		{"at the bound", bound, CheckWarn, "24h0m0s ahead", "decides which edit wins", "not sent"},
		{"over the bound ahead", bound + time.Second, CheckFail, "24h0m1s ahead of the Drillbit's", "changes made here are not sent while the clock is more than 24h0m0s ahead", ""},
		{"a year ahead", 365 * 24 * time.Hour, CheckFail, "8760h0m0s ahead", "not sent", ""},
		{"a year behind", -365 * 24 * time.Hour, CheckWarn, "8760h0m0s behind", "decides which edit wins", "not sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, detail, hint := ClockCheck(DrillbitProbe{URL: "http://drill:8047", Skew: tt.skew, ClockRead: true}, bound)
			if status != tt.status {
				t.Errorf("status %q, want %q (detail %q)", status, tt.status, detail)
			}
			if !strings.Contains(detail, tt.detail) {
				t.Errorf("detail %q, want it to hold %q", detail, tt.detail)
			}
			switch {
			case tt.hintHas == "" && hint != "":
				t.Errorf("hint %q, want none", hint)
			case tt.hintHas != "" && !strings.Contains(hint, tt.hintHas):
				t.Errorf("hint %q, want it to hold %q", hint, tt.hintHas)
			case tt.hintHasNot != "" && strings.Contains(hint, tt.hintHasNot):
				t.Errorf("hint %q, want it not to hold %q", hint, tt.hintHasNot)
			}
		})
	}
}
