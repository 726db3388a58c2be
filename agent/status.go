package agent

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

// State is what the agent is doing.
type State string

// The states of the agent.
const (
	StateIdle    State = "idle"
	StatePushing State = "pushing"
	StatePulling State = "pulling"
	StateOffline State = "offline" // the last sync could not reach Drill
	StateError   State = "error"   // the last sync failed for another reason
)

// Progress is how far the running sync phase is.
type Progress struct {
	Phase string `json:"phase"` // "push" or "pull"
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// Status is the agent's state for people and the UI.
type Status struct {
	State     State  `json:"state"`
	Device    string `json:"device"`
	Pending   uint64 `json:"pending"`   // local changes not yet in Drill
	Conflicts int64  `json:"conflicts"` // open conflicts
	// LastSuccess is when the last sync succeeded.
	LastSuccess time.Time `json:"last_success,omitzero"`
	// LastError says in plain words why the last sync failed ("" after a
	// success); Cause is the underlying error text.
	LastError string    `json:"last_error,omitempty"`
	Cause     string    `json:"cause,omitempty"`
	Failures  int       `json:"failures"` // consecutive failed syncs
	NextRun   time.Time `json:"next_run,omitzero"`
	Progress  Progress  `json:"progress"`
	// Unpushable counts changes that cannot be written to Drill at all
	// (they stay in the local journal); UnpushableReason says why for the
	// first of them.
	Unpushable       int    `json:"unpushable,omitempty"`
	UnpushableReason string `json:"unpushable_reason,omitempty"`
}

// Status returns the agent's current status.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// RefreshStatus re-reads the pending and conflict counts from the store,
// e.g. after the UI appended changes, and emits the status.
func (a *Agent) RefreshStatus(ctx context.Context) (Status, error) {
	stats, err := a.st.Stats(ctx)
	if err != nil {
		return a.Status(), err
	}
	rec, rerr := a.st.SyncRecord(ctx)
	a.mu.Lock()
	a.status.Pending, a.status.Conflicts = stats.Pending, stats.Conflicts
	a.status.Device = a.device
	if rerr == nil && a.status.LastSuccess.IsZero() && a.status.LastError == "" && a.status.Failures == 0 {
		// A new process: tell the outcome the last one kept.
		a.status.LastError, a.status.Cause, a.status.Failures = rec.LastError, rec.Cause, rec.Failures
		a.status.Unpushable, a.status.UnpushableReason = rec.Unpushable, rec.UnpushableReason
		if rec.LastSuccess > 0 {
			a.status.LastSuccess = time.UnixMilli(rec.LastSuccess)
		}
		if rec.LastError != "" && rec.State != "" {
			a.status.State = State(rec.State)
		}
	}
	st := a.status
	a.mu.Unlock()
	a.events.Emit(EventStatus, st)
	return st, nil
}

func (a *Agent) setState(s State, _ error) {
	a.mu.Lock()
	a.status.State = s
	a.status.Progress = Progress{}
	st := a.status
	a.mu.Unlock()
	a.events.Emit(EventStatus, st)
}

func (a *Agent) progress(phase string, done, total int) {
	p := Progress{Phase: phase, Done: done, Total: total}
	a.mu.Lock()
	a.status.Progress = p
	a.mu.Unlock()
	a.events.Emit(EventProgress, p)
}

// finish records the outcome of a sync in the status.
func (a *Agent) finish(ctx context.Context, rep *Report, err error) {
	stats, serr := a.st.Stats(context.WithoutCancel(ctx))
	a.mu.Lock()
	if serr == nil {
		a.status.Pending, a.status.Conflicts = stats.Pending, stats.Conflicts
		rep.Conflicts = int(stats.Conflicts)
	}
	a.status.Device = a.device
	a.status.Progress = Progress{}
	a.status.Unpushable, a.status.UnpushableReason = len(rep.Unpushable), ""
	if len(rep.Unpushable) > 0 {
		a.status.UnpushableReason = rep.Unpushable[0]
	}
	if err != nil {
		a.status.Failures++
		a.status.State, a.status.LastError = describe(err)
		a.status.Cause = err.Error()
	} else {
		a.status.Failures = 0
		a.status.State = StateIdle
		a.status.LastError, a.status.Cause = "", ""
		a.status.LastSuccess = a.now()
	}
	st := a.status
	a.mu.Unlock()
	rec := store.SyncRecord{LastAttempt: a.now().UnixMilli(), State: string(st.State), LastError: st.LastError, Cause: st.Cause, Failures: st.Failures,
		Unpushable: st.Unpushable, UnpushableReason: st.UnpushableReason}
	if !st.LastSuccess.IsZero() {
		rec.LastSuccess = st.LastSuccess.UnixMilli()
	}
	if serr := a.st.SaveSyncRecord(context.WithoutCancel(ctx), rec); serr != nil {
		a.log.Warn("cannot keep the sync outcome in the store", "err", serr)
	}
	if err != nil {
		a.log.Warn("sync failed", "state", st.State, "err", err)
	} else {
		a.log.Info("sync done", "pushed", rep.Pushed, "pulled", rep.Pulled, "conflicts", rep.Conflicts)
	}
	a.events.Emit(EventStatus, st)
}

// ErrNoDrill is wrapped by the error of a Drill that stands for "no Drillbit
// configured yet" (the CLI and app give the agent one when the settings name
// none), so the status can say so instead of reporting a failure.
var ErrNoDrill = errors.New("no Drillbit is configured")

// describe turns a sync error into a state and a sentence for people.
// Local causes (the disk, permissions, a damaged store) come first: a
// syscall.Errno is also a net.Error, so "Drill cannot be reached" would
// otherwise claim them.
func describe(err error) (State, string) {
	var ne net.Error
	switch {
	case errors.Is(err, store.ErrDamaged):
		return StateError, "The local store of this computer is damaged. Changes made here may be stuck in it: ask IT to run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)."
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return StateError, "The disk of this computer is full, so fieldsync cannot save its work. Free some space; nothing saved before is lost and the sync goes on by itself."
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return StateError, "fieldsync is not allowed to write its files on this computer (permission denied or a read-only disk). Ask IT to check the data folder's owner and permissions."
	}
	switch {
	case errors.Is(err, ErrNoDrill):
		return StateOffline, "No Drillbit is configured yet: changes stay on this computer. Set the Drillbit URL in Settings."
	case errors.Is(err, ErrBatchForeign):
		return StateError, "Another computer uses this computer's device id, so their changes collide in Drill. Ask IT to give each computer its own device id."
	case errors.Is(err, context.Canceled):
		return StateError, "The sync was stopped before it finished; it continues next time."
	case drill.IsAuthError(err):
		return StateError, "Drill refused the sign-in. Check the user name and password in Settings."
	case errors.Is(err, drill.ErrUnavailable), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return StateOffline, "Drill cannot be reached. Changes stay safe on this computer and are sent when Drill is back."
	}
	return StateError, "The sync failed. Changes stay safe on this computer; the agent tries again."
}
