package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// concurrent makes record id exist on a and b, then has both edit it
// without seeing each other's edit (b later, so b's leaf wins), and syncs
// a then b.
func concurrent(t *testing.T, coll, base, docA, docB string) (a, b *node, fd *fakeDrill) {
	t.Helper()
	fd = newFakeDrill()
	a, b = concurrentOn(t, fd, nil, 1_700_000_000_000, coll, base, docA, docB)
	return a, b, fd
}

// concurrentOn is concurrent against any Drill; set (nil: the test
// collections) declares the collections.
func concurrentOn(t *testing.T, d Drill, set *schema.Set, startMS int64, coll, base, docA, docB string) (a, b *node) {
	t.Helper()
	var tweak func(*Options)
	if set != nil {
		tweak = func(o *Options) { o.Schema = set }
	}
	a = mustNode(t, "a", startMS, d, tweak)
	b = mustNode(t, "b", startMS, d, tweak)
	a.edit(t, coll, "r", base)
	a.sync(t)
	b.sync(t)
	a.edit(t, coll, "r", docA)
	b.clk.Advance(time.Second)
	b.edit(t, coll, "r", docB)
	a.sync(t)
	b.sync(t)
	return a, b
}

// converge syncs the nodes until none has anything left to push or pull.
func converge(t *testing.T, nodes ...*node) {
	t.Helper()
	for range 4 {
		for _, n := range nodes {
			n.sync(t)
		}
	}
}

func assertSameRecord(t *testing.T, coll, id string, nodes ...*node) store.Record {
	t.Helper()
	first := nodes[0].record(t, coll, id)
	for _, n := range nodes[1:] {
		got := n.record(t, coll, id)
		if got.Version != first.Version || string(got.Doc) != string(first.Doc) || got.Deleted != first.Deleted || strings.Join(got.Leaves, ",") != strings.Join(first.Leaves, ",") {
			t.Errorf("%s has %s/%s = %s %s %v, %s has %s %s %v", n.device, coll, id, got.Version, got.Doc, got.Leaves,
				nodes[0].device, first.Version, first.Doc, first.Leaves)
		}
	}
	return first
}

func TestConflictManual(t *testing.T) {
	t.Parallel()
	a, b, fd := concurrent(t, "inspections", `{"site":"base"}`, `{"site":"from a"}`, `{"site":"from b"}`)
	a.sync(t)
	ctx := context.Background()
	for _, n := range []*node{a, b} {
		cf, err := n.st.Conflict(ctx, "inspections", "r")
		if err != nil {
			t.Fatalf("%s: conflict not stored: %v", n.device, err)
		}
		if len(cf.Leaves) != 2 || cf.Ancestor == nil || string(cf.Ancestor.Doc) != `{"site":"base"}` {
			t.Errorf("%s: conflict %+v", n.device, cf)
		}
		if rec := n.record(t, "inspections", "r"); string(rec.Doc) != `{"site":"from b"}` {
			t.Errorf("%s shows %s meanwhile, want the highest version (b's)", n.device, rec.Doc)
		}
	}
	if s := a.ag.Status(); s.Conflicts != 1 {
		t.Errorf("status conflicts = %d", s.Conflicts)
	}
	if _, err := a.ag.Resolve(ctx, "inspections", "r", Choice{Take: TakeMerge}); !errors.Is(err, ErrCannotMerge) {
		t.Errorf("field merge of a clash = %v, want ErrCannotMerge", err)
	}
	if _, err := a.ag.Resolve(ctx, "inspections", "r", Choice{Take: TakeMerge, Doc: json.RawMessage(`{"site":""}`)}); err == nil {
		t.Error("a merged doc failing validation was accepted")
	}
	res, err := a.ag.Resolve(ctx, "inspections", "r", Choice{Take: TakeDevice, Author: "supervisor"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Parents) != 2 || string(res.Doc) != `{"site":"from a"}` {
		t.Errorf("resolution %+v", res)
	}
	if _, err := a.ag.Resolve(ctx, "inspections", "r", Choice{Take: TakeDevice}); !errors.Is(err, ErrNoConflict) {
		t.Errorf("second resolve = %v, want ErrNoConflict", err)
	}
	converge(t, a, b)
	rec := assertSameRecord(t, "inspections", "r", a, b)
	if string(rec.Doc) != `{"site":"from a"}` || rec.Conflicted() {
		t.Errorf("after resolution: %s leaves %v", rec.Doc, rec.Leaves)
	}
	if _, err := b.st.Conflict(ctx, "inspections", "r"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("b still has the conflict: %v", err)
	}
	audit, err := a.st.Audit(ctx, 0, 10)
	if err != nil || len(audit) != 1 || audit[0].Actor != "supervisor" || audit[0].Action != "resolve" {
		t.Errorf("audit %+v %v", audit, err)
	}
	assertExactlyOnce(t, fd, "inspections", 4)
}

func TestConflictDeleteAgainstEdit(t *testing.T) {
	t.Parallel()
	a, b, _ := concurrent(t, "inspections", `{"site":"base"}`, `{"site":"edited"}`, "")
	a.sync(t)
	for _, n := range []*node{a, b} {
		rec := n.record(t, "inspections", "r")
		if !rec.Conflicted() || !rec.Deleted {
			t.Errorf("%s: delete vs edit: deleted=%v leaves=%v, want a conflict showing the delete (higher)", n.device, rec.Deleted, rec.Leaves)
		}
	}
	if _, err := b.ag.Resolve(context.Background(), "inspections", "r", Choice{Take: TakeServer}); err != nil {
		t.Fatal(err)
	}
	converge(t, a, b)
	if rec := assertSameRecord(t, "inspections", "r", a, b); rec.Deleted || rec.Conflicted() {
		t.Errorf("after keeping the edit: %+v", rec)
	}
}

// policyCase is one automatic-policy scenario: b edits after a, so b's leaf
// is the newest.
type policyCase struct {
	name, coll       string // coll: a collection of testCollections
	base, docA, docB string
	want             string // doc after convergence; "" = still in conflict, "deleted"
	note             string // part of b's conflict note when still in conflict
}

var policyCases = [...]policyCase{
	{"lww keeps the newest", "lww", `{"a":"0","b":"0"}`, `{"a":"A","b":"0"}`, `{"a":"0","b":"B"}`, `{"a":"0","b":"B"}`, ""},
	{"field merge of disjoint edits", "merged", `{"a":"0","b":"0","k":1}`, `{"a":"A","b":"0","k":1}`, `{"a":"0","b":"B","k":1,"new":true}`, `{"a":"A","b":"B","k":1,"new":true}`, ""},
	{"field merge of the same edit", "merged", `{"a":"0","b":"0"}`, `{"a":"X","b":"0"}`, `{"a":"X","b":"B"}`, `{"a":"X","b":"B"}`, ""},
	{"field merge of a clash", "merged", `{"a":"0"}`, `{"a":"A"}`, `{"a":"B"}`, "", "same fields: a"},
	{"field merge of a delete", "merged", `{"a":"0"}`, `{"a":"A"}`, "", "", "delete against an edit"},
	{"prefer server keeps the other device's", "server", `{"a":"0"}`, `{"a":"A"}`, `{"a":"B"}`, `{"a":"A"}`, ""},
	{"prefer device keeps the resolver's", "device", `{"a":"0"}`, `{"a":"A"}`, `{"a":"B"}`, `{"a":"B"}`, ""},
	{"lww of a delete against an edit", "lww", `{"a":"0"}`, `{"a":"A"}`, "", "deleted", ""},
}

// run plays the case on a and b (after concurrentOn) and checks the
// outcome; changes(want) checks that Drill holds want changes, each once.
func (tt policyCase) run(t *testing.T, coll string, a, b *node, changes func(want int)) {
	t.Helper()
	a.sync(t)
	ctx := context.Background()
	if tt.note != "" {
		cf, err := b.st.Conflict(ctx, coll, "r")
		if err != nil || !strings.Contains(cf.Note, tt.note) {
			t.Errorf("b's conflict note = %q (%v), want %q", cf.Note, err, tt.note)
		}
		if cf, err := a.st.Conflict(ctx, coll, "r"); err != nil || !strings.Contains(cf.Note, "waiting for device b") {
			t.Errorf("a's conflict note = %q (%v)", cf.Note, err)
		}
	}
	converge(t, a, b)
	rec := assertSameRecord(t, coll, "r", a, b)
	switch tt.want {
	case "":
		if !rec.Conflicted() {
			t.Errorf("conflict settled automatically: %s", rec.Doc)
		}
		changes(3) // base and two edits, no resolution
		return
	case "deleted":
		if rec.Conflicted() || !rec.Deleted {
			t.Errorf("after policy: deleted=%v leaves %v, want the delete kept", rec.Deleted, rec.Leaves)
		}
	default:
		if rec.Conflicted() || string(rec.Doc) != tt.want {
			t.Errorf("after policy: %s leaves %v, want %s", rec.Doc, rec.Leaves, tt.want)
		}
	}
	// Exactly one resolution: base, two edits, one resolution.
	changes(4)
}

func TestConflictPolicies(t *testing.T) {
	t.Parallel()
	for _, tt := range policyCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b, fd := concurrent(t, tt.coll, tt.base, tt.docA, tt.docB)
			tt.run(t, tt.coll, a, b, func(want int) { assertExactlyOnce(t, fd, tt.coll, want) })
		})
	}
}

func TestFieldMerge(t *testing.T) {
	t.Parallel()
	ch := func(v, doc string) store.Change {
		c := store.Change{Version: v, Op: store.OpPut, Doc: json.RawMessage(doc)}
		if doc == "" {
			c.Op = store.OpDelete
		}
		return c
	}
	tests := []struct {
		name     string
		ancestor *store.Change
		leaves   []string
		want     string // "" means an error
	}{
		{"no ancestor", nil, []string{`{"a":1}`, `{"a":2}`}, ""},
		{"disjoint", &store.Change{Op: store.OpPut, Doc: json.RawMessage(`{"a":1,"b":1,"c":1}`)}, []string{`{"a":2,"b":1,"c":1}`, `{"a":1,"b":1}`}, `{"a":2,"b":1}`},
		{"three leaves", &store.Change{Op: store.OpPut, Doc: json.RawMessage(`{"a":1,"b":1}`)}, []string{`{"a":2,"b":1}`, `{"a":1,"b":3}`, `{"a":1,"b":1,"c":"<&>"}`}, `{"a":2,"b":3,"c":"<&>"}`},
		{"numbers kept exact", &store.Change{Op: store.OpPut, Doc: json.RawMessage(`{"a":1,"b":1}`)}, []string{`{"a":12345678901234567890,"b":1}`, `{"a":1,"b":1.50}`}, `{"a":12345678901234567890,"b":1.50}`},
		{"clash", &store.Change{Op: store.OpPut, Doc: json.RawMessage(`{"a":1}`)}, []string{`{"a":2}`, `{"a":3}`}, ""},
		{"removed vs changed", &store.Change{Op: store.OpPut, Doc: json.RawMessage(`{"a":1}`)}, []string{`{}`, `{"a":3}`}, ""},
		{"delete", &store.Change{Op: store.OpPut, Doc: json.RawMessage(`{"a":1}`)}, []string{``, `{"a":3}`}, ""},
		{"deleted ancestor", &store.Change{Op: store.OpDelete}, []string{`{"a":1}`, `{"b":3}`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cf := store.Conflict{Ancestor: tt.ancestor}
			for i, l := range tt.leaves {
				cf.Leaves = append(cf.Leaves, ch(string(rune('a'+i)), l))
			}
			got, err := fieldMerge(cf)
			if tt.want == "" {
				if err == nil {
					t.Errorf("merged to %s, want an error", got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("fieldMerge = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestConflictPolicyChangedLater(t *testing.T) {
	t.Parallel()
	// The conflict arises under manual; then the declaration switches the
	// collection to lww and the next sync settles it.
	a, b, fd := concurrent(t, "inspections", `{"site":"base"}`, `{"site":"from a"}`, `{"site":"from b"}`)
	a.sync(t)
	set, err := schema.Parse([]byte(strings.Replace(testCollections, `{"name":"inspections",`, `{"name":"inspections","policy":"lww",`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	b.ag, err = New(Options{Store: b.st, Drill: fd, Schema: set, Now: b.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if rep := b.sync(t); rep.AutoResolved != 1 {
		t.Errorf("b auto-resolved %d conflicts, want 1", rep.AutoResolved)
	}
	converge(t, a, b)
	if rec := assertSameRecord(t, "inspections", "r", a, b); rec.Conflicted() || string(rec.Doc) != `{"site":"from b"}` {
		t.Errorf("after the policy change: %s leaves %v", rec.Doc, rec.Leaves)
	}
}
