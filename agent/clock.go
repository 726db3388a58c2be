package agent

import (
	"context"
	"fmt"
	"time"
)

// Clocks lie. Every sync reads Drill's clock once: it names the batches
// pushed (so every device's batches share one time line), bounds the
// versions pushed and pulled, and measures this computer's skew.
//
// A pulled version more than MaxClockAhead ahead of both this computer's
// clock and Drill's is quarantined and never observed into the clock; a
// local change more than MaxClockAhead ahead of Drill's clock is not pushed
// (every puller would refuse it) and stays in the journal, reported.

// ClockWarnSkew is the skew against Drill's clock past which the status
// warns that this computer's clock is off.
const ClockWarnSkew = 2 * time.Minute

// syncClock is what one sync read of the clocks, read when the sync first
// needs it (a sync with nothing to push and no collection asks Drill
// nothing).
type syncClock struct {
	read    bool
	drillMS int64     // Drill's clock when read
	localMS int64     // this computer's clock at the same moment
	at      time.Time // the same moment by the agent's clock (monotonic)
}

// drillNow is Drill's clock now, as far as this sync knows: its reading
// plus the time passed since on this computer (a steady clock, whatever
// this computer's wall clock says).
func (a *Agent) drillNow(c *syncClock) int64 {
	return c.drillMS + a.now().Sub(c.at).Milliseconds()
}

// pullBound is the newest wall time a pulled version may carry.
func (a *Agent) pullBound(c *syncClock) int64 {
	return max(c.localMS, c.drillMS) + a.opts.MaxClockAhead.Milliseconds()
}

// pushBound is the newest wall time a pushed version may carry: what a
// puller with a right clock accepts.
func (a *Agent) pushBound(c *syncClock) int64 {
	return c.drillMS + a.opts.MaxClockAhead.Milliseconds()
}

// readClock reads Drill's clock into c unless it was read this sync, and
// records this computer's skew against it in the status (local minus
// Drill, the query's time halved).
func (a *Agent) readClock(ctx context.Context, c *syncClock) error {
	if c.read {
		return nil
	}
	before := a.now()
	ms, err := a.serverMS(ctx)
	if err != nil {
		return err
	}
	after := a.now()
	local := before.Add(after.Sub(before) / 2).UnixMilli()
	skew := time.Duration(local-ms) * time.Millisecond
	warn := clockWarning(skew, a.opts.MaxClockAhead)
	a.mu.Lock()
	a.status.ClockSkewMS = skew.Milliseconds()
	a.status.ClockCheckedAt = after
	a.status.ClockWarning = warn
	a.mu.Unlock()
	if warn != "" {
		a.log.Warn("clock off against Drill's", "skew", skew.String())
	}
	*c = syncClock{read: true, drillMS: ms, localMS: local, at: after}
	return nil
}

// clockWarning says in plain words that this computer's clock is off, or
// "" when it is within ClockWarnSkew of Drill's.
func clockWarning(skew, bound time.Duration) string {
	off := skew.Abs()
	if off <= ClockWarnSkew {
		return ""
	}
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	msg := fmt.Sprintf("This computer's clock is %s %s Drill's clock.", aheadText(off), dir)
	if skew > bound {
		return msg + fmt.Sprintf(" Changes made now cannot be sent (other devices refuse versions more than %s ahead); set the clock right (turn on automatic time) and ask IT.", bound)
	}
	return msg + " Set it right (turn on automatic time): a wrong clock decides which edit wins a conflict."
}
