package agent

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunJob: the loop of the server commands (compact, ingest) runs a
// pass at once, logs a failed pass and goes on, stops when asked, and
// refuses a schedule it cannot keep.
func TestRunJob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      string
		cancelled bool // ctx done before the loop starts
		wantErr   string
		passes    int32 // passes before the test stops the loop
	}{
		{"runs a pass at once, a failed one is not fatal", "@every 1m", false, "", 1},
		{"a bad schedule is refused", "every so often", false, "every so often", 0},
		{"a schedule faster than a minute is refused", "@every 10s", false, "once a minute", 0},
		{"stopped before its first pass", "@hourly", true, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			var passes atomic.Int32
			done := make(chan error, 1)
			go func() {
				done <- RunJob(ctx, slog.New(slog.DiscardHandler), "test", tt.spec, nil, func(context.Context) error {
					passes.Add(1)
					return errors.New("a failed pass is logged, not fatal")
				})
			}()
			if tt.passes > 0 {
				for passes.Load() < tt.passes && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}
			err := <-done
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("RunJob = %v, want an error with %q", err, tt.wantErr)
			}
			if n := passes.Load(); n != tt.passes {
				t.Errorf("%d passes, want %d", n, tt.passes)
			}
		})
	}
}
