package store

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mustOpenStore opens a new store in a temporary directory with device id
// "dev1"; it is closed when the test ends.
func mustOpenStore(tb testing.TB) *Store {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "fieldsync.db"), &Options{DeviceID: "dev1"})
}

// mustOpenAt opens the store at path; it is closed when the test ends
// unless the test closed it.
func mustOpenAt(tb testing.TB, path string, opts *Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// ver returns the text of a version at wall time ms on node.
func ver(ms int64, node string) string {
	return Version{WallMS: ms, Node: node}.String()
}

// put returns a put change of record rid in collection "inspections".
func put(id, rid, version string, doc string, parents ...string) Change {
	dev := "dev1"
	if v, err := ParseVersion(version); err == nil {
		dev = v.Node
	}
	if parents == nil {
		parents = []string{}
	}
	return Change{
		ChangeID: id, Collection: "inspections", RecordID: rid, Op: OpPut,
		Doc: json.RawMessage(doc), Version: version, Parents: parents,
		Device: dev, Author: "ann", EditedAt: 1700000000000,
	}
}

// del returns a delete change of record rid.
func del(id, rid, version string, parents ...string) Change {
	c := put(id, rid, version, "", parents...)
	c.Op, c.Doc = OpDelete, nil
	return c
}

// seqChange returns the i-th change of a simple sequence of creates.
func seqChange(prefix string, i int) Change {
	return put(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("r%d", i), ver(int64(1000+i), "dev1"), fmt.Sprintf(`{"n":%d}`, i))
}

// mustAppend appends changes and fails the test on an error.
func mustAppend(tb testing.TB, s *Store, changes ...Change) AppendResult {
	tb.Helper()
	res, err := s.Append(context.Background(), changes)
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	return res
}

// mustApplyRemote applies pulled changes and fails the test on an error.
func mustApplyRemote(tb testing.TB, s *Store, batch string, changes ...Change) AppendResult {
	tb.Helper()
	res, err := s.ApplyRemote(context.Background(), batch, changes)
	if err != nil {
		tb.Fatalf("apply remote: %v", err)
	}
	return res
}

// checkConsistent runs bbolt's consistency check over the store's file.
func checkConsistent(tb testing.TB, db *bolt.DB) {
	tb.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			tb.Errorf("bbolt check: %v", err)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("check: %v", err)
	}
}

// fixedClock returns a clock function that reports t and can be moved.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }
