package agent

import (
	"strings"
	"testing"
)

func TestDescribeSpec(t *testing.T) {
	t.Parallel()
	tests := []struct{ spec, want string }{
		{"@every 5m", "every 5 minutes"},
		{"@every 1h", "every hour"},
		{"@every 90m", "every 90 minutes"},
		{"@hourly", "every hour, on the hour"},
		{"@daily", "every day at midnight"},
		{"*/15 * * * *", "every 15 minutes"},
		{"*/1 * * * *", "every minute"},
		{"30 * * * *", "every hour at minute 30"},
		{"0 18 * * *", "every day at 18:00"},
		{"5 */2 * * *", "every 2 hours at minute 5"},
		{"0 18 * * 1-5", "on the schedule 0 18 * * 1-5 (next: "},
		{"nonsense", "not a valid schedule"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			if got := DescribeSpec(tt.spec); !strings.HasPrefix(got, tt.want) {
				t.Errorf("DescribeSpec(%q) = %q, want prefix %q", tt.spec, got, tt.want)
			}
		})
	}
}

func TestCheckSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec    string
		wantErr string
	}{
		{"@every 5m", ""},
		{"*/10 * * * *", ""},
		{"@every 10s", "more often than once a minute"},
		{"61 * * * *", "schedule"},
		{"every five minutes", "examples"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			t.Parallel()
			err := CheckSpec(tt.spec)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("CheckSpec(%q) = %v", tt.spec, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("CheckSpec(%q) = %v, want %q", tt.spec, err, tt.wantErr)
			}
		})
	}
}
