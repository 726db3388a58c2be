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
	// Append journals local changes, idempotently by change id.
	Append(ctx context.Context, changes []store.Change) (store.AppendResult, error)
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
}

// NewChangeID returns a random globally unique change id (128 bits, hex).
func NewChangeID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
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
	if err := ch.Validate(); err != nil {
		return store.Change{}, fmt.Errorf("capture: %w", err)
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
	ch, err := c.Prepare(ctx, collection, id, op, doc)
	if err != nil {
		return store.Change{}, err
	}
	res, err := c.Journal.Append(ctx, []store.Change{ch})
	if err != nil {
		return store.Change{}, fmt.Errorf("capture: %w", err)
	}
	if r := res.Results[0]; r.Outcome == store.Rejected {
		return store.Change{}, fmt.Errorf("capture: %s", r.Reason)
	}
	return ch, nil
}

// Accept journals changes made elsewhere on this device (the UI's outbox).
// Each is checked against its collection's declaration; the valid ones are
// appended in one transaction and the invalid ones are reported as rejected
// with the reason, in the order given. Accept is idempotent by change id, so
// a batch sent again after a crash is acknowledged, not duplicated.
func (c *Capture) Accept(ctx context.Context, changes []store.Change) (store.AppendResult, error) {
	results := make([]store.ChangeResult, len(changes))
	valid := make([]store.Change, 0, len(changes))
	index := make([]int, 0, len(changes))
	for i, ch := range changes {
		if ch.Author == "" {
			ch.Author = c.Author
		}
		if err := c.check(ch); err != nil {
			results[i] = store.ChangeResult{ChangeID: ch.ChangeID, Outcome: store.Rejected, Err: err, Reason: err.Error()}
			continue
		}
		valid = append(valid, ch)
		index = append(index, i)
	}
	var out store.AppendResult
	if len(valid) > 0 {
		res, err := c.Journal.Append(ctx, valid)
		if err != nil {
			return store.AppendResult{}, fmt.Errorf("capture: %w", err)
		}
		for j, r := range res.Results {
			results[index[j]] = r
		}
	}
	out.Results = results
	for _, r := range results {
		switch r.Outcome {
		case store.Accepted:
			out.Accepted++
		case store.Duplicate:
			out.Duplicates++
		case store.Rejected:
			out.Rejected++
		}
	}
	return out, nil
}

// check applies the declaration's rules to one change from the UI.
func (c *Capture) check(ch store.Change) error {
	if err := ch.Validate(); err != nil {
		return err
	}
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
	return nil
}
