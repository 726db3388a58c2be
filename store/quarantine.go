package store

import (
	"context"
	"fmt"
	"sort"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Kinds of quarantined items.
const (
	// QuarantineRow is one pulled row that failed validation; the rest of
	// its batch was applied.
	QuarantineRow = "row"
	// QuarantineBatch is a pulled batch that could not be read (missing,
	// empty or unreadable files, fewer rows than it was written with) after
	// every retry.
	QuarantineBatch = "batch"
)

// Bounds of the quarantine: it never grows without limit.
const (
	// MaxQuarantined is how many items the quarantine keeps; adding more
	// drops the oldest and counts them in Stats.QuarantineDropped.
	MaxQuarantined = 1000
	// MaxQuarantineContent bounds the copy of a row kept with its item.
	MaxQuarantineContent = 4096
	// maxReason bounds the reason kept with an item.
	maxReason = 1024
)

// Quarantined is a pulled row or batch that was never applied because it
// failed validation or could not be read. IT reads it with `fieldsync
// quarantine list|show` and, after fixing the data in Drill, releases it
// with `fieldsync quarantine retry`, which reads its batch again.
type Quarantined struct {
	ID         uint64 `json:"id"`   // assigned by the store, increasing
	Kind       string `json:"kind"` // QuarantineRow or QuarantineBatch
	Collection string `json:"collection"`
	Batch      string `json:"batch"`
	// Row is the row's position in its batch ordered by change id; -1 for
	// a batch.
	Row      int    `json:"row"`
	ChangeID string `json:"change_id,omitempty"`
	// Reason says in plain words what is wrong.
	Reason string `json:"reason"`
	// Content is the row as read from Drill (JSON), cut to
	// MaxQuarantineContent bytes.
	Content string `json:"content,omitempty"`
	At      int64  `json:"at"` // epoch ms when it was quarantined
}

// PullRetry is a pulled batch that could not be read completely and is read
// again later, with backoff, whatever the pull watermark says.
type PullRetry struct {
	Collection string `json:"collection"`
	Batch      string `json:"batch"`
	MS         int64  `json:"ms"` // the batch's time on the pull time line
	// Path is where the batch was found under the collection's changes/
	// directory ("<hour>/<batch>", or "<batch>" in the first layout);
	// empty when unknown (a released quarantine item).
	Path      string `json:"path,omitempty"`
	Attempts  int    `json:"attempts"` // failed reads so far
	FirstMS   int64  `json:"first_ms"` // first failed read
	NextMS    int64  `json:"next_ms"`  // not read again before
	LastError string `json:"last_error,omitempty"`
}

// identity is what makes two quarantined items the same: finding a bad
// row again (its batch was read again) keeps one item.
func (q Quarantined) identity() string {
	who := q.ChangeID
	if who == "" {
		who = fmt.Sprint(q.Row)
	}
	return q.Kind + "\x00" + q.Collection + "\x00" + q.Batch + "\x00" + who
}

// cut shortens s to at most n bytes on a UTF-8 boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Quarantine records pulled rows or batches that must not be applied. An
// item already quarantined (same kind, batch and row) is kept once. Past
// MaxQuarantined items the oldest are dropped and counted. It returns how
// many items were new.
func (s *Store) Quarantine(ctx context.Context, items []Quarantined) (int, error) {
	added := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		qb := bucket(tx, bQuarantine)
		known := map[string]bool{}
		if err := qb.ForEach(func(_, v []byte) error {
			var q Quarantined
			if err := jsonUnmarshal(v, &q); err == nil {
				known[q.identity()] = true
			}
			return nil
		}); err != nil {
			return err
		}
		for _, q := range items {
			if known[q.identity()] {
				continue
			}
			known[q.identity()] = true
			id, err := qb.NextSequence()
			if err != nil {
				return err
			}
			q.ID = id
			if q.At == 0 {
				q.At = s.nowMS()
			}
			q.Reason = cut(q.Reason, maxReason)
			q.Content = cut(q.Content, MaxQuarantineContent)
			q.Batch = cut(q.Batch, 300)
			q.ChangeID = cut(q.ChangeID, 300)
			if err := putJSON(qb, utob(id), q); err != nil {
				return err
			}
			added++
		}
		return trimQuarantine(tx)
	})
	if err != nil {
		return 0, fmt.Errorf("store: quarantine: %w", err)
	}
	return added, nil
}

// trimQuarantine drops the oldest items past MaxQuarantined.
func trimQuarantine(tx *bolt.Tx) error {
	qb := bucket(tx, bQuarantine)
	n := countKeys(qb)
	if n <= MaxQuarantined {
		return nil
	}
	var drop [][]byte
	c := qb.Cursor()
	for k, _ := c.First(); k != nil && len(drop) < n-MaxQuarantined; k, _ = c.Next() {
		drop = append(drop, append([]byte(nil), k...))
	}
	for _, k := range drop {
		if err := qb.Delete(k); err != nil {
			return err
		}
	}
	meta := bucket(tx, bMeta)
	return meta.Put([]byte(keyQuarantineDropped), utob(btou(meta.Get([]byte(keyQuarantineDropped)))+uint64(len(drop))))
}

// QuarantineList returns the quarantined items, newest first.
func (s *Store) QuarantineList(ctx context.Context) ([]Quarantined, error) {
	var out []Quarantined
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := bucket(tx, bQuarantine).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var q Quarantined
			if err := jsonUnmarshal(v, &q); err != nil {
				return fmt.Errorf("item %d: %w", btou(k), err)
			}
			out = append(out, q)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: quarantine list: %w", err)
	}
	return out, nil
}

// QuarantineItem returns one quarantined item (ErrNotFound if none).
func (s *Store) QuarantineItem(ctx context.Context, id uint64) (Quarantined, error) {
	var q Quarantined
	err := s.view(ctx, func(tx *bolt.Tx) error {
		found, err := getJSON(bucket(tx, bQuarantine), utob(id), &q)
		if err == nil && !found {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Quarantined{}, fmt.Errorf("store: quarantine item %d: %w", id, err)
	}
	return q, nil
}

// ReleaseQuarantine removes quarantined items (every item when ids is
// empty) and has their batches read again at the next sync: each batch is
// no longer seen and gets a retry due now. A row still bad is quarantined
// again then. It returns the items released; an id that is not
// quarantined is ErrNotFound.
func (s *Store) ReleaseQuarantine(ctx context.Context, ids []uint64) ([]Quarantined, error) {
	var out []Quarantined
	err := s.update(ctx, func(tx *bolt.Tx) error {
		out = nil
		qb := bucket(tx, bQuarantine)
		if len(ids) == 0 {
			if err := qb.ForEach(func(k, _ []byte) error { ids = append(ids, btou(k)); return nil }); err != nil {
				return err
			}
		}
		batches := map[[2]string]bool{}
		for _, id := range ids {
			var q Quarantined
			found, err := getJSON(qb, utob(id), &q)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("item %d: %w", id, ErrNotFound)
			}
			if err := qb.Delete(utob(id)); err != nil {
				return err
			}
			out = append(out, q)
			batches[[2]string{q.Collection, q.Batch}] = true
		}
		for cb := range batches {
			if validID("collection", cb[0]) != nil || validID("batch name", cb[1]) != nil {
				continue // nothing to read again under such a name
			}
			if sb, err := sub(tx, bSeen, cb[0]); err != nil {
				return err
			} else if err := sb.Delete([]byte(cb[1])); err != nil {
				return err
			}
			rb, err := sub(tx, bPullRetry, cb[0])
			if err != nil {
				return err
			}
			if err := putJSON(rb, []byte(cb[1]), PullRetry{Collection: cb[0], Batch: cb[1], FirstMS: s.nowMS()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: quarantine retry: %w", err)
	}
	return out, nil
}

// PullRetries returns the batches of a collection waiting to be read again,
// in name order.
func (s *Store) PullRetries(ctx context.Context, collection string) ([]PullRetry, error) {
	var out []PullRetry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rb, _ := sub(tx, bPullRetry, collection)
		if rb == nil {
			return nil
		}
		return rb.ForEach(func(k, v []byte) error {
			var r PullRetry
			if err := jsonUnmarshal(v, &r); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: pull retries of %s: %w", collection, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Batch < out[j].Batch })
	return out, nil
}

// SetPullRetry records a failed read of a pulled batch. MarkSeen removes
// the record.
func (s *Store) SetPullRetry(ctx context.Context, r PullRetry) error {
	if err := validID("collection", r.Collection); err != nil {
		return fmt.Errorf("store: pull retry: %w", err)
	}
	if err := validID("batch name", r.Batch); err != nil {
		return fmt.Errorf("store: pull retry: %w", err)
	}
	r.LastError = cut(r.LastError, maxReason)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		rb, err := sub(tx, bPullRetry, r.Collection)
		if err != nil {
			return err
		}
		return putJSON(rb, []byte(r.Batch), r)
	})
	if err != nil {
		return fmt.Errorf("store: pull retry %s/%s: %w", r.Collection, r.Batch, err)
	}
	return nil
}

// migrateQuarantine adds the quarantine and pull retry buckets.
func migrateQuarantine(tx *bolt.Tx) error {
	root := tx.Bucket([]byte(bRoot))
	for _, name := range []string{bQuarantine, bPullRetry} {
		if _, err := root.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// countKeys counts a bucket's keys with a cursor: bucket stats do not see
// the writes of the transaction in progress.
func countKeys(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

// unquarantineBatch removes the batch item of a batch that was read.
func unquarantineBatch(tx *bolt.Tx, collection, batch string) error {
	qb := bucket(tx, bQuarantine)
	var drop [][]byte
	err := qb.ForEach(func(k, v []byte) error {
		var q Quarantined
		if jsonUnmarshal(v, &q) == nil && q.Kind == QuarantineBatch && q.Collection == collection && q.Batch == batch {
			drop = append(drop, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range drop {
		if err := qb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// fixQuarantineSequence makes new item ids follow the items already in the
// bucket (Salvage copies them in by key).
func fixQuarantineSequence(tx *bolt.Tx) error {
	qb := bucket(tx, bQuarantine)
	if k, _ := qb.Cursor().Last(); k != nil && btou(k) > qb.Sequence() {
		return qb.SetSequence(btou(k))
	}
	return nil
}
