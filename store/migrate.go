package store

import (
	"context"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// migration is one step of the schema history. Steps run in order, each in
// its own transaction, and record their version in v1/meta once applied.
type migration struct {
	version uint64
	name    string
	apply   func(tx *bolt.Tx) error
}

// migrations returns the schema history, oldest first. Append new steps;
// never edit or reorder a released one.
func migrations() []migration {
	return []migration{
		{1, "create the v1 bucket tree", migrateCreateV1},
		{2, "count records per collection", migrateCounts},
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
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("migrate to %d: %w", m.version, err)
		}
		err := db.Update(func(tx *bolt.Tx) error {
			if err := m.apply(tx); err != nil {
				return err
			}
			return bucket(tx, bMeta).Put([]byte(keySchema), utob(m.version))
		})
		if err != nil {
			return fmt.Errorf("migrate to %d (%s): %w", m.version, m.name, err)
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
