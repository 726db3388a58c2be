package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// migration is one step of the schema history. Steps run in order and
// record their version in v1/meta, in the transaction that finishes them.
type migration struct {
	version uint64
	name    string
	// apply does the step's work in tx and reports whether it is done. A
	// step too large for one transaction does a part, saves its progress in
	// the same transaction and returns false; migrate commits and calls it
	// again. A step interrupted by a crash or a cancelled Open thus resumes
	// where it stopped at the next Open.
	apply func(tx *bolt.Tx) (done bool, err error)
}

// whole adapts a step done in one transaction.
func whole(apply func(tx *bolt.Tx) error) func(tx *bolt.Tx) (bool, error) {
	return func(tx *bolt.Tx) (bool, error) { return true, apply(tx) }
}

// auditRecChunk is how many audit entries migration 3 indexes per
// transaction.
const auditRecChunk = 10_000

// migrations returns the schema history, oldest first. Append new steps;
// never edit or reorder a released one.
func migrations() []migration {
	return []migration{
		{1, "create the v1 bucket tree", whole(migrateCreateV1)},
		{2, "count records per collection", whole(migrateCounts)},
		{3, "index audit entries by record", migrateAuditRec(auditRecChunk)},
		{4, "quarantine pulled rows and batches", whole(migrateQuarantine)},
		{5, "add reference collections", whole(migrateRefs)},
		// Nothing to rewrite: new nodes and records are written in the
		// shorter forms (node format 2, records without a repeated leaf)
		// and both forms are read. The step only keeps older fieldsync
		// builds, which would misread the new forms, from opening the file.
		{6, "shorter version nodes and records", whole(func(*bolt.Tx) error { return nil })},
	}
}

// schemaVersion reads the applied schema version; 0 for a new file.
func schemaVersion(tx *bolt.Tx) uint64 {
	root := tx.Bucket([]byte(bRoot))
	if root == nil {
		return 0
	}
	meta := root.Bucket([]byte(bMeta))
	if meta == nil {
		return 0
	}
	return btou(meta.Get([]byte(keySchema)))
}

// migrate applies the steps of ms newer than the file's schema version.
func migrate(ctx context.Context, db *bolt.DB, log *slog.Logger, ms []migration) error {
	var current uint64
	if err := db.View(func(tx *bolt.Tx) error { current = schemaVersion(tx); return nil }); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if n := len(ms); n > 0 && current > ms[n-1].version {
		return fmt.Errorf("schema version %d, this build knows up to %d: %w", current, ms[n-1].version, ErrSchemaTooNew)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		for done, parts := false, 0; !done; parts++ {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("migrate to %d: %w", m.version, err)
			}
			err := db.Update(func(tx *bolt.Tx) error {
				var err error
				if done, err = m.apply(tx); err != nil || !done {
					return err
				}
				return bucket(tx, bMeta).Put([]byte(keySchema), utob(m.version))
			})
			if err != nil {
				return fmt.Errorf("migrate to %d (%s): %w", m.version, m.name, err)
			}
			if !done {
				log.Debug("store migration in progress", "version", m.version, "parts", parts+1)
			}
		}
		log.Info("store migrated", "version", m.version, "name", m.name)
		current = m.version
	}
	return nil
}

// migrateCreateV1 creates the root and every top-level bucket of v1.
func migrateCreateV1(tx *bolt.Tx) error {
	root, err := tx.CreateBucketIfNotExists([]byte(bRoot))
	if err != nil {
		return err
	}
	for _, name := range v1Buckets() {
		if _, err := root.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// counts is the per-collection tally kept in v1/counts so that Stats does
// not walk every record.
type counts struct {
	Live    int64 `json:"live"`
	Deleted int64 `json:"deleted"`
}

// migrateCounts adds v1/counts and fills it from the records already in
// the file.
func migrateCounts(tx *bolt.Tx) error {
	root := tx.Bucket([]byte(bRoot))
	cb, err := root.CreateBucketIfNotExists([]byte(bCounts))
	if err != nil {
		return err
	}
	tally := map[string]*counts{}
	get := func(c string) *counts {
		if tally[c] == nil {
			tally[c] = &counts{}
		}
		return tally[c]
	}
	err = bucket(tx, bRecords).ForEachBucket(func(coll []byte) error {
		c := get(string(coll))
		return bucket(tx, bRecords).Bucket(coll).ForEach(func(k, v []byte) error {
			var r recordState
			if err := decodeRecord(v, &r); err != nil {
				return fmt.Errorf("record %s/%s: %w", coll, k, err)
			}
			if r.Deleted {
				c.Deleted++
			} else {
				c.Live++
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for coll, c := range tally {
		if err := putJSON(cb, []byte(coll), c); err != nil {
			return err
		}
	}
	return nil
}

// migrateAuditRec adds v1/auditrec and indexes the audit entries already in
// the file, chunk entries per transaction. meta/auditrec_next keeps the
// first seq not yet indexed between transactions and is removed when the
// step is done. Writing an index key again is harmless, so a part that
// runs twice (it never does: its progress commits with it) changes nothing.
func migrateAuditRec(chunk int) func(tx *bolt.Tx) (bool, error) {
	return func(tx *bolt.Tx) (bool, error) {
		ib, err := tx.Bucket([]byte(bRoot)).CreateBucketIfNotExists([]byte(bAuditRec))
		if err != nil {
			return false, err
		}
		meta := bucket(tx, bMeta)
		c := bucket(tx, bAudit).Cursor()
		k, v := c.First()
		if at := meta.Get([]byte(keyAuditRecAt)); at != nil {
			k, v = c.Seek(at)
		}
		for n := 0; k != nil; k, v = c.Next() {
			if n == chunk {
				return false, meta.Put([]byte(keyAuditRecAt), bytes.Clone(k))
			}
			var e struct {
				Collection string `json:"collection"`
				RecordID   string `json:"record_id"`
			}
			if err := jsonUnmarshal(v, &e); err != nil {
				return false, fmt.Errorf("audit %d: %w", btou(k), err)
			}
			if err := indexAudit(ib, btou(k), e.Collection, e.RecordID); err != nil {
				return false, err
			}
			n++
		}
		return true, meta.Delete([]byte(keyAuditRecAt))
	}
}

// migrateRefs creates the buckets of reference collections (empty: their
// rows come with the next pull).
func migrateRefs(tx *bolt.Tx) error {
	root := tx.Bucket([]byte(bRoot))
	for _, name := range []string{bRefRows, bRefIdx, bRefMeta} {
		if _, err := root.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	return nil
}
