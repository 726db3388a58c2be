package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Journal is what Capture needs of the local store.
type Journal interface {
	// DeviceID returns this device's id.
	DeviceID() string
	// NextVersion issues a new hybrid-logical-clock version.
	NextVersion(ctx context.Context) (store.Version, error)
	// Record returns a record's mirrored state (store.ErrNotFound if none).
	Record(ctx context.Context, collection, id string) (store.Record, error)
	// AppendChecked journals local changes, idempotently by change id:
	// each gets Change.Validate, then check (nil: none), then the store's
	// other rules; the first it fails is its rejection.
	AppendChecked(ctx context.Context, changes []store.Change, check func(store.Change) error) (store.AppendResult, error)
}

var _ Journal = (*store.Store)(nil)

// Capture turns edits into changes in the local journal. Every edit, whether
// it comes from the window, the browser UI or `fieldsync import`, passes the
// same checks: the collection is declared, the document is valid for it, and
// the change is well formed. Nothing is written unless it is valid, and one
// invalid change never blocks the others of its batch.
type Capture struct {
	Journal Journal
	Schema  *schema.Set
	// Author is recorded on changes that name none.
	Author string
	// Now is the clock of edit times (nil: time.Now).
	Now func() time.Time
	// Refs checks values against reference collections (nil: no check);
	// changes to a reference collection are refused either way.
	Refs RefChecker
}

// NewChangeID returns a globally unique id for a change or a new record:
// 128 bits in 32 hex digits, the first 48 the current Unix time in
// milliseconds and the other 80 random (the layout of frontend/src/lib/ids.ts).
// Ids made later sort after those made before, so the store's indexes by
// change and record id take new ones at their end: with random ids an
// import's batch wrote into a page of every index nearly per change, which
// made accepting it cost 2–2.5x the CPU (docs/BENCHMARKS.md, "Issue 12,
// fifth round").
func NewChangeID() string {
	return changeIDAt(time.Now())
}

// changeIDAt is NewChangeID at time t.
func changeIDAt(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func (c *Capture) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Prepare builds a valid change that puts doc into (or, with a nil doc,
// deletes) a record, edited from the record's current winner, without
// writing it. An empty id creates a new record with a random id.
func (c *Capture) Prepare(ctx context.Context, collection, id string, op store.Op, doc json.RawMessage) (store.Change, error) {
	ch, err := c.build(ctx, collection, id, op, doc)
	if err != nil {
		return store.Change{}, err
	}
	if err := ch.Validate(); err != nil {
		return store.Change{}, fmt.Errorf("capture: %w", err)
	}
	return ch, nil
}

// build is Prepare without Change.Validate, for callers that hand the
// change straight to the store, which validates it.
func (c *Capture) build(ctx context.Context, collection, id string, op store.Op, doc json.RawMessage) (store.Change, error) {
	col, err := c.Schema.Collection(collection)
	if err != nil {
		return store.Change{}, fmt.Errorf("capture: %w", err)
	}
	if id == "" {
		if op == store.OpDelete {
			return store.Change{}, fmt.Errorf("capture: delete needs a record id")
		}
		id = NewChangeID()
	}
	var parents []string
	rec, err := c.Journal.Record(ctx, collection, id)
	switch {
	case err == nil:
		parents = []string{rec.Version}
		if op == store.OpDelete && rec.Deleted && !rec.Conflicted() {
			return store.Change{}, fmt.Errorf("capture: %s %s is already deleted", collection, id)
		}
	case errors.Is(err, store.ErrNotFound):
		if op == store.OpDelete {
			return store.Change{}, fmt.Errorf("capture: %s %s: %w", collection, id, store.ErrNotFound)
		}
	default:
		return store.Change{}, fmt.Errorf("capture: %w", err)
	}
	if op == store.OpPut {
		if err := col.Validate(doc); err != nil {
			return store.Change{}, fmt.Errorf("capture: %w", err)
		}
	} else {
		doc = nil
	}
	if err := c.checkRefs(ctx, col, op, doc); err != nil {
		return store.Change{}, fmt.Errorf("capture: %w", err)
	}
	v, err := c.Journal.NextVersion(ctx)
	if err != nil {
		return store.Change{}, fmt.Errorf("capture: %w", err)
	}
	ch := store.Change{
		ChangeID:   NewChangeID(),
		Collection: collection,
		RecordID:   id,
		Op:         op,
		Doc:        doc,
		Version:    v.String(),
		Parents:    parents,
		Device:     c.Journal.DeviceID(),
		Author:     c.Author,
		EditedAt:   c.now().UnixMilli(),
	}
	return ch, nil
}

// Put writes doc as the new content of a record and returns the change.
func (c *Capture) Put(ctx context.Context, collection, id string, doc json.RawMessage) (store.Change, error) {
	return c.write(ctx, collection, id, store.OpPut, doc)
}

// Delete deletes a record and returns the change.
func (c *Capture) Delete(ctx context.Context, collection, id string) (store.Change, error) {
	return c.write(ctx, collection, id, store.OpDelete, nil)
}

func (c *Capture) write(ctx context.Context, collection, id string, op store.Op, doc json.RawMessage) (store.Change, error) {
	ch, err := c.build(ctx, collection, id, op, doc)
	if err != nil {
		return store.Change{}, err
	}
	res, err := c.Journal.AppendChecked(ctx, []store.Change{ch}, nil)
	if err != nil {
		return store.Change{}, fmt.Errorf("capture: %w", err)
	}
	if r := res.Results[0]; r.Outcome == store.Rejected {
		return store.Change{}, fmt.Errorf("capture: %w", r.Err)
	}
	return ch, nil
}

// Accept journals changes made elsewhere on this device (the UI's outbox).
// Each is checked against its collection's declaration; the valid ones are
// appended in one transaction and the invalid ones are reported as rejected
// with the reason, in the order given. Accept is idempotent by change id, so
// a batch sent again after a crash is acknowledged, not duplicated.
func (c *Capture) Accept(ctx context.Context, changes []store.Change) (store.AppendResult, error) {
	withAuthor := make([]store.Change, len(changes))
	for i, ch := range changes {
		if ch.Author == "" {
			ch.Author = c.Author
		}
		withAuthor[i] = ch
	}
	res, err := c.Journal.AppendChecked(ctx, withAuthor, func(ch store.Change) error { return c.check(ctx, ch) })
	if err != nil {
		return store.AppendResult{}, fmt.Errorf("capture: %w", err)
	}
	return res, nil
}

// check applies the declaration's rules to one change from the UI that
// passed Change.Validate (AppendChecked runs it first).
func (c *Capture) check(ctx context.Context, ch store.Change) error {
	col, err := c.Schema.Collection(ch.Collection)
	if err != nil {
		return fmt.Errorf("%w %q: %v", store.ErrInvalidChange, ch.ChangeID, err)
	}
	if ch.Device != c.Journal.DeviceID() {
		return fmt.Errorf("%w %q: made by device %q, but this is device %q", store.ErrInvalidChange, ch.ChangeID, ch.Device, c.Journal.DeviceID())
	}
	if ch.Op == store.OpPut {
		if err := col.Validate(ch.Doc); err != nil {
			return fmt.Errorf("%w %q: %v", store.ErrInvalidChange, ch.ChangeID, err)
		}
	}
	if err := c.checkRefs(ctx, col, ch.Op, ch.Doc); err != nil {
		return fmt.Errorf("%w %q: %v", store.ErrInvalidChange, ch.ChangeID, err)
	}
	return nil
}
