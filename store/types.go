package store

import (
	"encoding/json"
	"errors"
)

// More sentinel errors callers branch on.
var (
	// ErrVersionTaken rejects a change whose version is already used by a
	// different change of the same record.
	ErrVersionTaken = errors.New("version already used by another change")
	// ErrStaleResolution rejects a resolution whose parents do not cover
	// every current leaf of the record (someone changed it meanwhile).
	ErrStaleResolution = errors.New("resolution does not cover every leaf of the record")
	// ErrBatchExists is returned by PlanBatch when the name is taken by a
	// different plan.
	ErrBatchExists = errors.New("batch name already used")
	// ErrBatchClaimed is returned by PlanBatch when a journal entry already
	// belongs to another batch.
	ErrBatchClaimed = errors.New("journal entry already in another batch")
	// ErrBatchVerified is returned by MarkBatch when a verified batch would
	// move back to an earlier state.
	ErrBatchVerified = errors.New("batch already verified")
	// ErrCursor rejects a push-cursor move backwards or past the journal,
	// and a truncation past the push cursor.
	ErrCursor = errors.New("bad journal position")
	// ErrMirrorTruncated is returned by MirrorSince when entries after the
	// caller's position were already removed by TruncateMirror: the caller
	// must rebuild from Records instead of catching up.
	ErrMirrorTruncated = errors.New("mirror index truncated past this position")
	// ErrTooLarge is returned by Append, AppendChecked and ApplyRemote,
	// before anything is written, when one call carries more than
	// MaxAppendBytes of documents.
	ErrTooLarge = errors.New("too much data in one call")
)

// Outcome is what Append or ApplyRemote did with one change.
type Outcome string

// The outcomes of one change.
const (
	Accepted  Outcome = "accepted"  // stored now
	Duplicate Outcome = "duplicate" // stored before (same change_id); nothing changed
	Rejected  Outcome = "rejected"  // not stored; see Err
)

// ChangeResult is the outcome for one change of an Append or ApplyRemote
// call, in the order the changes were given.
type ChangeResult struct {
	ChangeID string  `json:"change_id"`
	Outcome  Outcome `json:"outcome"`
	// Seq is the journal position of a local change (0 for remote ones).
	Seq uint64 `json:"seq,omitempty"`
	// MSeq is the mirror sequence at which the change was applied.
	MSeq uint64 `json:"mseq,omitempty"`
	// Conflicted reports that the record has more than one leaf after the
	// change was applied.
	Conflicted bool `json:"conflicted,omitempty"`
	// Err is why a change was rejected (wraps ErrInvalidChange,
	// ErrVersionTaken or ErrStaleResolution, or is the error of
	// AppendChecked's check); Reason is its text.
	Err    error  `json:"-"`
	Reason string `json:"reason,omitempty"`
}

// AppendResult reports every change of one Append or ApplyRemote call.
type AppendResult struct {
	Results    []ChangeResult `json:"results"`
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Rejected   int            `json:"rejected"`
}

// add appends one change's result and counts its outcome.
func (r *AppendResult) add(c ChangeResult) {
	switch c.Outcome {
	case Accepted:
		r.Accepted++
	case Duplicate:
		r.Duplicates++
	case Rejected:
		r.Rejected++
	}
	r.Results = append(r.Results, c)
}

// Acked returns the change ids that are durably stored (accepted now or
// before), which the caller may forget.
func (r AppendResult) Acked() []string {
	ids := make([]string, 0, len(r.Results))
	for _, c := range r.Results {
		if c.Outcome != Rejected {
			ids = append(ids, c.ChangeID)
		}
	}
	return ids
}

// JournalEntry is one local change waiting in the push journal.
type JournalEntry struct {
	Seq    uint64 `json:"seq"`
	Change Change `json:"change"`
	// Batch is the push batch the entry was planned into, or "".
	Batch string `json:"batch,omitempty"`
	// Damage says why the entry could not be read back (a damaged store);
	// Change then holds only what could be read, and the entry cannot be
	// pushed. Pending lists such entries so that the others go on.
	Damage string `json:"damage,omitempty"`
}

// Record is the mirrored current state of one record: the winning leaf of
// its version graph (highest version) and every leaf.
type Record struct {
	Collection string          `json:"collection"`
	ID         string          `json:"record_id"`
	Doc        json.RawMessage `json:"doc,omitempty"` // winner's doc; nil when deleted
	Version    string          `json:"version"`       // winner's version
	ChangeID   string          `json:"change_id"`     // winner's change
	Deleted    bool            `json:"deleted"`
	Device     string          `json:"device"`
	Author     string          `json:"author,omitempty"`
	EditedAt   int64           `json:"edited_at"`
	// Leaves are the versions of every leaf, ascending; more than one means
	// the record is in conflict.
	Leaves []string `json:"leaves"`
	// MSeq is the mirror sequence of the last change applied to the record.
	MSeq uint64 `json:"mseq"`
	// LastSeq is the journal position of the last local change (0 if none).
	LastSeq uint64 `json:"last_seq,omitempty"`
	// Pending reports that a local change of the record is not pushed yet.
	Pending bool `json:"pending"`
}

// Conflicted reports whether the record has more than one leaf.
func (r Record) Conflicted() bool { return len(r.Leaves) > 1 }

// Page selects a slice of an ordered listing.
type Page struct {
	After          string // start after this key ("" = from the start)
	Limit          int    // at most this many (<= 0 means 100)
	IncludeDeleted bool   // also list deleted records
}

// RecordPage is one page of Records; Next is the After of the next page,
// "" at the end.
type RecordPage struct {
	Records []Record `json:"records"`
	Next    string   `json:"next,omitempty"`
}

// Origin tells where a mirrored change came from.
type Origin string

// The origins of a mirrored change.
const (
	Local  Origin = "local"
	Remote Origin = "remote"
)

// MirrorEntry is one applied change in mirror-sequence order, for a UI that
// catches up with what happened while it was closed.
type MirrorEntry struct {
	MSeq   uint64 `json:"mseq"`
	Origin Origin `json:"origin"`
	Batch  string `json:"batch,omitempty"` // pulled batch, for remote changes
	Change Change `json:"change"`
	// Winner, Deleted and Conflicted describe the record right after the
	// change: when Winner is not the change's own version, the UI should
	// read the record.
	Winner     string `json:"winner"`
	Deleted    bool   `json:"deleted"`
	Conflicted bool   `json:"conflicted"`
}

// BatchState is the life cycle of a push batch.
type BatchState string

// The states of a push batch.
const (
	BatchPlanned  BatchState = "planned"  // name and rows fixed, nothing written yet (or a retry)
	BatchWritten  BatchState = "written"  // CTAS returned; not yet verified
	BatchVerified BatchState = "verified" // rows checked against the manifest
)

// BatchPlan asks PlanBatch to fix a new push batch.
type BatchPlan struct {
	// Name of the batch; "" means "<ServerMS>_<device>_<batch seq>".
	Name string
	// ServerMS is the server time used in a generated name (0 = store clock).
	ServerMS   int64
	Collection string
	// Seqs are the journal entries of the batch (all of Collection).
	Seqs []uint64
}

// Batch is a push batch manifest, stored before the first write attempt.
type Batch struct {
	Name       string     `json:"name"`
	Seq        uint64     `json:"seq"` // per-device batch sequence
	Collection string     `json:"collection"`
	ChangeIDs  []string   `json:"change_ids"`
	Seqs       []uint64   `json:"seqs"`
	FirstSeq   uint64     `json:"first_seq"`
	LastSeq    uint64     `json:"last_seq"`
	State      BatchState `json:"state"`
	Attempts   int        `json:"attempts"`             // failed attempts so far
	LastError  string     `json:"last_error,omitempty"` // text of the last failure
	CreatedAt  int64      `json:"created_at"`           // epoch ms
	UpdatedAt  int64      `json:"updated_at"`           // epoch ms
}

// SeenBatch records a pulled batch that has been applied.
type SeenBatch struct {
	Collection string `json:"collection"`
	Name       string `json:"name"`
	Changes    int    `json:"changes"`
	SeenAt     int64  `json:"seen_at"` // epoch ms
}

// Conflict is a record with more than one leaf, maintained by the store as
// changes land: created when a second leaf appears, updated when leaves
// change, removed when a resolution leaves one leaf.
type Conflict struct {
	Collection string `json:"collection"`
	RecordID   string `json:"record_id"`
	// Leaves are the changes of every leaf, ascending by version; each
	// carries its device, author and edit time.
	Leaves []Change `json:"leaves"`
	// Ancestor is the newest common ancestor of the leaves, when the store
	// has it.
	Ancestor *Change `json:"ancestor,omitempty"`
	// Missing lists parents of leaves that have not arrived yet. While it is
	// not empty the conflict may be an artefact of arrival order (the
	// missing change may descend from the other leaf), so automatic
	// policies should wait for it.
	Missing []string `json:"missing,omitempty"`
	// Winner is the version shown meanwhile (the highest leaf).
	Winner     string `json:"winner"`
	DetectedAt int64  `json:"detected_at"` // epoch ms
	UpdatedAt  int64  `json:"updated_at"`  // epoch ms
	// Note is free text the agent may attach (e.g. why a policy did not
	// apply); kept while the conflict lasts.
	Note string `json:"note,omitempty"`
}

// AuditEntry is one line of the audit log (who did what, when).
type AuditEntry struct {
	Seq        uint64          `json:"seq"`
	At         int64           `json:"at"` // epoch ms; 0 = now
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Collection string          `json:"collection,omitempty"`
	RecordID   string          `json:"record_id,omitempty"`
	ChangeID   string          `json:"change_id,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`
}

// Stats summarises the store for status displays.
type Stats struct {
	DeviceID   string `json:"device_id"`
	Pending    uint64 `json:"pending"` // journal entries past the push cursor
	Journal    uint64 `json:"journal"` // entries still in the journal
	LastSeq    uint64 `json:"last_seq"`
	PushCursor uint64 `json:"push_cursor"`
	LastMSeq   uint64 `json:"last_mseq"`
	FirstMSeq  uint64 `json:"first_mseq"` // oldest mirror entry kept (0 if none)
	Conflicts  int64  `json:"conflicts"`
	OpenBatch  int    `json:"open_batches"`
	// Quarantined counts pulled rows and batches kept out of the store
	// (see Store.Quarantine); QuarantineDropped counts the oldest ones
	// dropped past MaxQuarantined.
	Quarantined       int    `json:"quarantined"`
	QuarantineDropped uint64 `json:"quarantine_dropped"`
	// PullRetries counts pulled batches waiting to be read again.
	PullRetries int `json:"pull_retries"`
	// Collections maps a collection to its record counts.
	Collections map[string]CollectionStats `json:"collections"`
}

// CollectionStats counts the records of one collection.
type CollectionStats struct {
	Live      int64 `json:"live"`
	Deleted   int64 `json:"deleted"`
	Conflicts int64 `json:"conflicts"`
}
