package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// mustAppendAudit appends an audit entry and fails the test on an error.
func mustAppendAudit(tb testing.TB, s *Store, collection, id string) uint64 {
	tb.Helper()
	seq, err := s.AppendAudit(context.Background(), AuditEntry{Actor: "ann", Action: "note", Collection: collection, RecordID: id})
	if err != nil {
		tb.Fatalf("append audit %s/%s: %v", collection, id, err)
	}
	return seq
}

// auditSeqs returns the seqs of the audit entries AuditOf lists for a
// record, failing the test on an error.
func auditSeqs(tb testing.TB, s *Store, collection, id string) []uint64 {
	tb.Helper()
	es, err := s.AuditOf(context.Background(), collection, id)
	if err != nil {
		tb.Fatalf("AuditOf(%q, %q): %v", collection, id, err)
	}
	seqs := []uint64{}
	for _, e := range es {
		if e.Collection != collection || e.RecordID != id {
			tb.Errorf("AuditOf(%q, %q) listed entry %d of %q/%q", collection, id, e.Seq, e.Collection, e.RecordID)
		}
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// checkAuditIndex checks that auditrec/ holds exactly one key for every
// audit entry that names a record and nothing else, and that no migration
// progress is left in meta.
func checkAuditIndex(tb testing.TB, db *bolt.DB) {
	tb.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		want := map[string]bool{}
		err := bucket(tx, bAudit).ForEach(func(k, v []byte) error {
			var e AuditEntry
			if err := jsonUnmarshal(v, &e); err != nil {
				return err
			}
			if e.RecordID != "" {
				want[string(auditRecKey(e.Collection, e.RecordID, btou(k)))] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		n := 0
		err = bucket(tx, bAuditRec).ForEach(func(k, v []byte) error {
			n++
			if !want[string(k)] {
				tb.Errorf("auditrec/ key %x matches no audit entry", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(want) {
			tb.Errorf("auditrec/ holds %d keys, the audit log names a record in %d entries", n, len(want))
		}
		if at := bucket(tx, bMeta).Get([]byte(keyAuditRecAt)); at != nil {
			tb.Errorf("meta/%s = %x left after the migration", keyAuditRecAt, at)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// TestAuditOfFollowsEveryAuditWrite checks the index on each path that
// writes audit entries: AppendAudit and an accepted Resolve add to it; a
// stale or re-sent resolution and an entry naming no record do not.
func TestAuditOfFollowsEveryAuditWrite(t *testing.T) {
	t.Parallel()
	base, mine, theirs := ver(1000, "dev1"), ver(2000, "dev1"), ver(2500, "dev2")
	audit := AuditEntry{Actor: "ann", Action: "resolve", Detail: []byte(`{"how":"device"}`)}
	conflict := func(t *testing.T, s *Store) {
		mustAppend(t, s, put("a", "r", base, `{"v":0}`), put("b", "r", mine, `{"v":1}`, base))
		mustApplyRemote(t, s, "b1", put("c", "r", theirs, `{"v":2}`, base))
	}
	resolve := func(t *testing.T, s *Store, c Change, want Outcome) {
		r, err := s.Resolve(context.Background(), c, audit)
		if err != nil || r.Outcome != want {
			t.Fatalf("Resolve(%s) = %+v, %v; want %v", c.ChangeID, r, err, want)
		}
	}
	tests := []struct {
		name  string
		write func(t *testing.T, s *Store)
		want  []uint64 // AuditOf("inspections", "r")
	}{
		{"AppendAudit naming the record", func(t *testing.T, s *Store) {
			mustAppendAudit(t, s, "inspections", "r")
			mustAppendAudit(t, s, "inspections", "r")
		}, []uint64{1, 2}},
		{"AppendAudit naming no record", func(t *testing.T, s *Store) {
			mustAppendAudit(t, s, "", "")
			mustAppendAudit(t, s, "inspections", "")
		}, []uint64{}},
		{"accepted Resolve", func(t *testing.T, s *Store) {
			conflict(t, s)
			resolve(t, s, put("f", "r", ver(3000, "dev1"), `{"v":1}`, mine, theirs), Accepted)
		}, []uint64{1}},
		{"stale Resolve", func(t *testing.T, s *Store) {
			conflict(t, s)
			resolve(t, s, put("d", "r", ver(3000, "dev1"), `{"v":1}`, mine), Rejected)
		}, []uint64{}},
		{"re-sent Resolve", func(t *testing.T, s *Store) {
			conflict(t, s)
			good := put("f", "r", ver(3000, "dev1"), `{"v":1}`, mine, theirs)
			resolve(t, s, good, Accepted)
			resolve(t, s, good, Duplicate)
		}, []uint64{1}},
		{"plain changes write no audit", func(t *testing.T, s *Store) {
			conflict(t, s)
		}, []uint64{}},
		{"AppendAudit and Resolve interleaved", func(t *testing.T, s *Store) {
			mustAppendAudit(t, s, "inspections", "r")
			conflict(t, s)
			mustAppendAudit(t, s, "inspections", "other")
			resolve(t, s, put("f", "r", ver(3000, "dev1"), `{"v":1}`, mine, theirs), Accepted)
			mustAppendAudit(t, s, "inspections", "r")
		}, []uint64{1, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustOpenStore(t)
			tt.write(t, s)
			if got := auditSeqs(t, s, "inspections", "r"); !slices.Equal(got, tt.want) {
				t.Errorf("AuditOf = seqs %v, want %v", got, tt.want)
			}
			checkAuditIndex(t, s.db)
		})
	}
}

// TestAuditOfKeepsRecordsApart writes entries for records whose
// collections or ids are prefixes of one another, or hold bytes that look
// like the key encoding, and checks that each lists only its own.
func TestAuditOfKeepsRecordsApart(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	records := []struct{ coll, id string }{
		{"c", "a"},
		{"c", "ab"},
		{"c2", "a"},
		{"c", "a\x00"},
		{"c", "a\x00\x00\x00\x00\x00\x00\x00\x00\x01"}, // "a", a zero byte, then what looks like seq 1
		{"c\x01a", "b"},    // could read as collection "c" followed by a length and "a"
		{"c", "\x01b"},     // the same bytes split the other way
		{"", "ca"},         // empty collection
		{"ca", "\x00"},     // zero byte id
		{"c", "a/b"},       // separators the change ids refuse
		{"c", "ä\u00a0日本"}, // multi-byte UTF-8
	}
	want := map[int][]uint64{}
	for round := range 3 { // interleave so seqs of one record are not adjacent
		for i, r := range records {
			if round == 2 && i%2 == 1 {
				continue
			}
			want[i] = append(want[i], mustAppendAudit(t, s, r.coll, r.id))
		}
	}
	mustAppendAudit(t, s, "c", "") // names a collection only
	for i, r := range records {
		t.Run(fmt.Sprintf("%q/%q", r.coll, r.id), func(t *testing.T) {
			t.Parallel()
			if got := auditSeqs(t, s, r.coll, r.id); !slices.Equal(got, want[i]) {
				t.Errorf("AuditOf = seqs %v, want %v", got, want[i])
			}
		})
	}
	t.Run("prefixes with no entries", func(t *testing.T) {
		t.Parallel()
		for _, q := range []struct{ coll, id string }{{"c", "b"}, {"c", "abc"}, {"c2", "ab"}, {"c3", "a"}, {"", "c"}, {"c", "a\x00\x00"}} {
			if got := auditSeqs(t, s, q.coll, q.id); len(got) != 0 {
				t.Errorf("AuditOf(%q, %q) = seqs %v, want none", q.coll, q.id, got)
			}
		}
	})
	checkAuditIndex(t, s.db)
}

func TestAuditOfWithoutEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	mustAppend(t, s, put("a", "r", ver(1000, "dev1"), `{}`))
	mustAppendAudit(t, s, "inspections", "other")
	tests := []struct {
		name, coll, id string
		wantErr        bool
	}{
		{"record with changes but no audit", "inspections", "r", false},
		{"unknown record", "inspections", "nope", false},
		{"unknown collection", "trees", "other", false},
		{"empty id", "inspections", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es, err := s.AuditOf(ctx, tt.coll, tt.id)
			if (err != nil) != tt.wantErr || len(es) != 0 {
				t.Errorf("AuditOf(%q, %q) = %+v, %v; want none, error %v", tt.coll, tt.id, es, err, tt.wantErr)
			}
		})
	}
}

func TestAppendAuditRefusesHugeIDs(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	long := strings.Repeat("x", maxAuditIDBytes+1)
	for _, e := range []AuditEntry{
		{Actor: "ann", Action: "note", Collection: "c", RecordID: long},
		{Actor: "ann", Action: "note", Collection: long, RecordID: "r"},
	} {
		if _, err := s.AppendAudit(context.Background(), e); err == nil {
			t.Errorf("AppendAudit with a %d-byte id was accepted", len(long))
		}
	}
	if log, _ := s.Audit(context.Background(), 0, 0); len(log) != 0 {
		t.Errorf("refused entries left %d audit entries", len(log))
	}
}

func TestAuditOfCancelled(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.AuditOf(ctx, "inspections", "r"); !errors.Is(err, context.Canceled) {
		t.Errorf("AuditOf with a cancelled context = %v, want context.Canceled", err)
	}
}

// schema2Record returns the record the i-th audit entry of oldAuditFile
// names; some name none.
func schema2Record(i int) (coll, id string) {
	records := [...]struct{ coll, id string }{
		{"inspections", "a"}, {"inspections", "ab"}, {"inspections2", "a"},
		{"", ""}, {"inspections", "a"}, {"inspections", ""}, {"inspections", "ab"},
	}
	r := records[i%len(records)]
	return r.coll, r.id
}

// oldAuditFile creates a schema-2 file holding n audit entries written the
// way schema 2 stored them (audit/ only, no index), naming the records of
// schema2Record.
func oldAuditFile(t *testing.T, n int) string {
	t.Helper()
	return oldFile(t, 2, func(tx *bolt.Tx) error {
		ab := bucket(tx, bAudit)
		for i := range n {
			coll, id := schema2Record(i)
			seq, err := ab.NextSequence()
			if err != nil {
				return err
			}
			e := AuditEntry{Seq: seq, At: 1700000000000, Actor: "ann", Action: "resolve", Collection: coll, RecordID: id}
			if err := putJSON(ab, utob(seq), e); err != nil {
				return err
			}
		}
		return nil
	})
}

// wantSchema2Audit returns the seqs oldAuditFile(n) wrote for a record.
func wantSchema2Audit(n int, coll, id string) []uint64 {
	out := []uint64{}
	for i := range n {
		if c, r := schema2Record(i); c == coll && r == id {
			out = append(out, uint64(i+1))
		}
	}
	return out
}

func TestMigration3IndexesExistingAudit(t *testing.T) {
	t.Parallel()
	const n = 50
	s := mustOpenAt(t, oldAuditFile(t, n), nil)
	if v, want := readSchema(t, s), latestSchema(); v != want {
		t.Fatalf("schema %d after open, want %d", v, want)
	}
	checkAuditIndex(t, s.db)
	for _, r := range []struct{ coll, id string }{{"inspections", "a"}, {"inspections", "ab"}, {"inspections2", "a"}, {"inspections", "b"}} {
		if got, want := auditSeqs(t, s, r.coll, r.id), wantSchema2Audit(n, r.coll, r.id); !slices.Equal(got, want) {
			t.Errorf("AuditOf(%s, %s) = %v, want %v", r.coll, r.id, got, want)
		}
	}
	// New entries are indexed and follow the old ones.
	seq := mustAppendAudit(t, s, "inspections", "ab")
	if seq != n+1 {
		t.Errorf("new entry got seq %d, want %d", seq, n+1)
	}
	if got := auditSeqs(t, s, "inspections", "ab"); len(got) == 0 || got[len(got)-1] != seq {
		t.Errorf("AuditOf after a new entry = %v, want it to end with %d", got, seq)
	}
	checkAuditIndex(t, s.db)
}

// TestMigration3Resumes stops migration 3 after its first part (as a crash
// or a cancelled Open would) and checks that the next Open finishes it,
// for chunk sizes around the number of entries.
func TestMigration3Resumes(t *testing.T) {
	t.Parallel()
	const n = 25
	tests := []struct {
		chunk  int
		wantAt uint64 // meta/auditrec_next after the first part; 0 = done
	}{
		{1, 2},
		{7, 8},
		{24, 25},
		{25, 0},
		{100, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("chunk=%d", tt.chunk), func(t *testing.T) {
			t.Parallel()
			wantIndex := 0 // index keys after the first part
			for i := range min(tt.chunk, n) {
				if _, id := schema2Record(i); id != "" {
					wantIndex++
				}
			}
			path := oldAuditFile(t, n)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ms := migrations()[:3] // up to this step: later ones would see the cancel
			step := migrateAuditRec(tt.chunk)
			ms[2].apply = func(tx *bolt.Tx) (bool, error) {
				cancel() // stop before the next part
				return step(tx)
			}
			err = migrate(ctx, db, discardLogger(), ms)
			if tt.wantAt != 0 && !errors.Is(err, context.Canceled) {
				t.Fatalf("migrate = %v, want it stopped by the cancelled context", err)
			}
			if tt.wantAt == 0 && err != nil {
				t.Fatalf("migrate = %v, want done in one part", err)
			}
			err = db.View(func(tx *bolt.Tx) error {
				wantSchema := uint64(2)
				if tt.wantAt == 0 {
					wantSchema = 3
				}
				if v := schemaVersion(tx); v != wantSchema {
					t.Errorf("schema %d after the first part, want %d", v, wantSchema)
				}
				if at := btou(bucket(tx, bMeta).Get([]byte(keyAuditRecAt))); at != tt.wantAt {
					t.Errorf("progress %d after the first part, want %d", at, tt.wantAt)
				}
				if got := bucket(tx, bAuditRec).Stats().KeyN; got != wantIndex {
					t.Errorf("%d index keys after the first part, want %d", got, wantIndex)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// The part is idempotent: running it again from the start
			// changes nothing.
			if tt.wantAt != 0 {
				err = db.Update(func(tx *bolt.Tx) error {
					if err := bucket(tx, bMeta).Delete([]byte(keyAuditRecAt)); err != nil {
						return err
					}
					_, err := migrateAuditRec(tt.chunk)(tx)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			s := mustOpenAt(t, path, nil)
			if v, want := readSchema(t, s), latestSchema(); v != want {
				t.Fatalf("schema %d after the next open, want %d", v, want)
			}
			checkAuditIndex(t, s.db)
			for _, r := range []struct{ coll, id string }{{"inspections", "a"}, {"inspections", "ab"}, {"inspections2", "a"}} {
				if got, want := auditSeqs(t, s, r.coll, r.id), wantSchema2Audit(n, r.coll, r.id); !slices.Equal(got, want) {
					t.Errorf("AuditOf(%s, %s) = %v, want %v", r.coll, r.id, got, want)
				}
			}
		})
	}
}

func TestMigration3RefusesDamagedEntry(t *testing.T) {
	t.Parallel()
	path := oldFile(t, 2, func(tx *bolt.Tx) error {
		return bucket(tx, bAudit).Put(utob(1), []byte("{not json"))
	})
	if _, err := Open(context.Background(), path, nil); err == nil || !strings.Contains(err.Error(), "audit 1") {
		t.Fatalf("open = %v, want an error naming audit entry 1", err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := schemaVersion(tx); v != 2 {
			t.Errorf("schema %d after the failed migration, want 2", v)
		}
		if raw := bucket(tx, bAudit).Get(utob(1)); string(raw) != "{not json" {
			t.Errorf("the damaged entry was changed: %q", raw)
		}
		return nil
	})
}

// TestAuditBefore pages the audit log backwards: newest first, strictly
// before the sequence given, and nothing before the first entry.
func TestAuditBefore(t *testing.T) {
	t.Parallel()
	s := mustOpenStore(t)
	for i := range 5 {
		mustAppendAudit(t, s, "inspections", fmt.Sprint("r", i))
	}
	tests := []struct {
		name   string
		before uint64
		limit  int
		want   []uint64
	}{
		{"from the newest", 0, 0, []uint64{5, 4, 3, 2, 1}},
		{"a page from the newest", 0, 2, []uint64{5, 4}},
		{"the page before", 4, 2, []uint64{3, 2}},
		{"before the first", 1, 10, nil},
		{"past the end", 99, 2, []uint64{5, 4}},
		{"just past the newest", 6, 1, []uint64{5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es, err := s.AuditBefore(context.Background(), tt.before, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, e := range es {
				got = append(got, e.Seq)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("AuditBefore(%d, %d) = %v, want %v", tt.before, tt.limit, got, tt.want)
			}
		})
	}
}
