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
// device's offset, or after failures an exponential backoff with jitter;
// and, brought forward by wakeups, a while after local saves and soon after
// Drill answers again. Its random numbers are seeded by the device id, so a
// fleet's devices draw different delays and each device the same ones
// every run. It is used under the agent's mutex.
type schedule struct {
	spec       cron.Schedule
	offset     time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	jitter     time.Duration // bound of the random delay before a triggered sync
	saveDelay  time.Duration
	maxProbe   time.Duration
	rnd        *rand.Rand
}

// newSchedule builds the schedule of opts (defaults applied) for device.
func newSchedule(opts Options, device string) (*schedule, error) {
	s, err := cron.ParseStandard(opts.Spec)
	if err != nil {
		return nil, fmt.Errorf("agent: schedule %q: %w", opts.Spec, err)
	}
	h := fnv.New64a()
	h.Write([]byte(device))
	seed := h.Sum64()
	return &schedule{
		spec: s, offset: deviceOffset(device, opts.MaxOffset),
		minBackoff: opts.MinBackoff, maxBackoff: max(opts.MinBackoff, opts.MaxBackoff),
		jitter: opts.MaxOffset, saveDelay: opts.SaveDelay, maxProbe: max(opts.MinBackoff, opts.MaxProbe),
		rnd: rand.New(rand.NewPCG(seed, seed>>1|1)),
	}, nil
}

// next returns the time of the next run after now, given the number of
// consecutive failed syncs.
func (s *schedule) next(now time.Time, failures int) time.Time {
	if failures > 0 {
		return now.Add(s.backoff(failures, s.maxBackoff))
	}
	return s.spec.Next(now.Add(-s.offset)).Add(s.offset)
}

// backoff is min*2^(n-1), capped at limit, then jittered to between half
// and all of it, so a fleet that failed together does not retry together.
func (s *schedule) backoff(n int, limit time.Duration) time.Duration {
	d := s.minBackoff
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	half := d / 2
	return half + time.Duration(s.rnd.Int64N(int64(half)+1))
}

// spread is the fleet-wide jitter of a triggered sync: a random delay in
// [0, jitter), so devices that see the same moment (Drill back at 8:00)
// do not sync in the same second.
func (s *schedule) spread() time.Duration {
	if s.jitter <= 0 {
		return 0
	}
	return time.Duration(s.rnd.Int64N(int64(s.jitter)))
}

// action is what the loop does when it wakes.
type action int

const (
	actSync  action = iota // run a sync
	actProbe               // ask Drill cheaply whether it answers again
)

// wakeups is what, besides the clock, decides when the loop wakes: saves
// waiting for a sync, a sync asked for because Drill is back, and the
// probes while it is not. Times are kept once computed, so waking early
// (a save, a probe) never pushes the scheduled sync further out. It is
// kept under the agent's mutex.
type wakeups struct {
	retryAt   time.Time // the cron or backoff sync; zero: compute it
	savedAt   time.Time // the last save no sync has started since; zero: none
	saveDue   time.Time // the debounced sync after savedAt
	reconnect time.Time // the sync asked for because Drill answers again; zero: none
	probeAt   time.Time // the next probe while offline; zero: compute it
	probes    int       // probes since the last sync
	down      bool      // the last probe, or the last sync, could not reach Drill
}

// plan returns when the loop wakes next after now and what it does then.
// failures and offline are the status's; canProbe says whether the Drill
// can be probed.
func (s *schedule) plan(now time.Time, w *wakeups, failures int, offline, canProbe bool) (time.Time, action) {
	if w.retryAt.IsZero() {
		w.retryAt = s.next(now, failures)
	}
	at := s.nextSync(w, failures)
	if offline && canProbe && w.reconnect.IsZero() {
		if w.probeAt.IsZero() {
			w.probeAt = now.Add(s.backoff(w.probes+1, s.maxProbe))
		}
		if w.probeAt.Before(at) {
			return w.probeAt, actProbe
		}
	}
	return at, actSync
}

// nextSync is the earliest sync planned in w. Saves bring it forward only
// while syncs succeed: after a failure the backoff (or a reconnect) decides.
func (s *schedule) nextSync(w *wakeups, failures int) time.Time {
	at := w.retryAt
	if !w.reconnect.IsZero() && w.reconnect.Before(at) {
		at = w.reconnect
	}
	if failures == 0 && !w.saveDue.IsZero() && w.saveDue.Before(at) {
		at = w.saveDue
	}
	return at
}

// saved records a local save at now: a sync follows once no save came for
// saveDelay, plus the fleet-wide jitter.
func (s *schedule) saved(w *wakeups, now time.Time) {
	w.savedAt = now
	w.saveDue = now.Add(s.saveDelay + s.spread())
}

// probed records a probe's outcome at now. Drill answering after a probe
// or a sync could not reach it is a reconnect: a sync follows after the
// fleet-wide jitter. Drill answering all along (say it is only slow) is
// not, and the backoff stands, so an overloaded Drill is not hit harder.
func (s *schedule) probed(w *wakeups, now time.Time, err error) {
	w.probes++
	w.probeAt = time.Time{}
	if err != nil {
		w.down = true
		return
	}
	if w.down {
		w.reconnect = now.Add(s.spread())
	}
	w.down = false
}

// synced records a sync that started at started and ended with an error of
// kind (ErrorNone for a success): the next one is computed afresh, and the
// saves it covered are settled.
func (s *schedule) synced(w *wakeups, started time.Time, kind ErrorKind) {
	if !w.savedAt.After(started) {
		w.savedAt, w.saveDue = time.Time{}, time.Time{}
	}
	w.retryAt, w.probeAt, w.reconnect = time.Time{}, time.Time{}, time.Time{}
	w.probes = 0
	w.down = kind == ErrorUnreachable
}

// probeTimeout bounds one probe of Drill.
const probeTimeout = 10 * time.Second

// loop runs scheduled and triggered syncs until ctx ends.
func (a *Agent) loop(ctx context.Context) {
	if _, err := a.RefreshStatus(ctx); err != nil {
		a.log.Warn("read status", "err", err)
	}
	prober, canProbe := a.dr.(Prober)
	for {
		a.mu.Lock()
		now := a.now()
		at, act := a.sched.plan(now, &a.wake, a.status.Failures, a.status.State == StateOffline, canProbe)
		nextRun := a.sched.nextSync(&a.wake, a.status.Failures)
		changed := !nextRun.Equal(a.status.NextRun)
		a.status.NextRun = nextRun
		st := a.status
		a.mu.Unlock()
		if changed {
			a.events.Emit(EventStatus, st)
		}
		timer := time.NewTimer(max(0, at.Sub(now)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-a.kick:
			timer.Stop()
			continue
		case <-timer.C:
		}
		if act == actProbe {
			a.probe(ctx, prober)
			continue
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

// probe asks Drill whether it answers, bounded by probeTimeout.
func (a *Agent) probe(ctx context.Context, p Prober) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	err := p.Probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	back := err == nil && a.wake.down
	a.sched.probed(&a.wake, a.now(), err)
	due := a.wake.reconnect
	a.mu.Unlock()
	switch {
	case back:
		a.log.Info("drill answers again; syncing soon", "at", due)
	case err != nil:
		a.log.Debug("drill still cannot be reached", "err", err)
	}
}

// Saved tells the agent that local changes were journaled (a field worker
// saved): while syncs succeed, a sync follows once no save came for
// Options.SaveDelay, plus the fleet-wide jitter. Only a running schedule
// (Start) acts on it.
func (a *Agent) Saved() {
	a.mu.Lock()
	a.sched.saved(&a.wake, a.now())
	a.mu.Unlock()
	a.poke()
}

// poke wakes the loop to plan again; it never blocks.
func (a *Agent) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}
