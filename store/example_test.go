package store_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/store"
)

// exampleStore opens a store in a fresh temporary directory with a fixed
// device id and clock, so the examples print the same every time.
func exampleStore() (*store.Store, func()) {
	dir, err := os.MkdirTemp("", "fieldsync-example")
	if err != nil {
		log.Fatal(err)
	}
	s, err := store.Open(context.Background(), filepath.Join(dir, "fieldsync.db"), &store.Options{
		DeviceID: "laptop1",
		Now:      func() time.Time { return time.UnixMilli(1_700_000_000_000) },
	})
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

// Example shows the life of a local edit: append it to the journal (the
// record mirror is updated in the same transaction), read the record back,
// and see that re-sending the change is harmless.
func Example() {
	ctx := context.Background()
	s, done := exampleStore()
	defer done()

	v, err := s.NextVersion(ctx)
	if err != nil {
		log.Fatal(err)
	}
	c := store.Change{
		ChangeID: "c-0001", Collection: "inspections", RecordID: "site-42", Op: store.OpPut,
		Doc: []byte(`{"site":"North gate","ok":true}`), Version: v.String(), Parents: []string{},
		Device: s.DeviceID(), Author: "ann", EditedAt: v.WallMS,
	}
	res, err := s.Append(ctx, []store.Change{c})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Results[0].Outcome, "at seq", res.Results[0].Seq)

	rec, err := s.Record(ctx, "inspections", "site-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(rec.Doc), "pending:", rec.Pending)

	res, _ = s.Append(ctx, []store.Change{c})
	fmt.Println("again:", res.Results[0].Outcome)
	// Output:
	// accepted at seq 1
	// {"site":"North gate","ok":true} pending: true
	// again: duplicate
}

// ExampleStore_Append shows that one bad change is rejected with its reason
// while the others of the same call are stored.
func ExampleStore_Append() {
	ctx := context.Background()
	s, done := exampleStore()
	defer done()

	good := store.Change{
		ChangeID: "c-1", Collection: "inspections", RecordID: "r1", Op: store.OpPut,
		Doc: []byte(`{"n":1}`), Version: "001700000000000-0000-laptop1", Device: "laptop1",
	}
	bad := good
	bad.ChangeID, bad.Doc = "c-2", []byte(`not json`)
	res, err := s.Append(ctx, []store.Change{bad, good})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.Results {
		fmt.Println(r.ChangeID, r.Outcome)
	}
	fmt.Println(res.Results[0].Reason)
	// Output:
	// c-2 rejected
	// c-1 accepted
	// invalid change "c-2": doc is not a JSON object: invalid character 'o' in literal null (expecting 'u')
}

// ExampleStore_PlanBatch shows a push: pending entries become a batch whose
// name is fixed before the first write; verifying it moves the push cursor,
// after which the pushed entries can be truncated.
func ExampleStore_PlanBatch() {
	ctx := context.Background()
	s, done := exampleStore()
	defer done()

	for i := range 3 {
		v, _ := s.NextVersion(ctx)
		_, err := s.Append(ctx, []store.Change{{
			ChangeID: fmt.Sprintf("c-%d", i), Collection: "inspections", RecordID: fmt.Sprintf("r%d", i),
			Op: store.OpPut, Doc: []byte(`{}`), Version: v.String(), Device: s.DeviceID(),
		}})
		if err != nil {
			log.Fatal(err)
		}
	}
	cursor, _ := s.PushCursor(ctx)
	pending, _ := s.Pending(ctx, cursor, 1000)
	var seqs []uint64
	for _, e := range pending {
		seqs = append(seqs, e.Seq)
	}
	b, err := s.PlanBatch(ctx, store.BatchPlan{ServerMS: 1_700_000_000_123, Collection: "inspections", Seqs: seqs})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(b.Name, b.State, b.ChangeIDs)

	// ... CREATE TABLE ... AS SELECT, then count rows and ids in Drill ...
	if _, err := s.MarkBatch(ctx, b.Name, store.BatchWritten, nil); err != nil {
		log.Fatal(err)
	}
	if _, err := s.MarkBatch(ctx, b.Name, store.BatchVerified, nil); err != nil {
		log.Fatal(err)
	}
	cursor, _ = s.PushCursor(ctx)
	n, _ := s.Truncate(ctx, cursor)
	st, _ := s.Stats(ctx)
	fmt.Println("cursor", cursor, "truncated", n, "pending", st.Pending)
	// Output:
	// 1700000000123_laptop1_1 planned [c-0 c-1 c-2]
	// cursor 3 truncated 3 pending 0
}

// ExampleStore_ApplyRemote shows a pulled change that edits the same base
// as a local one: both land, the record has two leaves and a conflict.
func ExampleStore_ApplyRemote() {
	ctx := context.Background()
	s, done := exampleStore()
	defer done()

	base := store.Change{
		ChangeID: "c-base", Collection: "inspections", RecordID: "r1", Op: store.OpPut,
		Doc: []byte(`{"status":"open"}`), Version: "001700000000000-0000-laptop1", Device: "laptop1",
	}
	mine := base
	mine.ChangeID, mine.Doc, mine.Version = "c-mine", []byte(`{"status":"done"}`), "001700000000100-0000-laptop1"
	mine.Parents = []string{base.Version}
	theirs := base
	theirs.ChangeID, theirs.Doc, theirs.Version = "c-theirs", []byte(`{"status":"blocked"}`), "001700000000200-0000-tablet2"
	theirs.Device, theirs.Parents = "tablet2", []string{base.Version}

	if _, err := s.Append(ctx, []store.Change{base, mine}); err != nil {
		log.Fatal(err)
	}
	if _, err := s.ApplyRemote(ctx, "1700000000300_tablet2_7", []store.Change{theirs}); err != nil {
		log.Fatal(err)
	}
	cf, err := s.Conflict(ctx, "inspections", "r1")
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range cf.Leaves {
		fmt.Println("leaf", l.Device, string(l.Doc))
	}
	fmt.Println("ancestor", string(cf.Ancestor.Doc), "winner", cf.Winner)
	// Output:
	// leaf laptop1 {"status":"done"}
	// leaf tablet2 {"status":"blocked"}
	// ancestor {"status":"open"} winner 001700000000200-0000-tablet2
}

// ExampleStore_Resolve settles a conflict: the resolution names every leaf
// as a parent and is stored with its audit entry in one transaction.
func ExampleStore_Resolve() {
	ctx := context.Background()
	s, done := exampleStore()
	defer done()

	base := store.Change{
		ChangeID: "c-base", Collection: "inspections", RecordID: "r1", Op: store.OpPut,
		Doc: []byte(`{"status":"open"}`), Version: "001700000000000-0000-laptop1", Device: "laptop1",
	}
	mine, theirs := base, base
	mine.ChangeID, mine.Doc, mine.Version, mine.Parents = "c-mine", []byte(`{"status":"done"}`), "001700000000100-0000-laptop1", []string{base.Version}
	theirs.ChangeID, theirs.Doc, theirs.Version, theirs.Parents = "c-theirs", []byte(`{"status":"blocked"}`), "001700000000200-0000-tablet2", []string{base.Version}
	theirs.Device = "tablet2"
	if _, err := s.Append(ctx, []store.Change{base, mine}); err != nil {
		log.Fatal(err)
	}
	if _, err := s.ApplyRemote(ctx, "1700000000300_tablet2_7", []store.Change{theirs}); err != nil {
		log.Fatal(err)
	}

	leaves, _ := s.Leaves(ctx, "inspections", "r1")
	v, _ := s.NextVersion(ctx)
	resolution := store.Change{
		ChangeID: "c-resolve", Collection: "inspections", RecordID: "r1", Op: store.OpPut,
		Doc: mine.Doc, Version: v.String(), Device: s.DeviceID(), Author: "ann",
	}
	for _, l := range leaves {
		resolution.Parents = append(resolution.Parents, l.Version)
	}
	r, err := s.Resolve(ctx, resolution, store.AuditEntry{Actor: "ann", Action: "resolve", Detail: []byte(`{"take":"device"}`)})
	if err != nil {
		log.Fatal(err)
	}
	rec, _ := s.Record(ctx, "inspections", "r1")
	audit, _ := s.Audit(ctx, 0, 10)
	fmt.Println(r.Outcome, string(rec.Doc), "leaves:", len(rec.Leaves))
	fmt.Println(audit[0].Actor, audit[0].Action, audit[0].ChangeID, string(audit[0].Detail))
	// Output:
	// accepted {"status":"done"} leaves: 1
	// ann resolve c-resolve {"take":"device"}
}

// ExampleStore_AuditOf lists the audit entries of one record, as a
// record's history screen does, without reading the rest of the log.
func ExampleStore_AuditOf() {
	ctx := context.Background()
	s, done := exampleStore()
	defer done()

	for _, e := range []store.AuditEntry{
		{Actor: "ann", Action: "resolve", Collection: "inspections", RecordID: "r1", Detail: []byte(`{"how":"device"}`)},
		{Actor: "bob", Action: "resolve", Collection: "inspections", RecordID: "r10"},
		{Actor: "ann", Action: "resolve", Collection: "inspections2", RecordID: "r1"},
		{Actor: "cy", Action: "policy", Collection: "inspections", RecordID: "r1", Detail: []byte(`{"how":"newest"}`)},
	} {
		if _, err := s.AppendAudit(ctx, e); err != nil {
			log.Fatal(err)
		}
	}
	entries, err := s.AuditOf(ctx, "inspections", "r1")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Println(e.Seq, e.Actor, e.Action, e.RecordID, string(e.Detail))
	}
	// Output:
	// 1 ann resolve r1 {"how":"device"}
	// 4 cy policy r1 {"how":"newest"}
}

// ExampleOpen_locked shows what a second process gets while the store is
// open elsewhere: a quick, clear error instead of a hang.
func ExampleOpen_locked() {
	dir, _ := os.MkdirTemp("", "fieldsync-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "fieldsync.db")
	first, err := store.Open(context.Background(), path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer first.Close()

	_, err = store.Open(context.Background(), path, &store.Options{Timeout: 100 * time.Millisecond})
	var le *store.LockedError
	fmt.Println(errors.Is(err, store.ErrLocked), errors.As(err, &le) && le.PID == os.Getpid())
	// Output:
	// true true
}
