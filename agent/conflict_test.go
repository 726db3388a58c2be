package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
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
	// Merge rules: "ruled" is lww with a rule on most fields, "rulesonly"
	// is manual with a rule on temp only.
	{"rule higher keeps the higher reading", "ruled", `{"temp":1}`, `{"temp":5}`, `{"temp":3}`, `{"temp":5}`, ""},
	{"rule lower keeps the lower number", "ruled", `{"n":5}`, `{"n":1}`, `{"n":3}`, `{"n":1}`, ""},
	{"rule lower compares datetimes", "ruled", `{"at":1000}`, `{"at":"1970-01-01T00:00:00.5Z"}`, `{"at":700}`, `{"at":"1970-01-01T00:00:00.5Z"}`, ""},
	{"rule higher ignores a side that did not change it", "ruled", `{"temp":9,"d":"0"}`, `{"temp":9,"d":"A"}`, `{"temp":3,"d":"B"}`, `{"d":"B","temp":3}`, ""},
	{"rule join of notes keeps both additions in order", "ruled", `{"note":"start"}`, `{"note":"start\nfrom a"}`, `{"note":"start\nfrom b"}`, `{"note":"start\nfrom a\nfrom b"}`, ""},
	{"rule join of texts", "ruled", `{"site":"X"}`, `{"site":"North"}`, `{"site":"South"}`, `{"site":"North; South"}`, ""},
	{"rule union of lists", "ruled", `{"tags":["a","b"]}`, `{"tags":["a","b","c"]}`, `{"tags":["b","d"]}`, `{"tags":["b","c","d"]}`, ""},
	{"rule device keeps the resolver's", "ruled", `{"a":"0"}`, `{"a":"A"}`, `{"a":"B"}`, `{"a":"B"}`, ""},
	{"rule server keeps the other device's", "ruled", `{"b":"0"}`, `{"b":"A"}`, `{"b":"B"}`, `{"b":"A"}`, ""},
	{"rule newest keeps the newest", "ruled", `{"c":"0"}`, `{"c":"A"}`, `{"c":"B"}`, `{"c":"B"}`, ""},
	{"fields without a rule fall back to lww", "ruled", `{"temp":1,"d":"0"}`, `{"temp":5,"d":"A"}`, `{"temp":3,"d":"B"}`, `{"d":"B","temp":5}`, ""},
	{"rules leave a delete to the policy", "ruled", `{"temp":1}`, `{"temp":5}`, "", "deleted", ""},
	{"rules settle a manual collection's covered fields", "rulesonly", `{"site":"s","temp":1}`, `{"site":"s","temp":5}`, `{"site":"s","temp":3}`, `{"site":"s","temp":5}`, ""},
	{"rules leave uncovered clashes to a person", "rulesonly", `{"site":"s","temp":1}`, `{"site":"A","temp":5}`, `{"site":"B","temp":3}`, "", "no rule covers site"},
	{"rules leave a manual delete to a person", "rulesonly", `{"site":"s"}`, `{"site":"A"}`, "", "", "a delete against an edit"},
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

// TestConflictRuleAudit checks that a resolution by rule says which rule
// decided in its audit entry, on the device that settled it.
func TestConflictRuleAudit(t *testing.T) {
	t.Parallel()
	a, b, _ := concurrent(t, "ruled", `{"temp":1,"note":"x"}`, `{"temp":5,"note":"x"}`, `{"temp":3,"note":"y"}`)
	converge(t, a, b)
	audit, err := b.st.Audit(context.Background(), 0, 10)
	if err != nil || len(audit) != 1 {
		t.Fatalf("b's audit = %+v, %v; want one resolution", audit, err)
	}
	var d struct {
		How   string            `json:"how"`
		Note  string            `json:"note"`
		Rules map[string]string `json:"rules"`
	}
	if err := json.Unmarshal(audit[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d.How != "rules" || d.Note != "merged by rule: temp: higher value" || d.Rules["temp"] != "higher" || len(d.Rules) != 1 {
		t.Errorf("audit detail = %s", audit[0].Detail)
	}
	if audit[0].Actor != "fieldsync policy lww with rules" {
		t.Errorf("audit actor = %q", audit[0].Actor)
	}
	if rec := assertSameRecord(t, "ruled", "r", a, b); string(rec.Doc) != `{"note":"y","temp":5}` {
		t.Errorf("merged %s", rec.Doc)
	}
}

// TestMergeField covers every rule on its own, including the edge cases the
// two-device cases do not reach.
func TestMergeField(t *testing.T) {
	t.Parallel()
	num := func(s string) any { return json.Number(s) }
	lv := func(v any, dev string) leafValue { return leafValue{v: v, present: v != nil, device: dev} }
	list := func(xs ...string) any {
		out := []any{}
		for _, x := range xs {
			out = append(out, x)
		}
		return out
	}
	tests := []struct {
		name     string
		typ      schema.Type
		rule     schema.Merge
		anc      any // nil: ancestor unknown
		leaves   []leafValue
		want     any // nil: field absent
		wantFlag bool
	}{
		{"higher", schema.TypeNumber, schema.MergeHigher, num("1"), []leafValue{lv(num("2.5"), "a"), lv(num("2.25"), "b")}, num("2.5"), true},
		{"higher exact beyond float64", schema.TypeInteger, schema.MergeHigher, num("0"), []leafValue{lv(num("9007199254740993"), "a"), lv(num("9007199254740992"), "b")}, num("9007199254740993"), true},
		{"higher tie goes to the newest", schema.TypeNumber, schema.MergeHigher, num("0"), []leafValue{lv(num("2.0"), "a"), lv(num("2"), "b")}, num("2"), true},
		{"higher skips a removed value", schema.TypeNumber, schema.MergeHigher, num("0"), []leafValue{lv(nil, "a"), lv(num("-3"), "b")}, num("-3"), true},
		{"lower", schema.TypeNumber, schema.MergeLower, num("1"), []leafValue{lv(num("-1e3"), "a"), lv(num("2"), "b")}, num("-1e3"), true},
		{"one side changed: no clash", schema.TypeNumber, schema.MergeLower, num("1"), []leafValue{lv(num("1"), "a"), lv(num("7"), "b")}, num("7"), false},
		{"same change on both: no clash", schema.TypeNumber, schema.MergeLower, num("1"), []leafValue{lv(num("7"), "a"), lv(num("7"), "b")}, num("7"), false},
		{"nothing changed", schema.TypeText, schema.MergeJoin, "x", []leafValue{lv("x", "a"), lv("x", "b")}, "x", false},
		{"join without ancestor", schema.TypeNote, schema.MergeJoin, nil, []leafValue{lv("one", "a"), lv("two", "b"), lv("one", "c")}, "one\ntwo", true},
		{"join of rewrites", schema.TypeText, schema.MergeJoin, "old", []leafValue{lv("new a", "a"), lv("new b", "b")}, "new a; new b", true},
		{"join ignores an emptied side", schema.TypeText, schema.MergeJoin, "old", []leafValue{lv("", "a"), lv("new b", "b")}, "new b", true},
		{"union without ancestor", schema.TypeList, schema.MergeUnion, nil, []leafValue{lv(list("x", "y"), "a"), lv(list("y", "z"), "b")}, list("x", "y", "z"), true},
		{"union drops what a side removed", schema.TypeList, schema.MergeUnion, list("x", "y"), []leafValue{lv(list("x"), "a"), lv(list("x", "y", "z"), "b")}, list("x", "z"), true},
		{"device", schema.TypeText, schema.MergeDevice, "0", []leafValue{lv("mine", "me"), lv("theirs", "b")}, "mine", true},
		{"server", schema.TypeText, schema.MergeServer, "0", []leafValue{lv("theirs", "b"), lv("mine", "me")}, "theirs", true},
		{"server prefers the edit made in Drill", schema.TypeText, schema.MergeServer, "0", []leafValue{lv("analyst", ServerDevice), lv("theirs", "b"), lv("mine", "me")}, "analyst", true},
		{"server when every side is mine", schema.TypeText, schema.MergeServer, "0", []leafValue{lv("m1", "me"), lv("m2", "me")}, "m2", true},
		{"newest removes", schema.TypeText, schema.MergeNewest, "0", []leafValue{lv("a", "a"), lv(nil, "b")}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := schema.Field{Name: "x", Type: tt.typ}
			got, present, clash := mergeField(f, tt.rule, tt.anc != nil, lv(tt.anc, ""), tt.leaves, "me")
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || present != (tt.want != nil) || clash != tt.wantFlag {
				t.Errorf("mergeField = %v (present %v, clash %v), want %v (clash %v)", got, present, clash, tt.want, tt.wantFlag)
			}
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

// TestCompetingResolutionsSettle replays what the 60-device fleet
// simulation found: two devices that each hold an automatic resolution the
// other has not seen yet, syncing in turn. Were a sync's resolutions pushed
// only at the next sync, each device would see its own unsent resolution
// as the newest leaf at every sync, and so be the resolver, and the two
// would resolve each other's previous resolution forever (the record's
// value flipping at every sync). Two things stop it, each on its own:
// resolutions leave in the sync that made them, and when every leaf is a
// resolution the lowest device id resolves (resolverOf). The second is
// proven with the first defeated: every push of a resolution made in the
// running sync fails.
func TestCompetingResolutionsSettle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		coll           string
		failSecondPush bool
	}{
		{"lww", false}, {"device", false}, {"server", false},
		{"lww", true}, {"device", true}, {"server", true},
	} {
		t.Run(fmt.Sprintf("%s/failSecondPush=%v", tc.coll, tc.failSecondPush), func(t *testing.T) {
			t.Parallel()
			d := newFakeDrill()
			base := time.Now().Truncate(time.Hour).UnixMilli()
			var syncStart atomic.Int64 // ms; resolutions newer than it were made in the running sync
			if tc.failSecondPush {
				d.before = func(sql string) error {
					if !strings.HasPrefix(sql, "CREATE TABLE IF NOT EXISTS ") {
						return nil
					}
					for _, m := range regexp.MustCompile(`"version":"(\d{15})-[^"]*","[^}]*"`+schema.ResolutionColumn+`":"`).FindAllStringSubmatch(sql, -1) {
						if ms, _ := strconv.ParseInt(m[1], 10, 64); ms >= syncStart.Load() {
							return errors.New("injected: the push of a resolution made in this sync fails")
						}
					}
					return nil
				}
			}
			a := mustNode(t, "devA", base, d, nil)
			b := mustNode(t, "devB", base, d, nil)
			// syncAt sets a device's clock to base plus ms and syncs it.
			syncAt := func(n *node, ms int64) Report {
				set(n, base+ms)
				syncStart.Store(base + ms)
				rep, err := n.ag.SyncNow(context.Background())
				if err != nil && !tc.failSecondPush {
					t.Fatalf("%s sync: %v", n.device, err)
				}
				return rep
			}
			set(a, base+1000)
			a.edit(t, tc.coll, "r", `{"a":"1"}`)
			syncAt(a, 1000)
			syncAt(b, 2000)
			// Concurrent edits a2 and b2; B resolves {a2, b2} at 13 s
			// while A, which has not seen that resolution, edits again
			// (a3, 12 s) and resolves {a3, b2} at 13.5 s.
			set(a, base+10000)
			a.edit(t, tc.coll, "r", `{"a":"a2"}`)
			syncAt(a, 10000)
			set(b, base+11000)
			b.edit(t, tc.coll, "r", `{"a":"b2"}`)
			syncAt(b, 13000)
			set(a, base+12000)
			a.edit(t, tc.coll, "r", `{"a":"a3"}`)
			syncAt(a, 13500)
			resolved := 0
			var moved []int
			for i := range 10 {
				rb := syncAt(b, int64(14000+2000*i))
				ra := syncAt(a, int64(15000+2000*i))
				resolved += rb.AutoResolved + ra.AutoResolved
				moved = append(moved, rb.Pushed+rb.Pulled+ra.Pushed+ra.Pulled)
			}
			for _, n := range []*node{a, b} {
				cfs, err := n.st.Conflicts(context.Background(), tc.coll)
				if err != nil {
					t.Fatal(err)
				}
				for _, cf := range cfs {
					t.Errorf("%s still shows a conflict on %s after 10 rounds of syncs: %d leaves, note %q", n.device, cf.RecordID, len(cf.Leaves), cf.Note)
				}
			}
			if resolved > 4 {
				t.Errorf("%d automatic resolutions in 10 rounds of syncs; want at most 4 (changes moved per round: %v)", resolved, moved)
			}
			if last := moved[len(moved)-1]; last != 0 {
				t.Errorf("the last round still moved %d changes (per round: %v)", last, moved)
			}
			if ra, rb := a.record(t, tc.coll, "r"), b.record(t, tc.coll, "r"); ra.Version != rb.Version || string(ra.Doc) != string(rb.Doc) {
				t.Errorf("the devices differ: %s %s and %s %s", ra.Version, ra.Doc, rb.Version, rb.Doc)
			}
		})
	}
}

// set sets a test device's clock to ms.
func set(n *node, ms int64) {
	n.clk.mu.Lock()
	n.clk.t = time.UnixMilli(ms)
	n.clk.mu.Unlock()
}

func TestResolverOf(t *testing.T) {
	t.Parallel()
	res := &store.Resolution{How: "lww"}
	leaf := func(device string, r *store.Resolution) store.Change {
		return store.Change{Device: device, Resolution: r}
	}
	for _, tc := range []struct {
		name   string
		leaves []store.Change // ascending by version
		want   string
	}{
		{"the newest edit's device", []store.Change{leaf("b", nil), leaf("a", nil)}, "a"},
		{"the newest edit's device, over a resolution", []store.Change{leaf("a", res), leaf("c", nil)}, "c"},
		{"an edit among resolutions", []store.Change{leaf("c", nil), leaf("b", res)}, "b"},
		{"competing resolutions: the lowest device id", []store.Change{leaf("a", res), leaf("b", res)}, "a"},
		{"competing resolutions, either order", []store.Change{leaf("b", res), leaf("a", res)}, "a"},
		{"the server's edit is skipped", []store.Change{leaf("b", nil), leaf(ServerDevice, nil)}, "b"},
		{"competing resolutions beside the server's edit", []store.Change{leaf("d", res), leaf("c", res), leaf(ServerDevice, nil)}, "c"},
		{"only the server's", []store.Change{leaf(ServerDevice, nil)}, ServerDevice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got, _ := resolverOf(store.Conflict{Leaves: tc.leaves}); got != tc.want {
				t.Errorf("resolverOf = %q, want %q", got, tc.want)
			}
		})
	}
}
