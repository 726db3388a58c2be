package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestQuarantineKeepsEachItemOnceAndBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	row := Quarantined{Kind: QuarantineRow, Collection: "c", Batch: "b1", Row: 2, ChangeID: "x", Reason: "version is garbage",
		Content: strings.Repeat("é", MaxQuarantineContent)}
	n, err := s.Quarantine(ctx, []Quarantined{row, row})
	if err != nil || n != 1 {
		t.Fatalf("quarantine twice in one call: %d %v", n, err)
	}
	if n, err := s.Quarantine(ctx, []Quarantined{row}); err != nil || n != 0 {
		t.Fatalf("quarantine again: %d %v", n, err)
	}
	list, err := s.QuarantineList(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if q := list[0]; q.ID == 0 || q.At == 0 || len(q.Content) > MaxQuarantineContent+len("…") || !strings.HasSuffix(q.Content, "…") {
		t.Errorf("item %+v", q)
	}
	var many []Quarantined
	for i := range MaxQuarantined + 5 {
		many = append(many, Quarantined{Kind: QuarantineRow, Collection: "c", Batch: "b2", Row: i, Reason: "r"})
	}
	if _, err := s.Quarantine(ctx, many); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Quarantined != MaxQuarantined || st.QuarantineDropped != 6 {
		t.Errorf("quarantined %d dropped %d, want %d and 6", st.Quarantined, st.QuarantineDropped, MaxQuarantined)
	}
	list, _ = s.QuarantineList(ctx)
	if list[0].Row != MaxQuarantined+4 || list[len(list)-1].Row != 5 {
		t.Errorf("kept rows %d..%d, want the newest", list[len(list)-1].Row, list[0].Row)
	}
}

func TestReleaseQuarantineReadsBatchAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	if err := s.SetPullRetry(ctx, PullRetry{Collection: "c", Batch: "b1", Attempts: 3, LastError: "scan failed"}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.PullRetries(ctx, "c"); err != nil || len(r) != 1 || r[0].Attempts != 3 {
		t.Fatalf("retries %+v %v", r, err)
	}
	if _, err := s.Quarantine(ctx, []Quarantined{
		{Kind: QuarantineBatch, Collection: "c", Batch: "b1", Row: -1, Reason: "unreadable"},
		{Kind: QuarantineRow, Collection: "c", Batch: "b2", Row: 0, Reason: "bad parents"},
	}); err != nil {
		t.Fatal(err)
	}
	// b2 was read (its bad row quarantined); b1 waits to be read again.
	if err := s.MarkSeen(ctx, "c", "b2", 1); err != nil {
		t.Fatal(err)
	}
	list, _ := s.QuarantineList(ctx)
	got, err := s.QuarantineItem(ctx, list[1].ID)
	if err != nil || got.Batch != "b1" {
		t.Fatalf("item %+v %v", got, err)
	}
	if _, err := s.ReleaseQuarantine(ctx, []uint64{999}); !errors.Is(err, ErrNotFound) {
		t.Errorf("release of an unknown id: %v", err)
	}
	rel, err := s.ReleaseQuarantine(ctx, []uint64{got.ID})
	if err != nil || len(rel) != 1 {
		t.Fatalf("release %+v %v", rel, err)
	}
	if seen, _ := s.Seen(ctx, "c", "b1"); seen {
		t.Error("released batch seen")
	}
	if seen, _ := s.Seen(ctx, "c", "b2"); !seen {
		t.Error("batch of the item not released is no longer seen")
	}
	if r, _ := s.PullRetries(ctx, "c"); len(r) != 1 || r[0].Batch != "b1" || r[0].Attempts != 0 || r[0].NextMS != 0 {
		t.Errorf("retries after release %+v", r)
	}
	if rel, err := s.ReleaseQuarantine(ctx, nil); err != nil || len(rel) != 1 || rel[0].Batch != "b2" {
		t.Errorf("release all: %+v %v", rel, err)
	}
	if st, _ := s.Stats(ctx); st.Quarantined != 0 || st.PullRetries != 2 {
		t.Errorf("stats after release: %+v", st)
	}
	if _, err := s.QuarantineItem(ctx, got.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("released item still there: %v", err)
	}
}

func TestMarkSeenLiftsBatchQuarantine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	if err := s.SetPullRetry(ctx, PullRetry{Collection: "c", Batch: "b1", Attempts: 8}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Quarantine(ctx, []Quarantined{
		{Kind: QuarantineBatch, Collection: "c", Batch: "b1", Row: -1, Reason: "unreadable"},
		{Kind: QuarantineRow, Collection: "c", Batch: "b1", Row: 3, Reason: "bad row"},
	}); err != nil {
		t.Fatal(err)
	}
	// Its device rewrote it and it was read at last.
	if err := s.MarkSeen(ctx, "c", "b1", 5); err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.PullRetries != 0 || st.Quarantined != 1 {
		t.Fatalf("after the read: retries %d quarantined %d (%v), want 0 and the row only", st.PullRetries, st.Quarantined, err)
	}
}

func TestMigration4AddsQuarantine(t *testing.T) {
	t.Parallel()
	path := oldFile(t, 3, nil)
	s := mustOpenAt(t, path, &Options{DeviceID: "dev1"})
	if v := readSchema(t, s); v != latestSchema() {
		t.Fatalf("schema %d, want %d", v, latestSchema())
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte(bRoot))
		for _, name := range []string{bQuarantine, bPullRetry} {
			if root.Bucket([]byte(name)) == nil {
				return fmt.Errorf("bucket %s missing", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Quarantine(context.Background(), []Quarantined{{Kind: QuarantineRow, Collection: "c", Batch: "b", Reason: "r"}}); err != nil {
		t.Fatal(err)
	}
}

func TestSalvageKeepsQuarantine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s, err := Open(ctx, src, &Options{DeviceID: "dev1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Quarantine(ctx, []Quarantined{
		{Kind: QuarantineRow, Collection: "c", Batch: "b1", Row: 0, Reason: "bad"},
		{Kind: QuarantineBatch, Collection: "c", Batch: "b2", Row: -1, Reason: "unreadable"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPullRetry(ctx, PullRetry{Collection: "c", Batch: "b2", Attempts: 8}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dst.db")
	if _, err := Salvage(ctx, src, dst, &Options{DeviceID: "dev1"}); err != nil {
		t.Fatal(err)
	}
	d := mustOpenAt(t, dst, &Options{DeviceID: "dev1"})
	if st, err := d.Stats(ctx); err != nil || st.Quarantined != 2 || st.PullRetries != 1 {
		t.Fatalf("salvaged: quarantined %d retries %d (%v), want 2 and 1", st.Quarantined, st.PullRetries, err)
	}
	if _, err := d.Quarantine(ctx, []Quarantined{{Kind: QuarantineRow, Collection: "c", Batch: "b3", Reason: "new"}}); err != nil {
		t.Fatal(err)
	}
	if list, _ := d.QuarantineList(ctx); len(list) != 3 || list[0].ID != 3 {
		t.Errorf("after a new item: %+v", list)
	}
}

func TestPruneSeen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := int64(1_700_000_000_000)
	st := mustOpenAt(t, filepath.Join(t.TempDir(), "fieldsync.db"), &Options{DeviceID: "dev", Now: func() time.Time { return time.UnixMilli(now) }})
	names := []string{"000000000001000_a_000000000001", "000000000002000_a_000000000001", "000000000003000_a_000000000001",
		"2026110100_2026120100_c0001-w", "2026120600_2026120700_c0001-w"}
	for _, n := range names {
		if err := st.MarkSeen(ctx, "c", n, 1); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name         string
		from, before string
		seenBefore   int64
		forgot       int
		left         int
	}{
		{"seen too recently", "", "000000000003000", now, 0, 5},
		{"names before", "", "000000000003000", now + 1, 2, 3},
		{"again", "", "000000000003000", now + 1, 0, 3},
		{"all batches, no other name", "", "000000000009000", now + 1, 1, 2},
		{"a range of other names", "1970010100", "2026120100", now + 1, 1, 1},
		{"the rest", "1970010100", "9", now + 1, 1, 0},
	}
	for _, tt := range tests {
		n, err := st.PruneSeen(ctx, "c", tt.from, tt.before, tt.seenBefore)
		if err != nil || n != tt.forgot {
			t.Errorf("%s: PruneSeen = %d %v, want %d", tt.name, n, err, tt.forgot)
		}
		left, err := st.SeenBatches(ctx, "c", "", 10)
		if err != nil || len(left) != tt.left {
			t.Errorf("%s: %d seen left (%v), want %d", tt.name, len(left), err, tt.left)
		}
	}
	if n, err := st.PruneSeen(ctx, "never", "", "9", now); err != nil || n != 0 {
		t.Errorf("PruneSeen of a collection never pulled = %d %v", n, err)
	}
}
