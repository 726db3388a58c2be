package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Reference collections (read-only rows pulled from a Drill query) live
// apart from the journal and the mirror: they are never pushed, have no
// versions and no conflicts. See doc.go for their buckets.

// RefRow is one row of a reference collection: its key (the record id),
// its mapped document and the hash of that document.
type RefRow struct {
	Key  string          `json:"record_id"`
	Doc  json.RawMessage `json:"doc"`
	Hash string          `json:"-"`
}

// RefState is what a device knows of a reference collection's source.
type RefState struct {
	// Source identifies the query as bound on this device, with the
	// mapping: when it changes, every row is read again.
	Source string `json:"source"`
	// Fingerprint is Drill's row count and hash sums of the source at the
	// last complete read: the same answer means nothing changed.
	Fingerprint string `json:"fingerprint"`
	Rows        int64  `json:"rows"`
	CheckedAt   int64  `json:"checked_at"` // epoch ms of the last check
	ChangedAt   int64  `json:"changed_at"` // epoch ms of the last read that changed rows
	// Errors are the rows of the last read that could not be mapped, with
	// why (at most MaxRefErrors).
	Errors []string `json:"errors,omitempty"`
	// LastError is why the last check failed ("" when it worked).
	LastError string `json:"last_error,omitempty"`
	// Indexed are the fields whose values are indexed (for options_from).
	Indexed []string `json:"indexed,omitempty"`
}

// MaxRefErrors bounds the row errors a RefState keeps.
const MaxRefErrors = 20

// RefState returns the state of a reference collection; ok is false when
// it was never pulled.
func (s *Store) RefState(ctx context.Context, collection string) (st RefState, ok bool, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		ok, err = getJSON(bucket(tx, bRefMeta), []byte(collection), &st)
		return err
	})
	if err != nil {
		return RefState{}, false, fmt.Errorf("store: reference state %s: %w", collection, err)
	}
	return st, ok, nil
}

// PutRefState saves the state of a reference collection.
func (s *Store) PutRefState(ctx context.Context, collection string, st RefState) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return putJSON(bucket(tx, bRefMeta), []byte(collection), st)
	})
	if err != nil {
		return fmt.Errorf("store: save reference state %s: %w", collection, err)
	}
	return nil
}

// RefHashes returns the hash of every stored row of a reference collection,
// by key.
func (s *Store) RefHashes(ctx context.Context, collection string) (map[string]string, error) {
	out := map[string]string{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rb, _ := sub(tx, bRefRows, collection)
		if rb == nil {
			return nil
		}
		return rb.ForEach(func(k, v []byte) error {
			h, _, err := splitRef(v)
			if err != nil {
				return fmt.Errorf("row %q: %w", k, err)
			}
			out[string(k)] = h
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: reference hashes %s: %w", collection, err)
	}
	return out, nil
}

// ApplyRefs writes rows (new or changed) and removes keys of a reference
// collection in one transaction, keeping the index of the indexed fields'
// values in step.
func (s *Store) ApplyRefs(ctx context.Context, collection string, puts []RefRow, deletes []string, indexed []string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		rb, err := sub(tx, bRefRows, collection)
		if err != nil {
			return err
		}
		ib, err := sub(tx, bRefIdx, collection)
		if err != nil {
			return err
		}
		unindex := func(key string) error {
			old := rb.Get([]byte(key))
			if old == nil {
				return nil
			}
			_, doc, err := splitRef(old)
			if err != nil {
				return err
			}
			for _, k := range refIndexKeys(key, doc, indexed) {
				if err := ib.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}
		for _, key := range deletes {
			if err := unindex(key); err != nil {
				return err
			}
			if err := rb.Delete([]byte(key)); err != nil {
				return err
			}
		}
		for _, r := range puts {
			if r.Key == "" || len(r.Key) > maxAuditIDBytes {
				return fmt.Errorf("reference row key %q: empty or longer than %d bytes", r.Key, maxAuditIDBytes)
			}
			if strings.ContainsRune(r.Hash, 0) {
				return fmt.Errorf("reference row %q: a hash holds no zero byte", r.Key)
			}
			if err := unindex(r.Key); err != nil {
				return err
			}
			v := make([]byte, 0, len(r.Hash)+1+len(r.Doc))
			v = append(append(append(v, r.Hash...), 0), r.Doc...)
			if err := rb.Put([]byte(r.Key), v); err != nil {
				return err
			}
			for _, k := range refIndexKeys(r.Key, r.Doc, indexed) {
				if err := ib.Put(k, []byte{}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: apply reference rows %s: %w", collection, err)
	}
	return nil
}

// ClearRefs removes every row, index entry and the state of a reference
// collection (its source changed shape: the next pull reads it whole).
func (s *Store) ClearRefs(ctx context.Context, collection string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		for _, name := range []string{bRefRows, bRefIdx} {
			if bucket(tx, name).Bucket([]byte(collection)) != nil {
				if err := bucket(tx, name).DeleteBucket([]byte(collection)); err != nil {
					return err
				}
			}
		}
		return bucket(tx, bRefMeta).Delete([]byte(collection))
	})
	if err != nil {
		return fmt.Errorf("store: clear reference rows %s: %w", collection, err)
	}
	return nil
}

// RefQuery selects rows of a reference collection.
type RefQuery struct {
	// Search keeps rows whose key or document holds this text (any case).
	Search string
	After  string // start after this key ("" = from the start)
	Limit  int    // at most this many (<= 0 means 100)
}

// RefPage is one page of RefRows; Next is "" at the end. Total counts the
// collection's rows (all of them, not only those that match).
type RefPage struct {
	Rows  []RefRow `json:"rows"`
	Next  string   `json:"next"`
	Total int64    `json:"total"`
}

// RefRows lists rows of a reference collection in key order.
func (s *Store) RefRows(ctx context.Context, collection string, q RefQuery) (RefPage, error) {
	if q.Limit <= 0 {
		q.Limit = defaultLimit
	}
	needle := strings.ToLower(q.Search)
	page := RefPage{Rows: []RefRow{}}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		rb, _ := sub(tx, bRefRows, collection)
		if rb == nil {
			return nil
		}
		page.Total = int64(rb.Stats().KeyN)
		c := rb.Cursor()
		k, v := c.First()
		if q.After != "" {
			k, v = c.Seek([]byte(q.After))
			if k != nil && string(k) == q.After {
				k, v = c.Next()
			}
		}
		for ; k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			h, doc, err := splitRef(v)
			if err != nil {
				return fmt.Errorf("row %q: %w", k, err)
			}
			if needle != "" && !strings.Contains(strings.ToLower(string(k)), needle) && !strings.Contains(strings.ToLower(string(doc)), needle) {
				continue
			}
			if len(page.Rows) == q.Limit {
				page.Next = page.Rows[len(page.Rows)-1].Key
				break
			}
			page.Rows = append(page.Rows, RefRow{Key: string(k), Doc: append(json.RawMessage(nil), doc...), Hash: h})
		}
		return nil
	})
	if err != nil {
		return RefPage{}, fmt.Errorf("store: reference rows %s: %w", collection, err)
	}
	return page, nil
}

// RefValues returns the distinct values of an indexed field of a reference
// collection, in byte order, at most limit of them; more reports that
// there were others.
func (s *Store) RefValues(ctx context.Context, collection, field string, limit int) (values []string, more bool, err error) {
	values = []string{}
	err = s.view(ctx, func(tx *bolt.Tx) error {
		ib, _ := sub(tx, bRefIdx, collection)
		if ib == nil {
			return nil
		}
		prefix := lenPrefixed(nil, field)
		c := ib.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); {
			v, _, ok := bytes.Cut(k[len(prefix):], []byte{0})
			if !ok {
				return fmt.Errorf("index key %x is damaged", k)
			}
			if len(values) == limit {
				more = true
				return nil
			}
			values = append(values, string(v))
			// Step over the other rows holding the same value.
			next := append(append(append([]byte(nil), prefix...), v...), 1)
			k, _ = c.Seek(next)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: reference values %s.%s: %w", collection, field, err)
	}
	return values, more, nil
}

// RefHas reports whether some row of a reference collection holds value in
// an indexed field.
func (s *Store) RefHas(ctx context.Context, collection, field, value string) (bool, error) {
	var found bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		ib, _ := sub(tx, bRefIdx, collection)
		if ib == nil {
			return nil
		}
		if strings.IndexByte(value, 0) >= 0 {
			return nil // never indexed
		}
		prefix := append(append(lenPrefixed(nil, field), value...), 0)
		k, _ := ib.Cursor().Seek(prefix)
		found = k != nil && bytes.HasPrefix(k, prefix)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store: reference value %s.%s: %w", collection, field, err)
	}
	return found, nil
}

// splitRef splits a stored reference row into its hash and document.
func splitRef(v []byte) (hash string, doc []byte, err error) {
	i := bytes.IndexByte(v, 0)
	if i < 0 {
		return "", nil, errors.New("damaged reference row")
	}
	return string(v[:i]), v[i+1:], nil
}

// refIndexKeys returns the index keys of a row: per indexed field holding
// text, len(field) (uvarint) field value 0x00 key, so keys sort by field,
// then value, and a value ends at its zero byte. A value holding a zero
// byte is not indexed.
func refIndexKeys(key string, doc []byte, indexed []string) [][]byte {
	if len(indexed) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(doc, &m) != nil {
		return nil
	}
	fields := append([]string(nil), indexed...)
	sort.Strings(fields)
	var out [][]byte
	for _, f := range fields {
		s, ok := m[f].(string)
		if !ok || s == "" || len(s) > maxAuditIDBytes || strings.IndexByte(s, 0) >= 0 {
			continue
		}
		k := append(append(lenPrefixed(nil, f), s...), 0)
		out = append(out, append(k, key...))
	}
	return out
}

func lenPrefixed(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
