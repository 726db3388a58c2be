package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fieldsync/fieldsync/agent"
)

// serverJob is a server command (compact; ingest can share it): one pass
// with --once, else a pass on every run of its schedule until the command
// is stopped, one pass at a time. A failed pass is logged and the next
// run tries again; with --once it is the command's error.
type serverJob struct {
	name string // the command, for logs and errors
	spec string // cron spec (a settings key such as compact.schedule)
	once bool
	log  *slog.Logger
	pass func(ctx context.Context) error
}

// run runs the job until ctx is cancelled (or once).
func (j serverJob) run(ctx context.Context) error {
	if j.once {
		return j.pass(ctx)
	}
	next, err := agent.NextRun(j.spec)
	if err != nil {
		return fmt.Errorf("%s: %w", j.name, err)
	}
	j.log.Info(j.name+" schedule started", "schedule", j.spec)
	for {
		at := next(time.Now())
		t := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			t.Stop()
			j.log.Info(j.name + " schedule stopped")
			return nil
		case <-t.C:
		}
		if err := j.pass(ctx); err != nil && ctx.Err() == nil {
			j.log.Error(j.name+" pass failed; the next run tries again", "err", err)
		}
	}
}
