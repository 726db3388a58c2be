package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestPendingCursorTruncate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	for i := 1; i <= 10; i++ {
		mustAppend(t, s, seqChange("c", i))
	}
	page, err := s.Pending(ctx, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, e := range page {
		seqs = append(seqs, e.Seq)
	}
	if !slices.Equal(seqs, []uint64{4, 5, 6, 7}) || page[0].Change.ChangeID != "c-4" || string(page[0].Change.Doc) != `{"n":4}` {
		t.Fatalf("Pending(3, 4) = %v %+v", seqs, page[0])
	}

	cursorTests := []struct {
		name string
		seq  uint64
		want error
	}{
		{"forward", 6, nil},
		{"same place", 6, nil},
		{"backwards", 5, ErrCursor},
		{"past the journal", 11, ErrCursor},
	}
	for _, tt := range cursorTests {
		if err := s.SetPushCursor(ctx, tt.seq); !errors.Is(err, tt.want) {
			t.Errorf("%s: SetPushCursor(%d) = %v, want %v", tt.name, tt.seq, err, tt.want)
		}
	}
	if cur, _ := s.PushCursor(ctx); cur != 6 {
		t.Fatalf("cursor %d, want 6", cur)
	}
	rec, _ := s.Record(ctx, "inspections", "r6")
	if rec.Pending {
		t.Errorf("r6 pending after the cursor passed it")
	}
	if rec, _ := s.Record(ctx, "inspections", "r7"); !rec.Pending {
		t.Errorf("r7 not pending before the cursor reaches it")
	}

	if _, err := s.Truncate(ctx, 7); !errors.Is(err, ErrCursor) {
		t.Errorf("Truncate past the cursor: %v, want ErrCursor", err)
	}
	n, err := s.Truncate(ctx, 6)
	if err != nil || n != 6 {
		t.Fatalf("Truncate(6) = %d, %v", n, err)
	}
	st, _ := s.Stats(ctx)
	if st.Pending != 4 || st.Journal != 4 || st.LastSeq != 10 {
		t.Errorf("stats after truncate %+v", st)
	}
	// A change re-sent after truncation is still a duplicate.
	if r := mustAppend(t, s, seqChange("c", 2)); r.Results[0].Outcome != Duplicate {
		t.Errorf("re-sent truncated change: %+v", r.Results[0])
	}
	// New entries continue the sequence.
	if r := mustAppend(t, s, seqChange("c", 11)); r.Results[0].Seq != 11 {
		t.Errorf("next seq %d, want 11", r.Results[0].Seq)
	}
}

func TestBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	for i := 1; i <= 6; i++ {
		mustAppend(t, s, seqChange("c", i))
	}
	other := put("o", "x", ver(5000, "dev1"), `{}`)
	other.Collection = "visits"
	mustAppend(t, s, other) // seq 7

	b1, err := s.PlanBatch(ctx, BatchPlan{ServerMS: 1700000000000, Collection: "inspections", Seqs: []uint64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if b1.Name != "1700000000000_dev1_1" || b1.State != BatchPlanned || !slices.Equal(b1.ChangeIDs, []string{"c-1", "c-2", "c-3"}) {
		t.Fatalf("planned %+v", b1)
	}
	planTests := []struct {
		name string
		plan BatchPlan
		want error
	}{
		{"same plan again returns it", BatchPlan{Name: b1.Name, Collection: "inspections", Seqs: []uint64{3, 2, 1}}, nil},
		{"same name other entries", BatchPlan{Name: b1.Name, Collection: "inspections", Seqs: []uint64{4}}, ErrBatchExists},
		{"entry already in a batch", BatchPlan{Name: "x", Collection: "inspections", Seqs: []uint64{3, 4}}, ErrBatchClaimed},
		{"missing entry", BatchPlan{Name: "y", Collection: "inspections", Seqs: []uint64{99}}, ErrNotFound},
	}
	for _, tt := range planTests {
		if _, err := s.PlanBatch(ctx, tt.plan); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := s.PlanBatch(ctx, BatchPlan{Name: "z", Collection: "inspections", Seqs: []uint64{6, 7}}); err == nil {
		t.Error("batch mixing collections was planned")
	}
	if p, _ := s.Pending(ctx, 0, 0); p[3].Batch != "" || p[0].Batch != b1.Name {
		t.Errorf("a failed plan claimed entries: %+v", p)
	}
	b2, err := s.PlanBatch(ctx, BatchPlan{Name: "b2", Collection: "inspections", Seqs: []uint64{4, 5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if open, _ := s.OpenBatches(ctx); len(open) != 2 || open[0].Name != b1.Name || open[1].Name != b2.Name {
		t.Fatalf("open batches %+v", open)
	}
	// Verifying the later batch first must not move the cursor over the
	// earlier, unverified one.
	if _, err := s.MarkBatch(ctx, b2.Name, BatchVerified, nil); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.PushCursor(ctx); cur != 0 {
		t.Fatalf("cursor %d after verifying the second batch only", cur)
	}
	if b, err := s.MarkBatch(ctx, b1.Name, BatchPlanned, fmt.Errorf("drill: timeout")); err != nil || b.Attempts != 1 || b.LastError != "drill: timeout" {
		t.Fatalf("failed attempt: %+v, %v", b, err)
	}
	if _, err := s.MarkBatch(ctx, b1.Name, BatchWritten, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkBatch(ctx, b1.Name, BatchVerified, nil); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.PushCursor(ctx); cur != 6 {
		t.Fatalf("cursor %d, want 6 (entry 7 is in no batch)", cur)
	}
	if _, err := s.MarkBatch(ctx, b1.Name, BatchWritten, nil); !errors.Is(err, ErrBatchVerified) {
		t.Errorf("verified batch moved back: %v", err)
	}
	if _, err := s.MarkBatch(ctx, "nope", BatchWritten, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown batch: %v", err)
	}
	if _, err := s.Truncate(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Batch(ctx, b1.Name); !errors.Is(err, ErrNotFound) {
		t.Errorf("verified, truncated batch manifest kept: %v", err)
	}
	if b, err := s.Batch(ctx, b2.Name); err != nil || b.State != BatchVerified {
		t.Errorf("batch b2 = %+v, %v", b, err)
	}
}

func TestSeenAndWatermark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	if ok, err := s.Seen(ctx, "inspections", "100_dev2_1"); err != nil || ok {
		t.Fatalf("Seen before marking = %v, %v", ok, err)
	}
	for _, b := range []string{"100_dev2_1", "200_dev3_1", "150_dev2_2"} {
		if err := s.MarkSeen(ctx, "inspections", b, 10); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := s.Seen(ctx, "inspections", "100_dev2_1"); !ok {
		t.Error("batch not seen after marking")
	}
	if ok, _ := s.Seen(ctx, "visits", "100_dev2_1"); ok {
		t.Error("seen leaks across collections")
	}
	list, err := s.SeenBatches(ctx, "inspections", "100_dev2_1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "150_dev2_2" || list[1].Name != "200_dev3_1" {
		t.Errorf("seen batches %+v", list)
	}
	if err := s.MarkSeen(ctx, "inspections", "a/b", 1); err == nil {
		t.Error("batch name with a slash accepted")
	}

	for _, tt := range []struct {
		set, want int64
	}{{500, 500}, {400, 500}, {900, 900}} {
		if err := s.SetPullWatermark(ctx, "inspections", tt.set); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.PullWatermark(ctx, "inspections"); got != tt.want {
			t.Errorf("after set %d: watermark %d, want %d", tt.set, got, tt.want)
		}
	}
	if got, _ := s.PullWatermark(ctx, "visits"); got != 0 {
		t.Errorf("fresh watermark %d", got)
	}
}

func TestRecordsAndMirror(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, seqChange("c", i))
	}
	mustAppend(t, s, del("d3", "r3", ver(9000, "dev1"), ver(1003, "dev1")))
	var ids []string
	page := Page{Limit: 2}
	for {
		p, err := s.Records(ctx, "inspections", page)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		if p.Next == "" {
			break
		}
		page.After = p.Next
	}
	if !slices.Equal(ids, []string{"r1", "r2", "r4", "r5"}) {
		t.Errorf("records %v", ids)
	}
	all, _ := s.Records(ctx, "inspections", Page{IncludeDeleted: true})
	if len(all.Records) != 5 || !all.Records[2].Deleted || all.Records[2].Doc != nil {
		t.Errorf("with deleted: %+v", all.Records)
	}
	if p, err := s.Records(ctx, "unknown", Page{}); err != nil || len(p.Records) != 0 {
		t.Errorf("unknown collection: %+v, %v", p, err)
	}
	if _, err := s.Record(ctx, "inspections", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing record: %v", err)
	}
	m, err := s.MirrorSince(ctx, 4, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[0].MSeq != 5 || m[1].Change.ChangeID != "d3" || !m[1].Deleted || m[1].Origin != Local {
		t.Errorf("mirror since 4: %+v", m)
	}
	st, _ := s.Stats(ctx)
	if cs := st.Collections["inspections"]; cs.Live != 4 || cs.Deleted != 1 || st.LastMSeq != 6 || st.Pending != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestTruncateMirror(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := mustOpenStore(t)
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, seqChange("c", i))
	}
	n, err := s.TruncateMirror(ctx, 3)
	if err != nil || n != 3 {
		t.Fatalf("TruncateMirror(3) = %d, %v", n, err)
	}
	tests := []struct {
		after   uint64
		want    int
		wantErr error
	}{
		{0, 0, ErrMirrorTruncated},
		{2, 0, ErrMirrorTruncated},
		{3, 2, nil},
		{5, 0, nil},
	}
	for _, tt := range tests {
		m, err := s.MirrorSince(ctx, tt.after, 0)
		if !errors.Is(err, tt.wantErr) || len(m) != tt.want {
			t.Errorf("MirrorSince(%d) = %d entries, %v; want %d, %v", tt.after, len(m), err, tt.want, tt.wantErr)
		}
	}
	if st, _ := s.Stats(ctx); st.FirstMSeq != 4 || st.LastMSeq != 5 {
		t.Errorf("stats %+v", st)
	}
	if r, err := s.Record(ctx, "inspections", "r1"); err != nil || string(r.Doc) != `{"n":1}` {
		t.Errorf("record after mirror truncation: %+v, %v", r, err)
	}
	if n, _ := s.TruncateMirror(ctx, 99); n != 2 {
		t.Errorf("truncate past the end removed %d", n)
	}
	mustAppend(t, s, seqChange("c", 6))
	if m, err := s.MirrorSince(ctx, 5, 0); err != nil || len(m) != 1 || m[0].MSeq != 6 {
		t.Errorf("after truncating everything: %+v, %v", m, err)
	}
}
