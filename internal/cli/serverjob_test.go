package cli

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestServerJob(t *testing.T) {
	t.Parallel()
	errPass := errors.New("pass failed")
	tests := []struct {
		name    string
		job     serverJob
		cancel  bool
		wantErr string
		passes  int
	}{
		{"once runs one pass", serverJob{once: true}, false, "", 1},
		{"once returns the pass's error", serverJob{once: true, pass: func(context.Context) error { return errPass }}, false, "pass failed", 1},
		{"a bad schedule is refused", serverJob{spec: "every so often"}, false, "every so often", 0},
		{"a schedule faster than a minute is refused", serverJob{spec: "@every 10s"}, false, "once a minute", 0},
		{"stopping ends the schedule before its first run", serverJob{spec: "@hourly"}, true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := 0
			job := tt.job
			job.name, job.log = "test", slog.New(slog.DiscardHandler)
			inner := job.pass
			job.pass = func(ctx context.Context) error {
				n++
				if inner != nil {
					return inner(ctx)
				}
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tt.cancel {
				cancel()
			}
			err := job.run(ctx)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("run = %v, want an error with %q", err, tt.wantErr)
			}
			if n != tt.passes {
				t.Errorf("%d passes, want %d", n, tt.passes)
			}
		})
	}
}
