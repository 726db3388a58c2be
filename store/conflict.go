package store

import (
	"bytes"
	"context"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// Conflict returns the stored conflict of a record, or an error wrapping
// ErrNotFound when the record is not in conflict.
func (s *Store) Conflict(ctx context.Context, collection, id string) (Conflict, error) {
	var cf Conflict
	err := s.view(ctx, func(tx *bolt.Tx) error {
		cb, _ := sub(tx, bConflicts, collection)
		found, err := getJSON(cb, []byte(id), &cf)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Conflict{}, fmt.Errorf("store: conflict %s/%s: %w", collection, id, err)
	}
	return cf, nil
}

// Conflicts lists the open conflicts of a collection ("" = every
// collection), by collection then record id.
func (s *Store) Conflicts(ctx context.Context, collection string) ([]Conflict, error) {
	var out []Conflict
	err := s.view(ctx, func(tx *bolt.Tx) error {
		root := bucket(tx, bConflicts)
		each := func(coll []byte) error {
			cb := root.Bucket(coll)
			if cb == nil {
				return nil
			}
			return cb.ForEach(func(k, v []byte) error {
				var cf Conflict
				if err := jsonUnmarshal(v, &cf); err != nil {
					return fmt.Errorf("conflict %s/%s: %w", coll, k, err)
				}
				out = append(out, cf)
				return nil
			})
		}
		if collection != "" {
			return each([]byte(collection))
		}
		return root.ForEachBucket(each)
	})
	if err != nil {
		return nil, fmt.Errorf("store: conflicts: %w", err)
	}
	return out, nil
}

// PutConflict stores the agent's annotation of an open conflict: cf.Note is
// saved on the conflict of record cf.Collection/cf.RecordID. Everything
// else in a conflict (leaves, ancestor, winner, times) is kept in step with
// the version graph by the store and is not taken from cf, so an annotation
// made from a stale read cannot bring back old leaves or a settled
// conflict. It fails with ErrNotFound when the record is not in conflict
// (any more).
func (s *Store) PutConflict(ctx context.Context, cf Conflict) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cb, _ := sub(tx, bConflicts, cf.Collection)
		var cur Conflict
		found, err := getJSON(cb, []byte(cf.RecordID), &cur)
		if err != nil {
			return err
		}
		if !found {
			return ErrNotFound
		}
		if cur.Note == cf.Note {
			return nil
		}
		cur.Note, cur.UpdatedAt = cf.Note, s.nowMS()
		return putJSON(cb, []byte(cf.RecordID), cur)
	})
	if err != nil {
		return fmt.Errorf("store: annotate conflict %s/%s: %w", cf.Collection, cf.RecordID, err)
	}
	return nil
}

// DeleteConflict removes a record's conflict entry (no error when there is
// none). A conflict is removed by itself when a resolution leaves one leaf;
// if the record still has several leaves, its next change brings the entry
// back.
func (s *Store) DeleteConflict(ctx context.Context, collection, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cb, err := sub(tx, bConflicts, collection)
		if err != nil {
			return err
		}
		return cb.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("store: delete conflict %s/%s: %w", collection, id, err)
	}
	return nil
}

// AppendAudit adds an entry to the audit log and returns its sequence. At
// defaults to now. An entry naming a record (RecordID set) is also indexed
// under its collection and record id, in the same transaction, for AuditOf.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (uint64, error) {
	var seq uint64
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		seq, err = s.appendAudit(tx, &e)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: audit %s: %w", e.Action, err)
	}
	return seq, nil
}

// maxAuditIDBytes bounds an audit entry's collection and record id, so that
// its auditrec/ key stays far below bbolt's key size limit.
const maxAuditIDBytes = 1024

// appendAudit writes e to audit/ and, when it names a record, its key to
// auditrec/. Every audit entry is written through here.
func (s *Store) appendAudit(tx *bolt.Tx, e *AuditEntry) (uint64, error) {
	if e.Actor == "" || e.Action == "" {
		return 0, fmt.Errorf("audit entry needs an actor and an action")
	}
	if len(e.Collection) > maxAuditIDBytes || len(e.RecordID) > maxAuditIDBytes {
		return 0, fmt.Errorf("audit entry's collection or record id is longer than %d bytes", maxAuditIDBytes)
	}
	ab := bucket(tx, bAudit)
	seq, err := ab.NextSequence()
	if err != nil {
		return 0, err
	}
	e.Seq = seq
	if e.At == 0 {
		e.At = s.nowMS()
	}
	if err := putJSON(ab, utob(seq), e); err != nil {
		return 0, err
	}
	return seq, indexAudit(bucket(tx, bAuditRec), seq, e.Collection, e.RecordID)
}

// indexAudit records audit entry seq under its record in auditrec/; entries
// that name no record are not indexed.
func indexAudit(ib *bolt.Bucket, seq uint64, collection, recordID string) error {
	if recordID == "" {
		return nil
	}
	return ib.Put(auditRecKey(collection, recordID, seq), []byte{})
}

// Audit returns up to limit audit entries with sequence > afterSeq, oldest
// first (limit <= 0 means 100).
func (s *Store) Audit(ctx context.Context, afterSeq uint64, limit int) ([]AuditEntry, error) {
	if afterSeq == math.MaxUint64 {
		return nil, nil // nothing can follow
	}
	out, err := s.auditWalk(ctx, limit, func(c *bolt.Cursor) ([]byte, []byte) {
		return c.Seek(utob(afterSeq + 1))
	}, (*bolt.Cursor).Next)
	if err != nil {
		return nil, fmt.Errorf("store: audit after %d: %w", afterSeq, err)
	}
	return out, nil
}

// AuditBefore returns up to limit audit entries with sequence < beforeSeq,
// newest first (beforeSeq 0 means from the newest entry; limit <= 0 means
// 100). Pass the last entry's Seq to read the page before it: so a screen
// shows what happened recently without reading the whole log.
func (s *Store) AuditBefore(ctx context.Context, beforeSeq uint64, limit int) ([]AuditEntry, error) {
	if beforeSeq == 1 {
		return nil, nil // nothing can precede the first entry
	}
	out, err := s.auditWalk(ctx, limit, func(c *bolt.Cursor) ([]byte, []byte) {
		// The newest entry, or the last one before beforeSeq.
		if beforeSeq != 0 {
			if at, _ := c.Seek(utob(beforeSeq)); at != nil {
				return c.Prev()
			}
		}
		return c.Last()
	}, (*bolt.Cursor).Prev)
	if err != nil {
		return nil, fmt.Errorf("store: audit before %d: %w", beforeSeq, err)
	}
	return out, nil
}

// auditWalk reads up to limit audit entries (limit <= 0 means 100), from
// where first puts the cursor, moving with next.
func (s *Store) auditWalk(ctx context.Context, limit int, first, next func(*bolt.Cursor) ([]byte, []byte)) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	var out []AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bAudit).Cursor()
		for k, v := first(c); k != nil && len(out) < limit; k, v = next(c) {
			var e AuditEntry
			if err := jsonUnmarshal(v, &e); err != nil {
				return fmt.Errorf("audit %d: %w", btou(k), err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// AuditOf returns the audit entries about one record (the resolutions of
// its conflicts), oldest first, or none when it has none. It reads the
// record's entries through the auditrec/ index, so its cost follows the
// record's entries, not the length of the whole log. The id must not be
// empty: entries that name no record are only listed by Audit.
func (s *Store) AuditOf(ctx context.Context, collection, id string) ([]AuditEntry, error) {
	if id == "" {
		return nil, fmt.Errorf("store: audit of %s/: a record id is needed", collection)
	}
	var out []AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ab := bucket(tx, bAudit)
		prefix := auditRecPrefix(collection, id)
		c := bucket(tx, bAuditRec).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			seq := k[len(prefix):]
			v := ab.Get(seq)
			if len(seq) != 8 || v == nil {
				return fmt.Errorf("index key %x names no audit entry", k)
			}
			var e AuditEntry
			if err := jsonUnmarshal(v, &e); err != nil {
				return fmt.Errorf("audit %d: %w", btou(seq), err)
			}
			if e.Collection != collection || e.RecordID != id {
				return fmt.Errorf("index lists audit %d under the wrong record (%s/%s)", btou(seq), e.Collection, e.RecordID)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: audit of %s/%s: %w", collection, id, err)
	}
	return out, nil
}
