package service

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

const captureSchema = `{"collections":[{"name":"inspections","fields":[
 {"name":"site","type":"text","required":true},
 {"name":"risk","type":"enum","options":["low","high"]},
 {"name":"score","type":"number"}]}]}`

func mustCapture(tb testing.TB) (*Capture, *store.Store) {
	tb.Helper()
	st, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "fieldsync.db"), &store.Options{DeviceID: "dev-a"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	set, err := schema.Parse([]byte(captureSchema))
	if err != nil {
		tb.Fatal(err)
	}
	return &Capture{Journal: st, Schema: set, Author: "ann"}, st
}

func TestCapturePutEditDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, st := mustCapture(t)

	created, err := c.Put(ctx, "inspections", "", json.RawMessage(`{"site":"North pier","risk":"low"}`))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.RecordID == "" || len(created.Parents) != 0 || created.Author != "ann" || created.Device != "dev-a" {
		t.Fatalf("create change = %+v", created)
	}
	edited, err := c.Put(ctx, "inspections", created.RecordID, json.RawMessage(`{"site":"North pier","risk":"high"}`))
	if err != nil {
		t.Fatalf("edit: %v", err)
	}
	if len(edited.Parents) != 1 || edited.Parents[0] != created.Version {
		t.Fatalf("edit parents = %v, want [%s]", edited.Parents, created.Version)
	}
	if _, err := c.Delete(ctx, "inspections", created.RecordID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	rec, err := st.Record(ctx, "inspections", created.RecordID)
	if err != nil || !rec.Deleted || len(rec.Leaves) != 1 {
		t.Fatalf("record after delete = %+v, %v", rec, err)
	}
	st2, _ := st.Stats(ctx)
	if st2.Pending != 3 {
		t.Errorf("pending = %d, want 3", st2.Pending)
	}
}

func TestCaptureRejects(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := mustCapture(t)
	tests := []struct {
		name, collection, id string
		op                   store.Op
		doc                  string
		want                 string
	}{
		{"unknown collection", "surveys", "", store.OpPut, `{"site":"x"}`, "surveys"},
		{"missing required field", "inspections", "", store.OpPut, `{"risk":"low"}`, "site is required"},
		{"enum value not allowed", "inspections", "", store.OpPut, `{"site":"x","risk":"extreme"}`, "risk"},
		{"wrong type", "inspections", "", store.OpPut, `{"site":"x","score":"high"}`, "score"},
		{"malformed doc", "inspections", "", store.OpPut, `{"site":`, "JSON"},
		{"delete without id", "inspections", "", store.OpDelete, ``, "needs a record id"},
		{"delete of unknown record", "inspections", "nope", store.OpDelete, ``, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.write(ctx, tt.collection, tt.id, tt.op, json.RawMessage(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestCaptureAcceptKeepsGoodChangesOfABadBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, st := mustCapture(t)
	mk := func(id, doc string) store.Change {
		ch, err := c.Prepare(ctx, "inspections", id, store.OpPut, json.RawMessage(`{"site":"ok"}`))
		if err != nil {
			t.Fatal(err)
		}
		ch.Doc = json.RawMessage(doc)
		return ch
	}
	good1 := mk("r1", `{"site":"one"}`)
	bad := mk("r2", `{"site":"two","risk":"extreme"}`)
	good2 := mk("r3", `{"site":"three"}`)
	foreign := mk("r4", `{"site":"four"}`)
	foreign.Device = "someone-else"

	res, err := c.Accept(ctx, []store.Change{good1, bad, good2, foreign})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 2 || len(res.Results) != 4 {
		t.Fatalf("result = %+v", res)
	}
	want := []store.Outcome{store.Accepted, store.Rejected, store.Accepted, store.Rejected}
	for i, r := range res.Results {
		if r.Outcome != want[i] {
			t.Errorf("result %d = %s (%s), want %s", i, r.Outcome, r.Reason, want[i])
		}
	}
	if !errors.Is(res.Results[1].Err, store.ErrInvalidChange) || !strings.Contains(res.Results[1].Reason, "risk") {
		t.Errorf("bad change reason = %q", res.Results[1].Reason)
	}
	// Sent again (the UI crashed before deleting its outbox): acknowledged, not duplicated.
	again, err := c.Accept(ctx, []store.Change{good1, good2})
	if err != nil || again.Duplicates != 2 || again.Accepted != 0 {
		t.Fatalf("resend = %+v, %v", again, err)
	}
	stats, _ := st.Stats(ctx)
	if stats.Pending != 2 {
		t.Errorf("pending = %d, want 2", stats.Pending)
	}
}

func TestChangeIDOrder(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, tc := range []struct {
		name        string
		first, next time.Time
		prefix      string // the first id's first 12 digits (its milliseconds)
	}{
		{"the same millisecond", at(1_700_000_000_000), at(1_700_000_000_000), "018bcfe56800"},
		{"one millisecond later", at(1_700_000_000_000), at(1_700_000_000_001), "018bcfe56800"},
		{"a year later", at(1_700_000_000_000), at(1_731_536_000_000), "018bcfe56800"},
		{"the epoch", at(0), at(1), "000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := changeIDAt(tc.first), changeIDAt(tc.next)
			for _, id := range []string{a, b} {
				if !hexID.MatchString(id) {
					t.Fatalf("id %q is not 32 hex digits", id)
				}
			}
			if a == b {
				t.Fatalf("two ids are equal: %s", a)
			}
			if !strings.HasPrefix(a, tc.prefix) {
				t.Errorf("id %s does not start with the time %s", a, tc.prefix)
			}
			if tc.next.After(tc.first) && a >= b {
				t.Errorf("id %s made later does not sort after %s", b, a)
			}
		})
	}
}
