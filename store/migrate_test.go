package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// oldFile creates a bbolt file at schema version `upto`, as an older
// fieldsync would have left it, and lets fill write into it.
func oldFile(t *testing.T, upto uint64, fill func(tx *bolt.Tx) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ms []migration
	for _, m := range migrations() {
		if m.version <= upto {
			ms = append(ms, m)
		}
	}
	if err := migrate(context.Background(), db, discardLogger(), ms); err != nil {
		t.Fatal(err)
	}
	if fill != nil {
		if err := db.Update(fill); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// latestSchema is the schema version of a fully migrated file.
func latestSchema() uint64 {
	ms := migrations()
	return ms[len(ms)-1].version
}

func readSchema(t *testing.T, s *Store) uint64 {
	t.Helper()
	var v uint64
	if err := s.db.View(func(tx *bolt.Tx) error { v = schemaVersion(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigrationsAreOrdered(t *testing.T) {
	t.Parallel()
	ms := migrations()
	for i, m := range ms {
		if m.version != uint64(i+1) || m.name == "" || m.apply == nil {
			t.Errorf("migration %d: version %d name %q", i, m.version, m.name)
		}
	}
}

func TestMigration1CreatesTree(t *testing.T) {
	t.Parallel()
	path := oldFile(t, 1, nil)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		if v := schemaVersion(tx); v != 1 {
			t.Errorf("schema %d, want 1", v)
		}
		root := tx.Bucket([]byte(bRoot))
		if root == nil {
			t.Fatal("no v1 root")
		}
		for _, name := range v1Buckets() {
			if root.Bucket([]byte(name)) == nil {
				t.Errorf("bucket v1/%s missing", name)
			}
		}
		if root.Bucket([]byte(bCounts)) != nil {
			t.Error("v1/counts exists before migration 2")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigration2CountsExistingRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A schema-1 file holding three records, one deleted, written the way
	// schema 1 stored them.
	path := oldFile(t, 1, func(tx *bolt.Tx) error {
		for _, r := range []struct {
			id      string
			deleted bool
		}{{"a", false}, {"b", true}, {"c", false}} {
			v := ver(1000, "old")
			c := put("id-"+r.id, r.id, v, `{"from":"v1"}`)
			if r.deleted {
				c = del("id-"+r.id, r.id, v)
			}
			rb, err := sub(tx, bRecords, "inspections")
			if err != nil {
				return err
			}
			vb, err := sub(tx, bVersions, "inspections")
			if err != nil {
				return err
			}
			st := recordState{Version: v, ChangeID: c.ChangeID, Deleted: r.deleted, Device: "old", Leaves: []string{v}}
			if err := putJSON(rb, []byte(r.id), st); err != nil {
				return err
			}
			if err := putNode(vb, versionKey(r.id, v), versionNode{Change: &c}); err != nil {
				return err
			}
		}
		return nil
	})
	s := mustOpenAt(t, path, nil)
	if v := readSchema(t, s); v != uint64(len(migrations())) {
		t.Fatalf("schema %d after open, want %d", v, len(migrations()))
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Collections["inspections"]; got.Live != 2 || got.Deleted != 1 {
		t.Errorf("counts after migration: %+v, want 2 live 1 deleted", got)
	}
	// The counts keep working for new changes.
	mustAppend(t, s, put("id-d", "d", ver(2000, "dev1"), `{}`))
	if st, _ := s.Stats(ctx); st.Collections["inspections"].Live != 3 {
		t.Errorf("live after append: %+v", st.Collections)
	}
	if r, err := s.Record(ctx, "inspections", "a"); err != nil || string(r.Doc) != `{"from":"v1"}` {
		t.Errorf("old record: %+v, %v", r, err)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	path := oldFile(t, latestSchema(), nil)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	boom := errors.New("boom")
	ms := append(migrations(), migration{latestSchema() + 1, "half-done step", whole(func(tx *bolt.Tx) error {
		if _, err := tx.Bucket([]byte(bRoot)).CreateBucket([]byte("partial")); err != nil {
			return err
		}
		return boom
	})})
	if err := migrate(context.Background(), db, discardLogger(), ms); !errors.Is(err, boom) {
		t.Fatalf("migrate = %v, want boom", err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if v := schemaVersion(tx); v != latestSchema() {
			t.Errorf("schema %d after a failed step, want %d", v, latestSchema())
		}
		if tx.Bucket([]byte(bRoot)).Bucket([]byte("partial")) != nil {
			t.Error("the failed step left its bucket behind")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := oldFile(t, 2, func(tx *bolt.Tx) error {
		return bucket(tx, bMeta).Put([]byte(keySchema), utob(99))
	})
	if _, err := Open(context.Background(), path, nil); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("open = %v, want ErrSchemaTooNew", err)
	}
}
