package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/robfig/cron/v3"
)

// schedule computes when the next sync runs: the cron spec shifted by the
// device's offset, or after failures an exponential backoff with jitter.
// It is used under the agent's mutex.
type schedule struct {
	spec       cron.Schedule
	offset     time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	rnd        *rand.Rand
}

func newSchedule(spec string, offset, minBackoff, maxBackoff time.Duration, device string) (*schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("agent: schedule %q: %w", spec, err)
	}
	h := fnv.New64a()
	h.Write([]byte(device))
	seed := h.Sum64()
	return &schedule{
		spec: s, offset: offset, minBackoff: minBackoff, maxBackoff: max(minBackoff, maxBackoff),
		rnd: rand.New(rand.NewPCG(seed, seed>>1|1)),
	}, nil
}

// next returns the time of the next run after now, given the number of
// consecutive failed syncs.
func (s *schedule) next(now time.Time, failures int) time.Time {
	if failures > 0 {
		return now.Add(s.backoff(failures))
	}
	return s.spec.Next(now.Add(-s.offset)).Add(s.offset)
}

// backoff is min*2^(failures-1), capped at max, then jittered to between
// half and all of it, so a fleet that failed together does not retry
// together.
func (s *schedule) backoff(failures int) time.Duration {
	d := s.minBackoff
	for i := 1; i < failures && d < s.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.maxBackoff)
	half := d / 2
	return half + time.Duration(s.rnd.Int64N(int64(half)+1))
}

// loop runs scheduled syncs until ctx ends.
func (a *Agent) loop(ctx context.Context) {
	if _, err := a.RefreshStatus(ctx); err != nil {
		a.log.Warn("read status", "err", err)
	}
	for {
		a.mu.Lock()
		next := a.sched.next(a.now(), a.status.Failures)
		a.status.NextRun = next
		st := a.status
		a.mu.Unlock()
		a.events.Emit(EventStatus, st)
		timer := time.NewTimer(max(0, next.Sub(a.now())))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if _, err := a.TrySync(ctx); err != nil {
			if errors.Is(err, ErrSyncRunning) {
				continue
			}
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("scheduled sync failed", "err", err)
		}
	}
}
