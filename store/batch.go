package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	bolt "go.etcd.io/bbolt"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// PlanBatch fixes a push batch before its first write attempt: its name and
// the journal entries it holds, in state BatchPlanned. Every entry must be in
// the journal, belong to plan.Collection and not be in another batch
// (ErrBatchClaimed). Planning the same name with the same entries again
// returns the stored manifest (so a retry after a crash is harmless); the
// same name with other entries fails with ErrBatchExists.
func (s *Store) PlanBatch(ctx context.Context, plan BatchPlan) (Batch, error) {
	if len(plan.Seqs) == 0 {
		return Batch{}, fmt.Errorf("store: plan batch: no journal entries given")
	}
	if err := validID("collection", plan.Collection); err != nil {
		return Batch{}, fmt.Errorf("store: plan batch: %w", err)
	}
	if plan.Name != "" {
		if err := validID("batch name", plan.Name); err != nil {
			return Batch{}, fmt.Errorf("store: plan batch: %w", err)
		}
	}
	seqs := slices.Clone(plan.Seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	var out Batch
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = s.planBatch(tx, plan, seqs)
		return err
	})
	if err != nil {
		return Batch{}, fmt.Errorf("store: plan batch %s: %w", plan.Name, err)
	}
	return out, nil
}

// planBatch is PlanBatch's transaction; seqs are plan's, sorted and without
// repeats.
func (s *Store) planBatch(tx *bolt.Tx, plan BatchPlan, seqs []uint64) (Batch, error) {
	bb := bucket(tx, bBatches)
	if plan.Name != "" {
		var prev Batch
		found, err := getJSON(bb, []byte(plan.Name), &prev)
		if err != nil {
			return Batch{}, err
		}
		if found {
			if prev.Collection == plan.Collection && slices.Equal(prev.Seqs, seqs) {
				return prev, nil
			}
			return Batch{}, fmt.Errorf("%w: %s holds other entries", ErrBatchExists, plan.Name)
		}
	}
	meta := bucket(tx, bMeta)
	bseq := btou(meta.Get([]byte(keyBatchSeq))) + 1
	name := plan.Name
	if name == "" {
		var err error
		if name, err = s.newBatchName(bb, plan.ServerMS, bseq); err != nil {
			return Batch{}, err
		}
	}
	now := s.nowMS()
	b := Batch{
		Name: name, Seq: bseq, Collection: plan.Collection, Seqs: seqs,
		FirstSeq: seqs[0], LastSeq: seqs[len(seqs)-1], State: BatchPlanned,
		CreatedAt: now, UpdatedAt: now,
	}
	var err error
	if b.ChangeIDs, err = claimEntries(tx, plan.Collection, name, seqs); err != nil {
		return Batch{}, err
	}
	if err := meta.Put([]byte(keyBatchSeq), utob(bseq)); err != nil {
		return Batch{}, err
	}
	return b, putJSON(bb, []byte(name), b)
}

// newBatchName names the bseq-th batch when the plan gives no name, from
// serverMS (or this device's clock when 0) and the device id.
func (s *Store) newBatchName(bb *bolt.Bucket, serverMS int64, bseq uint64) (string, error) {
	ms := serverMS
	if ms == 0 {
		ms = s.nowMS()
	}
	name := fmt.Sprintf("%d_%s_%d", ms, s.device, bseq)
	if bb.Get([]byte(name)) != nil {
		return "", fmt.Errorf("%w: %s", ErrBatchExists, name)
	}
	return name, nil
}

// claimEntries puts the journal entries seqs into batch name and returns
// their change ids. Each must exist, belong to collection and be in no
// batch yet.
func claimEntries(tx *bolt.Tx, collection, name string, seqs []uint64) ([]string, error) {
	jb := bucket(tx, bJournal)
	var ids []string
	for _, seq := range seqs {
		var ref changeRef
		found, err := getJSON(jb, utob(seq), &ref)
		if err != nil {
			return nil, err
		}
		switch {
		case !found:
			return nil, fmt.Errorf("%w: journal entry %d does not exist", ErrNotFound, seq)
		case ref.Collection != collection:
			return nil, fmt.Errorf("journal entry %d belongs to collection %s, not %s", seq, ref.Collection, collection)
		case ref.Batch != "":
			return nil, fmt.Errorf("%w: journal entry %d is in batch %s", ErrBatchClaimed, seq, ref.Batch)
		}
		ref.Batch = name
		if err := putJSON(jb, utob(seq), ref); err != nil {
			return nil, err
		}
		ids = append(ids, ref.ChangeID)
	}
	return ids, nil
}

// RenameBatch gives a push batch that is not verified a new name, in one
// transaction: its manifest moves from oldName to newName (its sequence,
// collection, journal entries and change ids kept; state BatchPlanned and
// no attempts, since nothing was tried under the new name; LastError kept
// for people) and each of its journal entries points to the new name. The
// push renames a batch whose name has grown too old to write, after it has
// settled the old name in Drill; a crash leaves either name, never both,
// and the push settles whichever it finds.
//
// pushed names change ids of the batch that are in Drill already (folded
// by compaction from a partial write under the old name): their entries
// stay in the batch under oldName, which is marked BatchVerified with
// them alone (the push cursor moves over them), and only the others move
// to newName. At least one change must move. Renaming to a name that is
// taken fails with ErrBatchExists, a verified batch with ErrBatchVerified,
// an unknown one with ErrNotFound.
func (s *Store) RenameBatch(ctx context.Context, oldName, newName string, pushed []string) (Batch, error) {
	if err := validID("batch name", newName); err != nil {
		return Batch{}, fmt.Errorf("store: rename batch %s: %w", oldName, err)
	}
	if newName == oldName {
		return Batch{}, fmt.Errorf("store: rename batch %s: the new name is the old one", oldName)
	}
	var out Batch
	err := s.update(ctx, func(tx *bolt.Tx) error {
		bb := bucket(tx, bBatches)
		var b Batch
		found, err := getJSON(bb, []byte(oldName), &b)
		switch {
		case err != nil:
			return err
		case !found:
			return ErrNotFound
		case b.State == BatchVerified:
			return ErrBatchVerified
		case bb.Get([]byte(newName)) != nil:
			return fmt.Errorf("%w: %s", ErrBatchExists, newName)
		}
		kept, moved, err := splitBatch(b, pushed)
		if err != nil {
			return err
		}
		if err := moveEntries(tx, b.Collection, oldName, newName, moved.Seqs); err != nil {
			return err
		}
		now := s.nowMS()
		moved.Name, moved.State, moved.Attempts, moved.UpdatedAt = newName, BatchPlanned, 0, now
		if err := putJSON(bb, []byte(newName), moved); err != nil {
			return err
		}
		out = moved
		if len(kept.Seqs) == 0 {
			return bb.Delete([]byte(oldName))
		}
		kept.State, kept.UpdatedAt = BatchVerified, now
		if err := putJSON(bb, []byte(oldName), kept); err != nil {
			return err
		}
		return advanceCursor(tx)
	})
	if err != nil {
		return Batch{}, fmt.Errorf("store: rename batch %s to %s: %w", oldName, newName, err)
	}
	return out, nil
}

// splitBatch splits b's entries into those whose change id is in pushed
// (kept) and the others (moved), each a copy of b's manifest. Every pushed
// id must be b's, and at least one entry must move.
func splitBatch(b Batch, pushed []string) (kept, moved Batch, err error) {
	if len(b.ChangeIDs) != len(b.Seqs) {
		return Batch{}, Batch{}, fmt.Errorf("batch %s lists %d change ids for %d entries", b.Name, len(b.ChangeIDs), len(b.Seqs))
	}
	in := make(map[string]bool, len(pushed))
	for _, id := range pushed {
		if !slices.Contains(b.ChangeIDs, id) {
			return Batch{}, Batch{}, fmt.Errorf("change %s is not in batch %s", id, b.Name)
		}
		in[id] = true
	}
	kept, moved = b, b
	kept.Seqs, kept.ChangeIDs, moved.Seqs, moved.ChangeIDs = nil, nil, nil, nil
	for i, seq := range b.Seqs {
		part := &moved
		if in[b.ChangeIDs[i]] {
			part = &kept
		}
		part.Seqs = append(part.Seqs, seq)
		part.ChangeIDs = append(part.ChangeIDs, b.ChangeIDs[i])
	}
	if len(moved.Seqs) == 0 {
		return Batch{}, Batch{}, fmt.Errorf("every change of batch %s is pushed: nothing to rename (mark it verified)", b.Name)
	}
	for _, part := range []*Batch{&kept, &moved} {
		if len(part.Seqs) > 0 {
			part.FirstSeq, part.LastSeq = part.Seqs[0], part.Seqs[len(part.Seqs)-1]
		}
	}
	return kept, moved, nil
}

// moveEntries points the journal entries seqs of batch from to batch to.
// Each must exist and be in batch from.
func moveEntries(tx *bolt.Tx, collection, from, to string, seqs []uint64) error {
	jb := bucket(tx, bJournal)
	for _, seq := range seqs {
		var ref changeRef
		found, err := getJSON(jb, utob(seq), &ref)
		switch {
		case err != nil:
			return err
		case !found:
			return fmt.Errorf("%w: journal entry %d of batch %s does not exist", ErrNotFound, seq, from)
		case ref.Batch != from || ref.Collection != collection:
			return fmt.Errorf("journal entry %d is in batch %q of %s, not in %s", seq, ref.Batch, ref.Collection, from)
		}
		ref.Batch = to
		if err := putJSON(jb, utob(seq), ref); err != nil {
			return err
		}
	}
	return nil
}

// MarkBatch records a push batch's progress. A non-nil attemptErr records a
// failed attempt (Attempts and LastError). Marking a batch BatchVerified
// also moves the push cursor over every journal entry that now lies in
// verified batches, in the same transaction. A verified batch cannot go
// back (ErrBatchVerified); marking it verified again is a no-op.
func (s *Store) MarkBatch(ctx context.Context, name string, state BatchState, attemptErr error) (Batch, error) {
	switch state {
	case BatchPlanned, BatchWritten, BatchVerified:
	default:
		return Batch{}, fmt.Errorf("store: mark batch %s: unknown state %q", name, state)
	}
	var out Batch
	err := s.update(ctx, func(tx *bolt.Tx) error {
		bb := bucket(tx, bBatches)
		var b Batch
		found, err := getJSON(bb, []byte(name), &b)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if b.State == BatchVerified {
			if state == BatchVerified {
				out = b
				return nil
			}
			return ErrBatchVerified
		}
		b.State, b.UpdatedAt = state, s.nowMS()
		if attemptErr != nil {
			b.Attempts++
			b.LastError = attemptErr.Error()
		}
		if err := putJSON(bb, []byte(name), b); err != nil {
			return err
		}
		out = b
		if state == BatchVerified {
			return advanceCursor(tx)
		}
		return nil
	})
	if err != nil {
		return Batch{}, fmt.Errorf("store: mark batch %s %s: %w", name, state, err)
	}
	return out, nil
}

// advanceCursor moves the push cursor over the journal entries that follow
// it and lie in verified batches.
func advanceCursor(tx *bolt.Tx) error {
	meta := bucket(tx, bMeta)
	cur := btou(meta.Get([]byte(keyPushCursor)))
	bb := bucket(tx, bBatches)
	verified := map[string]bool{}
	next := cur
	c := bucket(tx, bJournal).Cursor()
	for k, v := c.Seek(utob(cur + 1)); k != nil; k, v = c.Next() {
		var ref changeRef
		if err := jsonUnmarshal(v, &ref); err != nil || ref.Batch == "" {
			break // not pushed yet, or damaged: the cursor stops before it
		}
		ok, seen := verified[ref.Batch]
		if !seen {
			var b Batch
			if _, err := getJSON(bb, []byte(ref.Batch), &b); err != nil {
				return err
			}
			ok = b.State == BatchVerified
			verified[ref.Batch] = ok
		}
		if !ok {
			break
		}
		next = btou(k)
	}
	if next == cur {
		return nil
	}
	return meta.Put([]byte(keyPushCursor), utob(next))
}

// Batch returns a push batch manifest by name, or an error wrapping
// ErrNotFound.
func (s *Store) Batch(ctx context.Context, name string) (Batch, error) {
	var b Batch
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bBatches), []byte(name), &b)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Batch{}, fmt.Errorf("store: batch %s: %w", name, err)
	}
	return b, nil
}

// OpenBatches returns the batches not yet verified, oldest first: the ones a
// push must finish (verify, or rewrite) before planning new ones.
func (s *Store) OpenBatches(ctx context.Context) ([]Batch, error) {
	var out []Batch
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return bucket(tx, bBatches).ForEach(func(k, v []byte) error {
			var b Batch
			if err := jsonUnmarshal(v, &b); err != nil {
				return fmt.Errorf("batch %s: %w", k, err)
			}
			if b.State != BatchVerified {
				out = append(out, b)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: open batches: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// MarkSeen records that a pulled batch of a collection has been applied (or
// quarantined), so later pulls skip it, and ends its retries.
func (s *Store) MarkSeen(ctx context.Context, collection, batch string, changes int) error {
	if err := validID("collection", collection); err != nil {
		return fmt.Errorf("store: mark seen: %w", err)
	}
	if err := validID("batch name", batch); err != nil {
		return fmt.Errorf("store: mark seen: %w", err)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		sb, err := sub(tx, bSeen, collection)
		if err != nil {
			return err
		}
		if err := putJSON(sb, []byte(batch), SeenBatch{Collection: collection, Name: batch, Changes: changes, SeenAt: s.nowMS()}); err != nil {
			return err
		}
		rb := bucket(tx, bPullRetry).Bucket([]byte(collection))
		if rb == nil || rb.Get([]byte(batch)) == nil {
			return nil
		}
		if err := rb.Delete([]byte(batch)); err != nil {
			return err
		}
		// Read at last (its device rewrote it): it is no longer quarantined.
		return unquarantineBatch(tx, collection, batch)
	})
	if err != nil {
		return fmt.Errorf("store: mark seen %s/%s: %w", collection, batch, err)
	}
	return nil
}

// PruneSeen forgets the seen batches of a collection whose names sort in
// [fromName, beforeName) and that were marked seen before seenBeforeMS
// (epoch ms, this computer's clock), so the seen list stays bounded by
// what the pull still lists (batch names start with their time,
// zero-padded, so name order is time order; a caller with names of
// another form gives their range). It returns how many it forgot.
func (s *Store) PruneSeen(ctx context.Context, collection, fromName, beforeName string, seenBeforeMS int64) (int, error) {
	if err := validID("collection", collection); err != nil {
		return 0, fmt.Errorf("store: prune seen: %w", err)
	}
	// Found in a read transaction first: a pull prunes at every sync,
	// and mostly finds nothing, which then costs no commit (two fsyncs).
	find := func(tx *bolt.Tx) [][]byte {
		sb := bucket(tx, bSeen).Bucket([]byte(collection))
		if sb == nil {
			return nil
		}
		var old [][]byte
		c := sb.Cursor()
		for k, v := c.Seek([]byte(fromName)); k != nil && string(k) < beforeName; k, v = c.Next() {
			var b SeenBatch
			if err := jsonUnmarshal(v, &b); err == nil && b.SeenAt >= seenBeforeMS {
				continue
			}
			old = append(old, append([]byte(nil), k...))
		}
		return old
	}
	var old [][]byte
	err := s.view(ctx, func(tx *bolt.Tx) error {
		old = find(tx)
		return nil
	})
	if err == nil && len(old) > 0 {
		err = s.update(ctx, func(tx *bolt.Tx) error {
			old = find(tx) // again: marked seen meanwhile is kept
			sb := bucket(tx, bSeen).Bucket([]byte(collection))
			for _, k := range old {
				if err := sb.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return 0, fmt.Errorf("store: prune seen %s: %w", collection, err)
	}
	return len(old), nil
}

// Seen reports whether a pulled batch of a collection was applied.
func (s *Store) Seen(ctx context.Context, collection, batch string) (bool, error) {
	var seen bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		sb, _ := sub(tx, bSeen, collection)
		seen = sb != nil && sb.Get([]byte(batch)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: seen %s/%s: %w", collection, batch, err)
	}
	return seen, nil
}

// SeenBatches lists the seen batches of a collection in name order after
// the given name (limit <= 0 means 100).
func (s *Store) SeenBatches(ctx context.Context, collection, after string, limit int) ([]SeenBatch, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	var out []SeenBatch
	err := s.view(ctx, func(tx *bolt.Tx) error {
		sb, _ := sub(tx, bSeen, collection)
		if sb == nil {
			return nil
		}
		c := sb.Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var b SeenBatch
			if err := jsonUnmarshal(v, &b); err != nil {
				return fmt.Errorf("seen %s: %w", k, err)
			}
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: seen batches of %s: %w", collection, err)
	}
	return out, nil
}

// PullWatermark returns the pull watermark of a collection (epoch ms up to
// which the agent has listed and pulled its batches; 0 before the first
// pull).
func (s *Store) PullWatermark(ctx context.Context, collection string) (int64, error) {
	var ms int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ms = int64(btou(bucket(tx, bMeta).Get([]byte(keyWatermark + collection))))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: pull watermark of %s: %w", collection, err)
	}
	return ms, nil
}

// SetPullWatermark stores the pull watermark of a collection. It never moves
// backwards: a smaller value is ignored.
func (s *Store) SetPullWatermark(ctx context.Context, collection string, ms int64) error {
	if err := validID("collection", collection); err != nil {
		return fmt.Errorf("store: set pull watermark: %w", err)
	}
	if ms < 0 {
		return fmt.Errorf("store: set pull watermark of %s: negative time %d", collection, ms)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		meta := bucket(tx, bMeta)
		key := []byte(keyWatermark + collection)
		if int64(btou(meta.Get(key))) >= ms {
			return nil
		}
		return meta.Put(key, utob(uint64(ms)))
	})
	if err != nil {
		return fmt.Errorf("store: set pull watermark of %s: %w", collection, err)
	}
	return nil
}

// SyncRecord is the outcome of the last syncs, kept so that a new process
// (or `fieldsync status`) can tell it: when the last one succeeded, why the
// last one failed, and how many failed in a row.
type SyncRecord struct {
	LastSuccess int64  `json:"last_success,omitempty"` // epoch ms
	LastAttempt int64  `json:"last_attempt,omitempty"` // epoch ms
	State       string `json:"state,omitempty"`        // the agent's state after it
	LastError   string `json:"last_error,omitempty"`   // words for people; "" after a success
	Cause       string `json:"cause,omitempty"`        // the underlying error text
	Failures    int    `json:"failures,omitempty"`     // consecutive failed syncs
	// Unpushable counts local changes the last sync could not write (a
	// damaged journal entry, a value Drill cannot hold); UnpushableReason
	// says why for the first.
	Unpushable       int    `json:"unpushable,omitempty"`
	UnpushableReason string `json:"unpushable_reason,omitempty"`
}

// SaveSyncRecord keeps the outcome of the last sync.
func (s *Store) SaveSyncRecord(ctx context.Context, r SyncRecord) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return putJSON(bucket(tx, bMeta), []byte(keySyncRecord), r)
	})
	if err != nil {
		return fmt.Errorf("store: save sync record: %w", err)
	}
	return nil
}

// SyncRecord returns the outcome of the last sync; the zero SyncRecord when
// none was kept.
func (s *Store) SyncRecord(ctx context.Context) (SyncRecord, error) {
	var r SyncRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		_, err := getJSON(bucket(tx, bMeta), []byte(keySyncRecord), &r)
		return err
	})
	if err != nil {
		return SyncRecord{}, fmt.Errorf("store: sync record: %w", err)
	}
	return r, nil
}
