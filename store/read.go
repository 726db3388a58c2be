package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// defaultLimit is the page size used when a caller passes a limit <= 0.
const defaultLimit = 100

// view runs fn in a read transaction after checking ctx. A panic or fault
// inside it (a damaged page) becomes a *DamagedError.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.release()
	return guard(s.path, func() error { return s.db.View(fn) })
}

// update runs fn in a write transaction after checking ctx. A panic or
// fault inside it (a damaged page) becomes a *DamagedError and nothing of
// the transaction is written.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.release()
	return guard(s.path, func() error { return s.db.Update(fn) })
}

// loadChange reads the change a reference points at.
func loadChange(tx *bolt.Tx, ref changeRef) (Change, error) {
	vb, _ := sub(tx, bVersions, ref.Collection)
	var n versionNode
	if _, err := getNode(vb, versionKey(ref.RecordID, ref.Version), &n); err != nil {
		return Change{}, err
	}
	if n.Change == nil {
		return Change{}, fmt.Errorf("change %s/%s@%s missing from the version graph", ref.Collection, ref.RecordID, ref.Version)
	}
	return *n.Change, nil
}

// readJournal decodes the journal entry seq with value v. An entry that
// cannot be read back is returned with Damage set, so that one damaged
// entry never holds back the others.
func readJournal(tx *bolt.Tx, seq uint64, v []byte) JournalEntry {
	var ref changeRef
	if err := jsonUnmarshal(v, &ref); err != nil {
		return JournalEntry{Seq: seq, Damage: fmt.Sprintf("journal entry %d is damaged: %v", seq, err)}
	}
	ch, err := guardedLoad(tx, ref)
	if err != nil {
		return JournalEntry{Seq: seq, Batch: ref.Batch, Damage: fmt.Sprintf("journal entry %d (change %s) is damaged: %v", seq, ref.ChangeID, err),
			Change: Change{ChangeID: ref.ChangeID, Collection: ref.Collection, RecordID: ref.RecordID, Version: ref.Version}}
	}
	return JournalEntry{Seq: seq, Change: ch, Batch: ref.Batch}
}

// guardedLoad is loadChange with a panic or fault while reading the node
// (a damaged page) turned into an error.
func guardedLoad(tx *bolt.Tx, ref changeRef) (Change, error) {
	var ch Change
	err := guard(tx.DB().Path(), func() error {
		var err error
		ch, err = loadChange(tx, ref)
		return err
	})
	return ch, err
}

// Pending returns up to limit journal entries with seq > afterSeq, in seq
// order (limit <= 0 means 100). Pass PushCursor's value to get what still
// needs pushing. An entry that cannot be read back (a damaged store) is
// listed with Damage set instead of failing the call.
func (s *Store) Pending(ctx context.Context, afterSeq uint64, limit int) ([]JournalEntry, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	if afterSeq == math.MaxUint64 {
		return nil, nil // nothing can follow
	}
	var out []JournalEntry
	next := afterSeq + 1
	for len(out) < limit {
		var last uint64
		done := false
		err := s.view(ctx, func(tx *bolt.Tx) error {
			jb := bucket(tx, bJournal)
			last = jb.Sequence()
			c := jb.Cursor()
			k, v := c.Seek(utob(next))
			for ; k != nil && len(out) < limit; k, v = c.Next() {
				out = append(out, readJournal(tx, btou(k), v))
				next = btou(k) + 1
			}
			done = true
			return nil
		})
		if done {
			return out, nil
		}
		if !errors.Is(err, ErrDamaged) || next > last || next == 0 {
			return nil, fmt.Errorf("store: pending after %d: %w", afterSeq, err)
		}
		// A page of the journal cannot be read: entries are numbered
		// without gaps, so the next one is told as damaged and the scan
		// goes on after it.
		out = append(out, JournalEntry{Seq: next, Damage: fmt.Sprintf("journal entry %d cannot be read: %v", next, err)})
		next++
	}
	return out, nil
}

// PushCursor returns the journal seq up to which every entry is pushed and
// verified.
func (s *Store) PushCursor(ctx context.Context) (uint64, error) {
	var cur uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		cur = btou(bucket(tx, bMeta).Get([]byte(keyPushCursor)))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: push cursor: %w", err)
	}
	return cur, nil
}

// SetPushCursor moves the push cursor forward to seq. Moving it backwards or
// past the last journal entry fails with ErrCursor. MarkBatch moves it by
// itself when batches are verified; this is for callers that track pushes
// without batch manifests.
func (s *Store) SetPushCursor(ctx context.Context, seq uint64) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		meta := bucket(tx, bMeta)
		cur := btou(meta.Get([]byte(keyPushCursor)))
		last := bucket(tx, bJournal).Sequence()
		switch {
		case seq < cur:
			return fmt.Errorf("%w: cursor is at %d, cannot move back to %d", ErrCursor, cur, seq)
		case seq > last:
			return fmt.Errorf("%w: journal ends at %d, cannot move the cursor to %d", ErrCursor, last, seq)
		}
		return meta.Put([]byte(keyPushCursor), utob(seq))
	})
	if err != nil {
		return fmt.Errorf("store: set push cursor: %w", err)
	}
	return nil
}

// Truncate removes pushed journal entries with seq <= uptoSeq, and the
// manifests of verified batches that lie entirely at or below it. uptoSeq
// must not pass the push cursor (ErrCursor). The change-id index is kept,
// so a change re-sent after truncation is still recognised as a duplicate.
// It returns how many entries were removed.
func (s *Store) Truncate(ctx context.Context, uptoSeq uint64) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		cur := btou(bucket(tx, bMeta).Get([]byte(keyPushCursor)))
		if uptoSeq > cur {
			return fmt.Errorf("%w: cannot truncate to %d past the push cursor %d", ErrCursor, uptoSeq, cur)
		}
		c := bucket(tx, bJournal).Cursor()
		for k, _ := c.First(); k != nil && btou(k) <= uptoSeq; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		bb := bucket(tx, bBatches)
		var drop [][]byte
		err := bb.ForEach(func(k, v []byte) error {
			var b Batch
			if err := jsonUnmarshal(v, &b); err != nil {
				return fmt.Errorf("batch %s: %w", k, err)
			}
			if b.State == BatchVerified && b.LastSeq <= uptoSeq {
				drop = append(drop, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range drop {
			if err := bb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: truncate to %d: %w", uptoSeq, err)
	}
	return n, nil
}

// toRecord builds the public Record from its stored state.
func toRecord(tx *bolt.Tx, collection, id string, st recordState, cursor uint64) (Record, error) {
	r := Record{
		Collection: collection, ID: id, Version: st.Version, ChangeID: st.ChangeID,
		Deleted: st.Deleted, Device: st.Device, Author: st.Author, EditedAt: st.EditedAt,
		Leaves: slices.Clone(st.Leaves), MSeq: st.MSeq, LastSeq: st.LastSeq,
		Pending: st.LastSeq > cursor,
	}
	if !st.Deleted {
		ch, err := loadChange(tx, changeRef{Collection: collection, RecordID: id, Version: st.Version})
		if err != nil {
			return Record{}, err
		}
		r.Doc = ch.Doc
	}
	return r, nil
}

// Record returns the mirrored state of one record, deleted or not, or an
// error wrapping ErrNotFound.
func (s *Store) Record(ctx context.Context, collection, id string) (Record, error) {
	var r Record
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rb, _ := sub(tx, bRecords, collection)
		var st recordState
		found, err := getJSON(rb, []byte(id), &st)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		r, err = toRecord(tx, collection, id, st, btou(bucket(tx, bMeta).Get([]byte(keyPushCursor))))
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("store: record %s/%s: %w", collection, id, err)
	}
	return r, nil
}

// Records lists the records of a collection in record-id order, one page at
// a time. Deleted records are skipped unless page.IncludeDeleted.
func (s *Store) Records(ctx context.Context, collection string, page Page) (RecordPage, error) {
	limit := page.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	var out RecordPage
	err := s.view(ctx, func(tx *bolt.Tx) error {
		out = RecordPage{}
		rb, _ := sub(tx, bRecords, collection)
		if rb == nil {
			return nil
		}
		cursor := btou(bucket(tx, bMeta).Get([]byte(keyPushCursor)))
		c := rb.Cursor()
		k, v := c.First()
		if page.After != "" {
			k, v = c.Seek([]byte(page.After))
			if k != nil && string(k) == page.After {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if len(out.Records) == limit {
				out.Next = out.Records[limit-1].ID
				break
			}
			var st recordState
			if err := decodeRecord(v, &st); err != nil {
				return fmt.Errorf("record %s: %w", k, err)
			}
			if st.Deleted && !page.IncludeDeleted {
				continue
			}
			r, err := toRecord(tx, collection, string(k), st, cursor)
			if err != nil {
				return err
			}
			out.Records = append(out.Records, r)
		}
		return nil
	})
	if err != nil {
		return RecordPage{}, fmt.Errorf("store: records of %s: %w", collection, err)
	}
	return out, nil
}

// Leaves returns the change of every leaf of a record's version graph,
// ascending by version (the last one is the winner). More than one leaf
// means the record is in conflict.
func (s *Store) Leaves(ctx context.Context, collection, id string) ([]Change, error) {
	var out []Change
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rb, _ := sub(tx, bRecords, collection)
		var st recordState
		found, err := getJSON(rb, []byte(id), &st)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		for _, l := range st.Leaves {
			ch, err := loadChange(tx, changeRef{Collection: collection, RecordID: id, Version: l})
			if err != nil {
				return err
			}
			out = append(out, ch)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: leaves of %s/%s: %w", collection, id, err)
	}
	return out, nil
}

// History returns every stored change of a record (its whole version
// graph, local and pulled), ascending by version. Parents that never
// arrived are not listed.
func (s *Store) History(ctx context.Context, collection, id string) ([]Change, error) {
	var out []Change
	err := s.view(ctx, func(tx *bolt.Tx) error {
		vb, _ := sub(tx, bVersions, collection)
		if vb == nil {
			return nil
		}
		prefix := versionKey(id, "")
		c := vb.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var n versionNode
			if err := decodeNode(k, v, &n); err != nil {
				return err
			}
			if n.Change != nil {
				out = append(out, *n.Change)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: history of %s/%s: %w", collection, id, err)
	}
	return out, nil
}

// Change returns a stored change of a record by version (any node of its
// version graph, not only a leaf), or an error wrapping ErrNotFound.
func (s *Store) Change(ctx context.Context, collection, id, version string) (Change, error) {
	var out Change
	err := s.view(ctx, func(tx *bolt.Tx) error {
		vb, _ := sub(tx, bVersions, collection)
		var n versionNode
		if _, err := getNode(vb, versionKey(id, version), &n); err != nil {
			return err
		}
		if n.Change == nil {
			return ErrNotFound
		}
		out = *n.Change
		return nil
	})
	if err != nil {
		return Change{}, fmt.Errorf("store: change %s/%s@%s: %w", collection, id, version, err)
	}
	return out, nil
}

// HasChange reports whether a change id is stored (appended or pulled),
// also after its journal entry was truncated.
func (s *Store) HasChange(ctx context.Context, changeID string) (bool, error) {
	var found bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found = bucket(tx, bChangeIDs).Get([]byte(changeID)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: has change %s: %w", changeID, err)
	}
	return found, nil
}

// MirrorSince returns up to limit applied changes with mirror sequence >
// afterMSeq, in order (limit <= 0 means 100), for a UI catching up. When
// TruncateMirror removed entries the caller has not seen, it fails with
// ErrMirrorTruncated.
func (s *Store) MirrorSince(ctx context.Context, afterMSeq uint64, limit int) ([]MirrorEntry, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	if afterMSeq == math.MaxUint64 {
		return nil, nil // nothing can follow
	}
	var out []MirrorEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		mb := bucket(tx, bMirror)
		if first := btou(bucket(tx, bMeta).Get([]byte(keyMirrorFloor))); afterMSeq < first {
			return fmt.Errorf("%w: entries up to %d are gone", ErrMirrorTruncated, first)
		}
		c := mb.Cursor()
		for k, v := c.Seek(utob(afterMSeq + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var ref changeRef
			if err := jsonUnmarshal(v, &ref); err != nil {
				return fmt.Errorf("mirror %d: %w", btou(k), err)
			}
			ch, err := loadChange(tx, ref)
			if err != nil {
				return fmt.Errorf("mirror %d: %w", btou(k), err)
			}
			out = append(out, MirrorEntry{
				MSeq: btou(k), Origin: ref.Origin, Batch: ref.Batch, Change: ch,
				Winner: ref.Winner, Deleted: ref.Deleted, Conflicted: ref.Conflicted,
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: mirror since %d: %w", afterMSeq, err)
	}
	return out, nil
}

// TrimMirror keeps the newest keep entries of the mirror index and removes
// the older ones (see TruncateMirror). It returns how many it removed.
func (s *Store) TrimMirror(ctx context.Context, keep int) (int, error) {
	var last uint64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		last = bucket(tx, bMirror).Sequence()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: trim mirror: %w", err)
	}
	if keep < 0 || last <= uint64(keep) {
		return 0, nil
	}
	return s.TruncateMirror(ctx, last-uint64(keep))
}

// TruncateMirror removes mirror index entries with mseq <= uptoMSeq (the
// records and their history stay). A UI whose position is older then gets
// ErrMirrorTruncated from MirrorSince and rebuilds from Records. It returns
// how many entries were removed.
func (s *Store) TruncateMirror(ctx context.Context, uptoMSeq uint64) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		mb := bucket(tx, bMirror)
		if last := mb.Sequence(); uptoMSeq > last {
			uptoMSeq = last
		}
		meta := bucket(tx, bMeta)
		if uptoMSeq <= btou(meta.Get([]byte(keyMirrorFloor))) {
			return nil
		}
		c := mb.Cursor()
		for k, _ := c.First(); k != nil && btou(k) <= uptoMSeq; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return meta.Put([]byte(keyMirrorFloor), utob(uptoMSeq))
	})
	if err != nil {
		return 0, fmt.Errorf("store: truncate mirror to %d: %w", uptoMSeq, err)
	}
	return n, nil
}

// Stats counts pending entries, conflicts and records per collection.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{DeviceID: s.device}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		st.Collections = map[string]CollectionStats{}
		st.PushCursor = btou(bucket(tx, bMeta).Get([]byte(keyPushCursor)))
		jb := bucket(tx, bJournal)
		st.LastSeq = jb.Sequence()
		st.Pending = st.LastSeq - st.PushCursor
		if k, _ := jb.Cursor().First(); k != nil {
			st.Journal = st.LastSeq - btou(k) + 1
		}
		st.LastMSeq = bucket(tx, bMirror).Sequence()
		if k, _ := bucket(tx, bMirror).Cursor().First(); k != nil {
			st.FirstMSeq = btou(k)
		}
		err := bucket(tx, bCounts).ForEach(func(k, v []byte) error {
			var c counts
			if err := jsonUnmarshal(v, &c); err != nil {
				return fmt.Errorf("counts %s: %w", k, err)
			}
			st.Collections[string(k)] = CollectionStats{Live: c.Live, Deleted: c.Deleted}
			return nil
		})
		if err != nil {
			return err
		}
		err = bucket(tx, bConflicts).ForEachBucket(func(k []byte) error {
			n := int64(bucket(tx, bConflicts).Bucket(k).Stats().KeyN)
			cs := st.Collections[string(k)]
			cs.Conflicts = n
			st.Collections[string(k)] = cs
			st.Conflicts += n
			return nil
		})
		if err != nil {
			return err
		}
		st.Quarantined = countKeys(bucket(tx, bQuarantine))
		st.QuarantineDropped = btou(bucket(tx, bMeta).Get([]byte(keyQuarantineDropped)))
		if err := bucket(tx, bPullRetry).ForEachBucket(func(k []byte) error {
			st.PullRetries += countKeys(bucket(tx, bPullRetry).Bucket(k))
			return nil
		}); err != nil {
			return err
		}
		return bucket(tx, bBatches).ForEach(func(k, v []byte) error {
			var b Batch
			if err := jsonUnmarshal(v, &b); err != nil {
				return fmt.Errorf("batch %s: %w", k, err)
			}
			if b.State != BatchVerified {
				st.OpenBatch++
			}
			return nil
		})
	})
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}
