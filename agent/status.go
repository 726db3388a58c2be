package agent

import (
	"context"
	"errors"
	"fmt"
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
	// Quarantined counts pulled rows and batches kept out of the store
	// because they failed validation or could not be read (see
	// `fieldsync quarantine list`); QuarantineReasons says why for the
	// newest few, in plain words.
	Quarantined       int      `json:"quarantined"`
	QuarantineReasons []string `json:"quarantine_reasons,omitempty"`
	// PullRetries counts pulled batches that could not be read completely
	// yet and are read again later.
	PullRetries int `json:"pull_retries,omitempty"`
	// ClockSkewMS is this computer's clock minus Drill's, as measured at
	// ClockCheckedAt (the last sync that reached Drill).
	ClockSkewMS    int64     `json:"clock_skew_ms"`
	ClockCheckedAt time.Time `json:"clock_checked_at,omitzero"`
	// ClockWarning says in plain words that this computer's clock is off
	// (more than two minutes from Drill's); "" when it is fine.
	ClockWarning string `json:"clock_warning,omitempty"`
}

// quarantineReasons is how many of the newest quarantined items' reasons
// the status carries.
const quarantineReasons = 3

// Status returns the agent's current status.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// RefreshStatus re-reads the pending and conflict counts from the store,
// e.g. after the UI appended changes, and emits the status.
func (a *Agent) RefreshStatus(ctx context.Context) (Status, error) {
	a.refreshMu.Lock()
	defer a.refreshMu.Unlock()
	stats, err := a.st.Stats(ctx)
	if err != nil {
		return a.Status(), err
	}
	reasons := a.quarantineReasons(ctx, stats)
	rec, rerr := a.st.SyncRecord(ctx)
	a.mu.Lock()
	a.status.Pending, a.status.Conflicts = stats.Pending, stats.Conflicts
	a.status.Quarantined, a.status.QuarantineReasons, a.status.PullRetries = stats.Quarantined, reasons, stats.PullRetries
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

// SyncResult is the outcome of one sync, for Options.OnSync.
type SyncResult struct {
	Report Report
	// Took is how long the sync ran.
	Took time.Duration
	// Err is why it failed (nil: it succeeded), and Kind its kind.
	Err  error
	Kind ErrorKind
}

// finish records the outcome of a sync that started at started in the
// status and the schedule, and reports it to Options.OnSync.
func (a *Agent) finish(ctx context.Context, rep *Report, started time.Time, err error) {
	kind := KindOf(err)
	stats, serr := a.st.Stats(context.WithoutCancel(ctx))
	var reasons []string
	if serr == nil {
		reasons = a.quarantineReasons(context.WithoutCancel(ctx), stats)
	}
	a.mu.Lock()
	if serr == nil {
		a.status.Pending, a.status.Conflicts = stats.Pending, stats.Conflicts
		a.status.Quarantined, a.status.QuarantineReasons, a.status.PullRetries = stats.Quarantined, reasons, stats.PullRetries
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
	a.sched.synced(&a.wake, started, kind)
	st := a.status
	took := a.now().Sub(started)
	a.mu.Unlock()
	rec := store.SyncRecord{LastAttempt: a.now().UnixMilli(), State: string(st.State), LastError: st.LastError, Cause: st.Cause, Failures: st.Failures,
		Unpushable: st.Unpushable, UnpushableReason: st.UnpushableReason}
	if !st.LastSuccess.IsZero() {
		rec.LastSuccess = st.LastSuccess.UnixMilli()
	}
	if serr := a.st.SaveSyncRecord(context.WithoutCancel(ctx), rec); serr != nil {
		a.log.Warn("cannot keep the sync outcome in the store", "err", serr)
	}
	a.poke()
	if a.opts.OnSync != nil {
		a.opts.OnSync(SyncResult{Report: *rep, Took: took, Err: err, Kind: kind})
	}
	if err != nil {
		a.log.Warn("sync failed", "state", st.State, "err", err)
	} else {
		a.log.Info("sync done", "pushed", rep.Pushed, "pulled", rep.Pulled, "conflicts", rep.Conflicts)
	}
	a.events.Emit(EventStatus, st)
}

// quarantineReasons returns the reasons of the newest quarantined items,
// each with where it came from.
func (a *Agent) quarantineReasons(ctx context.Context, stats store.Stats) []string {
	if stats.Quarantined == 0 {
		return nil
	}
	items, err := a.st.QuarantineList(ctx)
	if err != nil {
		a.log.Warn("read the quarantine", "err", err)
		return nil
	}
	var out []string
	for _, q := range items[:min(len(items), quarantineReasons)] {
		out = append(out, QuarantineText(q))
	}
	return out
}

// QuarantineText says what one quarantined item is and why, in one line
// for people.
func QuarantineText(q store.Quarantined) string {
	if q.Kind == store.QuarantineBatch {
		return fmt.Sprintf("batch %s of %s: %s", q.Batch, q.Collection, q.Reason)
	}
	who := fmt.Sprintf("row %d", q.Row)
	if q.ChangeID != "" {
		who = fmt.Sprintf("change %s", cutText(q.ChangeID, 40))
	}
	return fmt.Sprintf("%s of batch %s (%s): %s", who, q.Batch, q.Collection, q.Reason)
}

// ErrNoDrill is wrapped by the error of a Drill that stands for "no Drillbit
// configured yet" (the CLI and app give the agent one when the settings name
// none), so the status can say so instead of reporting a failure.
var ErrNoDrill = errors.New("no Drillbit is configured")

// ErrorKind names what kind of failure ended a sync, for metrics and
// logs.
type ErrorKind string

// The kinds of sync failures.
const (
	ErrorNone          ErrorKind = ""               // no failure
	ErrorNotConfigured ErrorKind = "not_configured" // no Drillbit is configured
	ErrorUnreachable   ErrorKind = "unreachable"    // no Drillbit answered
	ErrorTimeout       ErrorKind = "timeout"        // a call took too long
	ErrorAuth          ErrorKind = "auth"           // Drill refused the sign-in
	ErrorQuery         ErrorKind = "query"          // Drill refused or failed a statement
	ErrorForeignBatch  ErrorKind = "foreign_batch"  // another device uses this device id
	ErrorCanceled      ErrorKind = "canceled"       // the sync was stopped
	ErrorLocal         ErrorKind = "local"          // this computer: disk full, permission denied, damaged store
	ErrorOther         ErrorKind = "other"          // anything else (e.g. the local store)
)

// ErrorKinds lists every kind of failure, ErrorNone excepted.
func ErrorKinds() []ErrorKind {
	return []ErrorKind{ErrorNotConfigured, ErrorUnreachable, ErrorTimeout, ErrorAuth, ErrorQuery,
		ErrorForeignBatch, ErrorCanceled, ErrorLocal, ErrorOther}
}

// KindOf returns the kind of a sync error (ErrorNone for nil).
func KindOf(err error) ErrorKind {
	var ne net.Error
	var qe *drill.QueryError
	switch {
	case err == nil:
		return ErrorNone
	case errors.Is(err, ErrNoDrill):
		return ErrorNotConfigured
	case isLocal(err):
		// Before the network cases: a syscall.Errno is also a net.Error.
		return ErrorLocal
	case errors.Is(err, ErrBatchForeign):
		return ErrorForeignBatch
	case errors.Is(err, context.Canceled):
		return ErrorCanceled
	case drill.IsAuthError(err):
		return ErrorAuth
	case errors.Is(err, context.DeadlineExceeded):
		return ErrorTimeout
	case errors.Is(err, drill.ErrUnavailable), errors.Is(err, syscall.ECONNREFUSED):
		return ErrorUnreachable
	case errors.As(err, &ne):
		if ne.Timeout() {
			return ErrorTimeout
		}
		return ErrorUnreachable
	case errors.As(err, &qe):
		return ErrorQuery
	}
	return ErrorOther
}

// isLocal reports whether err is this computer's own trouble: its disk,
// its permissions or its store.
func isLocal(err error) bool {
	for _, e := range []error{store.ErrDamaged, syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG, syscall.EACCES, syscall.EPERM, syscall.EROFS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// describe turns a sync error into a state and a sentence for people.
// Local causes (the disk, permissions, a damaged store) come first: a
// syscall.Errno is also a net.Error, so "Drill cannot be reached" would
// otherwise claim them.
func describe(err error) (State, string) {
	switch {
	case errors.Is(err, store.ErrDamaged):
		return StateError, "The local store of this computer is damaged. Changes made here may be stuck in it: ask IT to run 'fieldsync store salvage' (docs/OPERATIONS.md#salvage)."
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EFBIG):
		return StateError, "The disk of this computer is full, so fieldsync cannot save its work. Free some space; nothing saved before is lost and the sync goes on by itself."
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		return StateError, "fieldsync is not allowed to write its files on this computer (permission denied or a read-only disk). Ask IT to check the data folder's owner and permissions."
	}
	switch KindOf(err) {
	case ErrorNotConfigured:
		return StateOffline, "No Drillbit is configured yet: changes stay on this computer. Set the Drillbit URL in Settings."
	case ErrorForeignBatch:
		return StateError, "Another computer uses this computer's device id, so their changes collide in Drill. Ask IT to give each computer its own device id."
	case ErrorCanceled:
		return StateError, "The sync was stopped before it finished; it continues next time."
	case ErrorAuth:
		return StateError, "Drill refused the sign-in. Check the user name and password in Settings."
	case ErrorUnreachable, ErrorTimeout:
		return StateOffline, "Drill cannot be reached. Changes stay safe on this computer and are sent when Drill is back."
	}
	return StateError, "The sync failed. Changes stay safe on this computer; the agent tries again."
}
