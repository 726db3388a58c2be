package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// RunJob runs pass on the cron spec (as the sync schedule: "@every 1m",
// "*/5 * * * *") until ctx ends: the loop of a server command (fieldsync
// ingest without --once). The first pass runs at once. A failed pass is
// logged and the next runs on time; passes never overlap, since the next
// time is taken after a pass ends. now is the clock (nil: time.Now).
func RunJob(ctx context.Context, log *slog.Logger, name, spec string, now func() time.Time, pass func(context.Context) error) error {
	if err := CheckSpec(spec); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return fmt.Errorf("%s: schedule %q: %w", name, spec, err)
	}
	if now == nil {
		now = time.Now
	}
	log.Info("server job starting", "job", name, "schedule", spec)
	for ctx.Err() == nil {
		if err := pass(ctx); err != nil && ctx.Err() == nil {
			log.Error("server job pass failed; the next one runs on schedule", "job", name, "err", err)
		}
		t := time.NewTimer(sched.Next(now()).Sub(now()))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	log.Info("server job stopped", "job", name)
	return nil
}
