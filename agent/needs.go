package agent

// The agent declares here what it needs of the parts it is given: the
// local store, a Drill cluster and a sink for its events.

import (
	"context"

	"github.com/fieldsync/fieldsync/store"
)

// Store is what the agent needs of the local store. *store.Store
// implements it.
type Store interface {
	// DeviceID returns this device's id.
	DeviceID() string
	// NextVersion issues a new hybrid-logical-clock version.
	NextVersion(ctx context.Context) (store.Version, error)
	// Pending returns journal entries after a seq, in seq order.
	Pending(ctx context.Context, afterSeq uint64, limit int) ([]store.JournalEntry, error)
	// PushCursor returns the seq up to which every entry is pushed.
	PushCursor(ctx context.Context) (uint64, error)
	// Truncate removes pushed journal entries up to a seq.
	Truncate(ctx context.Context, uptoSeq uint64) (int, error)
	// TrimMirror keeps the newest entries of the mirror index (the page's
	// catch-up) and removes the older ones.
	TrimMirror(ctx context.Context, keep int) (int, error)
	// PlanBatch fixes a batch's name and entries before its first attempt.
	PlanBatch(ctx context.Context, plan store.BatchPlan) (store.Batch, error)
	// RenameBatch gives a batch that is not verified a new name (its
	// journal entries follow it, but those of the pushed change ids,
	// which stay verified under the old name) in one transaction.
	RenameBatch(ctx context.Context, oldName, newName string, pushed []string) (store.Batch, error)
	// MarkBatch records a batch's progress; verified moves the push cursor.
	MarkBatch(ctx context.Context, name string, state store.BatchState, attemptErr error) (store.Batch, error)
	// OpenBatches returns the batches not yet verified, oldest first.
	OpenBatches(ctx context.Context) ([]store.Batch, error)
	// ApplyRemote applies pulled changes to the mirror, idempotently.
	ApplyRemote(ctx context.Context, batch string, changes []store.Change) (store.AppendResult, error)
	// Seen reports whether a pulled batch was applied.
	Seen(ctx context.Context, collection, batch string) (bool, error)
	// MarkSeen records a pulled batch as applied.
	MarkSeen(ctx context.Context, collection, batch string, changes int) error
	// PruneSeen forgets old seen batches (names in [fromName,
	// beforeName)) so the list stays bounded.
	PruneSeen(ctx context.Context, collection, fromName, beforeName string, seenBeforeMS int64) (int, error)
	// PullWatermark returns a collection's pull watermark: the moment of
	// its last complete listing, or the newest pulled batch's time if
	// later (see Agent.pull).
	PullWatermark(ctx context.Context, collection string) (int64, error)
	// SetPullWatermark moves the watermark forward.
	SetPullWatermark(ctx context.Context, collection string, ms int64) error
	// Conflict returns a record's open conflict (store.ErrNotFound if none).
	Conflict(ctx context.Context, collection, id string) (store.Conflict, error)
	// Conflicts lists the open conflicts of a collection.
	Conflicts(ctx context.Context, collection string) ([]store.Conflict, error)
	// PutConflict stores the agent's annotation of a conflict.
	PutConflict(ctx context.Context, cf store.Conflict) error
	// Resolve appends a resolution and its audit entry in one transaction.
	Resolve(ctx context.Context, resolution store.Change, audit store.AuditEntry) (store.ChangeResult, error)
	// Quarantine records pulled rows or batches that must not be applied.
	Quarantine(ctx context.Context, items []store.Quarantined) (int, error)
	// QuarantineList returns the quarantined items, newest first.
	QuarantineList(ctx context.Context) ([]store.Quarantined, error)
	// PullRetries returns the batches of a collection to read again.
	PullRetries(ctx context.Context, collection string) ([]store.PullRetry, error)
	// SetPullRetry records a failed read of a pulled batch.
	SetPullRetry(ctx context.Context, r store.PullRetry) error
	// Stats summarises the store (pending and conflict counts).
	Stats(ctx context.Context) (store.Stats, error)
	// SaveSyncRecord keeps the outcome of the last sync.
	SaveSyncRecord(ctx context.Context, r store.SyncRecord) error
	// SyncRecord returns the outcome of the last sync kept.
	SyncRecord(ctx context.Context) (store.SyncRecord, error)
	// RefState returns what the device knows of a reference collection.
	RefState(ctx context.Context, collection string) (store.RefState, bool, error)
	// PutRefState saves it.
	PutRefState(ctx context.Context, collection string, st store.RefState) error
	// RefHashes returns the hash of every stored reference row, by key.
	RefHashes(ctx context.Context, collection string) (map[string]string, error)
	// ApplyRefs writes and removes reference rows in one transaction.
	ApplyRefs(ctx context.Context, collection string, puts []store.RefRow, deletes []string, indexed []string) error
	// ClearRefs forgets a reference collection's rows and state.
	ClearRefs(ctx context.Context, collection string) error
	// ViewMark returns what the device remembers of a set of analyst views.
	ViewMark(ctx context.Context, key string) (store.ViewMark, bool, error)
	// PutViewMark keeps it.
	PutViewMark(ctx context.Context, key string, m store.ViewMark) error
}

var _ Store = (*store.Store)(nil)

// Row is one result row from Drill: column name to value, numbers as
// json.Number, NULL as nil.
type Row = map[string]any

// Drill is what the agent needs of a Drill cluster: run one SQL statement
// and return its rows. A statement that fails in Drill returns an error
// carrying Drill's message.
type Drill interface {
	Query(ctx context.Context, sql string) ([]Row, error)
}

// OptionQuerier is a Drill that runs a query with session options of its
// own (drill.Client's WithOption): batches written as JSON are CTAS with
// store.format = json.
type OptionQuerier interface {
	QueryWith(ctx context.Context, sql string, options map[string]string) ([]Row, error)
}

// RowReader is a Drill that can hand over a query's rows as they are read
// (drill.Client.QueryEach), so that a large result is never all in memory
// and the agent applies rows while Drill sends the next ones. The agent
// reads many batches with one such query; a Drill without it is read in
// pages. The rows come before Drill's verdict on the query: a failure may
// follow rows already handed over.
type RowReader interface {
	QueryEach(ctx context.Context, sql string, each func(Row) error) error
}

// Prober is a Drill that can tell cheaply, without running a query,
// whether it answers. While the last sync could not reach Drill the running
// schedule probes it (every MinBackoff doubling to Options.MaxProbe, with
// jitter), and syncs soon after it answers again instead of waiting out the
// retry backoff (up to MaxBackoff).
type Prober interface {
	Probe(ctx context.Context) error
}

// Events receives the agent's events for the UI. Names are namespaced:
// "sync:status", "sync:progress", "sync:applied", "sync:conflict".
// Emit must not block for long.
type Events interface {
	Emit(name string, payload any)
}

// The event names the agent emits.
const (
	EventStatus   = "sync:status"
	EventProgress = "sync:progress"
	EventApplied  = "sync:applied"
	EventConflict = "sync:conflict"
)

type discardEvents struct{}

func (discardEvents) Emit(string, any) {}
