package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
)

var itSeq atomic.Int64

func TestMain(m *testing.M) {
	if os.Getenv(envCrashStore) != "" {
		crashChild()
		return
	}
	if os.Getenv(envCompactChild) != "" {
		compactChild()
		return
	}
	drilltest.Main(m)
}

// realDrill returns the agent's Drill over a REST client to the shared test
// Drillbit (started when the environment names none; never skipped).
func realDrill(tb testing.TB) Drill {
	tb.Helper()
	c, err := drill.New(drill.Options{Endpoints: []string{drilltest.URL(tb)}})
	if err != nil {
		tb.Fatal(err)
	}
	return DrillClient(c)
}

// itSchema declares collections with unique names for one test: the names
// in testCollections get a unique prefix. It returns the set and the
// prefixed name of each collection.
func itSchema(tb testing.TB) (*schema.Set, func(string) string) {
	tb.Helper()
	prefix := fmt.Sprintf("it%d_%d_", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1))
	// Only the inspections collection of testCollections: every declared
	// collection costs a listing per sync.
	src := strings.TrimRight(testCollections[:strings.Index(testCollections, `{"name":"lww"`)], ",\n ") + "]}"
	src = strings.Replace(src, `"name":"inspections"`, `"name":"`+prefix+`inspections"`, 1)
	set, err := schema.Parse([]byte(src))
	if err != nil {
		tb.Fatal(err)
	}
	return set, func(n string) string { return prefix + n }
}

func TestIntegrationPushPull(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	set, name := itSchema(t)
	coll := name("inspections")
	a := mustNode(t, "a", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
	b := mustNode(t, "b", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
	doc := `{"site":" Quay 3  ","temp":-1.5,"count":7,"ok":true,"risk":"high","at":"2026-11-23T08:30:00Z","notes":"it's\n\"wet\" ☔ 🌧\\ -- ;","extra":{"x":[1,2.50]}}`
	c1 := a.edit(t, coll, "r1", doc)
	a.edit(t, coll, "r2", `{"site":"two"}`)
	rep := a.sync(t)
	if rep.Pushed != 2 {
		t.Fatalf("pushed %+v", rep)
	}
	rep = b.sync(t)
	if rep.Pulled != 2 {
		t.Fatalf("pulled %+v", rep)
	}
	got := b.record(t, coll, "r1")
	if string(got.Doc) != doc || got.Version != c1.Version {
		t.Errorf("b has r1 = %s %s, want %s %s", got.Doc, got.Version, doc, c1.Version)
	}
}

// queryOne runs sql and returns its single row.
func queryOne(tb testing.TB, d Drill, sql string) Row {
	tb.Helper()
	rows, err := d.Query(context.Background(), sql)
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	if len(rows) != 1 {
		tb.Fatalf("%s: %d rows, want 1", sql, len(rows))
	}
	return rows[0]
}

// assertExactlyOnceSQL checks count(*) = count(distinct change_id) = want
// over the whole change log of a collection in Drill.
func assertExactlyOnceSQL(tb testing.TB, d Drill, coll string, want int) {
	tb.Helper()
	r := queryOne(tb, d, fmt.Sprintf("SELECT COUNT(*) AS n, COUNT(DISTINCT `change_id`) AS d FROM `dfs`.`fieldsync`.`%s%s`", coll, logGlob))
	n, _ := asInt(r["n"])
	dn, _ := asInt(r["d"])
	if n != dn || (want >= 0 && n != int64(want)) {
		tb.Errorf("%s in Drill: count(*) = %d, count(distinct change_id) = %d, want both %d", coll, n, dn, want)
	}
}

func TestIntegrationConflictAndViews(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	set, name := itSchema(t)
	coll := name("inspections")
	now := time.Now().UnixMilli()
	a := mustNode(t, "a", now, d, func(o *Options) { o.Schema = set })
	b := mustNode(t, "b", now, d, func(o *Options) { o.Schema = set })
	conflictAndDelete(t, a, b, coll)
	ctx := context.Background()
	for _, n := range []*node{a, b} {
		if cf, err := n.st.Conflict(ctx, coll, "r"); err != nil || len(cf.Leaves) != 2 {
			t.Errorf("%s: conflict %+v %v", n.device, cf, err)
		}
	}
	rows, err := d.Query(ctx, fmt.Sprintf("SELECT `record_id`, `site`, `temp`, `doc` FROM `dfs`.`fieldsync`.`%s_current` ORDER BY `record_id`", coll))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["site"] != "from b" || fmt.Sprint(rows[0]["temp"]) != "2.0" && fmt.Sprint(rows[0]["temp"]) != "2" {
		t.Errorf("current view: %v", rows)
	}
	rows, err = d.Query(ctx, fmt.Sprintf("SELECT `record_id`, `version`, `device`, `leaves` FROM `dfs`.`fieldsync`.`%s_conflicts` ORDER BY `version`", coll))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["device"] != "a" || rows[1]["device"] != "b" {
		t.Errorf("conflicts view: %v", rows)
	}
	if _, err := b.ag.Resolve(ctx, coll, "r", Choice{Take: TakeServer, Author: "sam"}); err != nil {
		t.Fatal(err)
	}
	b.sync(t)
	a.sync(t)
	for _, n := range []*node{a, b} {
		if rec := n.record(t, coll, "r"); rec.Conflicted() || string(rec.Doc) != `{"site":"from a","temp":1}` {
			t.Errorf("%s after resolution: %s %v", n.device, rec.Doc, rec.Leaves)
		}
	}
	rows, err = d.Query(ctx, fmt.Sprintf("SELECT `record_id` FROM `dfs`.`fieldsync`.`%s_conflicts`", coll))
	if err != nil || len(rows) != 0 {
		t.Errorf("conflicts view after resolution: %v %v", rows, err)
	}
	assertExactlyOnceSQL(t, d, coll, 6)
}

// conflictAndDelete has a and b edit record "r" concurrently (a's edit,
// then b's a second later, from the same base) and a delete record "gone",
// and syncs them so both hold the conflict.
func conflictAndDelete(t *testing.T, a, b *node, coll string) {
	t.Helper()
	a.edit(t, coll, "r", `{"site":"base","temp":1}`)
	a.edit(t, coll, "gone", `{"site":"to delete"}`)
	a.sync(t)
	b.sync(t)
	a.edit(t, coll, "r", `{"site":"from a","temp":1}`)
	a.edit(t, coll, "gone", "")
	b.clk.Advance(time.Second)
	b.edit(t, coll, "r", `{"site":"from b","temp":2}`)
	a.sync(t)
	b.sync(t)
	a.sync(t)
}

// faultyDrill wraps a Drill and breaks batch writes the ways a network and
// a Drillbit break them: the request never arrives, only part of the rows
// land before the connection dies, or everything lands but the answer is
// lost. Other statements fail now and then too.
type faultyDrill struct {
	Drill
	mu     sync.Mutex
	rng    *rand.Rand
	faults map[string]int
	writes int // batch CTAS statements seen
}

var errInjected = errors.New("injected fault: connection reset by peer")

func (f *faultyDrill) pick(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

func (f *faultyDrill) count(kind string) {
	f.mu.Lock()
	f.faults[kind]++
	f.mu.Unlock()
}

func (f *faultyDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	if !strings.HasPrefix(sql, "CREATE TABLE") {
		if f.pick(10) == 0 {
			f.count("other")
			return nil, errInjected
		}
		return f.Drill.Query(ctx, sql)
	}
	// The first two batch writes are a partial write and a lost answer,
	// whatever the draw: the pull's listing runs beside the push, so which
	// statement meets which draw depends on timing.
	fault := f.pick(4)
	if strings.Contains(sql, "/changes/") {
		f.mu.Lock()
		f.writes++
		if f.writes <= 2 {
			fault = f.writes
		}
		f.mu.Unlock()
	}
	switch fault {
	case 0:
		f.count("lost request")
		return nil, errInjected
	case 1:
		wrote, err := writeHalf(ctx, f.Drill, sql)
		if err != nil {
			return nil, err
		}
		if wrote {
			f.count("partial write")
		}
		return nil, errInjected
	case 2:
		if _, err := f.Drill.Query(ctx, sql); err != nil {
			return nil, err
		}
		f.count("lost answer")
		return nil, errInjected
	}
	return f.Drill.Query(ctx, sql)
}

// writeHalf runs a batch CTAS with the first half of its rows only, as a
// connection that dies in the middle of the write leaves it. A batch of one
// row is not written at all (wrote is false).
func writeHalf(ctx context.Context, d Drill, sql string) (wrote bool, err error) {
	i := strings.Index(sql, "convert_fromJSON('") + len("convert_fromJSON('")
	j := strings.LastIndex(sql, "')) AS r")
	var rows []json.RawMessage
	if err := json.Unmarshal([]byte(sql[i:j]), &rows); err != nil {
		return false, err
	}
	if len(rows) < 2 {
		return false, nil
	}
	var parts []string
	for _, r := range rows[:len(rows)/2] {
		parts = append(parts, string(r))
	}
	if _, err := d.Query(ctx, sql[:i]+"["+strings.Join(parts, ",")+"]"+sql[j:]); err != nil {
		return false, err
	}
	return true, nil
}

func TestIntegrationRetriesExactlyOnce(t *testing.T) {
	t.Parallel()
	real := realDrill(t)
	fd := &faultyDrill{Drill: real, rng: rand.New(rand.NewPCG(42, 1)), faults: map[string]int{}}
	set, name := itSchema(t)
	coll := name("inspections")
	now := time.Now().UnixMilli()
	a := mustNode(t, "a", now, fd, func(o *Options) { o.Schema = set; o.BatchRows = 4 })
	b := mustNode(t, "b", now, fd, func(o *Options) { o.Schema = set; o.BatchRows = 4 })
	const changes = 30
	for i := range changes {
		n := []*node{a, b}[i%2]
		n.edit(t, coll, fmt.Sprintf("%s-r%d", n.device, i), fmt.Sprintf(`{"site":"s%d  ","temp":%d.25}`, i, i))
	}
	ctx := context.Background()
	clean := 0
	for round := 0; clean < 2; round++ {
		if round > 60 {
			t.Fatalf("no clean sync after %d rounds; faults %v", round, fd.faults)
		}
		failed := false
		for _, n := range []*node{a, b} {
			if _, err := n.ag.SyncNow(ctx); err != nil {
				failed = true
				if !errors.Is(err, errInjected) {
					t.Fatalf("%s: sync failed for another reason: %v", n.device, err)
				}
				if s := n.ag.Status(); s.LastError == "" || !strings.Contains(s.Cause, "connection reset") {
					t.Errorf("%s: status after a failure: %+v", n.device, s)
				}
			}
		}
		if failed {
			clean = 0
		} else {
			clean++
		}
	}
	t.Logf("faults injected: %v", fd.faults)
	if fd.faults["partial write"] == 0 || fd.faults["lost answer"] == 0 {
		t.Errorf("the faults did not cover partial writes and lost answers: %v", fd.faults)
	}
	assertExactlyOnceSQL(t, real, coll, changes)
	for _, n := range []*node{a, b} {
		st, err := n.st.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Pending != 0 || st.Collections[coll].Live != changes {
			t.Errorf("%s: pending %d, live records %d; want 0, %d", n.device, st.Pending, st.Collections[coll].Live, changes)
		}
	}
}

func TestIntegrationConvergence(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	set, name := itSchema(t)
	coll := name("inspections")
	nodes := convergence{d: d, set: set, coll: coll, devices: 3, records: 4, steps: 36, seed: 11}.run(t)
	// Drill's current-state view agrees with the mirrors.
	rows, err := d.Query(context.Background(), fmt.Sprintf("SELECT `record_id`, `version`, `doc` FROM `dfs`.`fieldsync`.`%s_current` ORDER BY `record_id`", coll))
	if err != nil {
		t.Fatal(err)
	}
	var view []string
	for _, r := range rows {
		view = append(view, fmt.Sprintf("%s %s %s", r["record_id"], r["version"], r["doc"]))
	}
	var live []string
	for _, line := range mirror(t, nodes[0], coll) {
		f := strings.SplitN(line, " ", 5)
		if f[2] == "deleted=false" {
			live = append(live, fmt.Sprintf("%s %s %s", f[0], f[1], f[4]))
		}
	}
	if strings.Join(view, "\n") != strings.Join(live, "\n") {
		t.Errorf("current view:\n%s\nmirror:\n%s", strings.Join(view, "\n"), strings.Join(live, "\n"))
	}
	assertExactlyOnceSQL(t, d, coll, -1)
}

// itCollection declares only the test collection coll of testCollections,
// under a unique name, which it returns with the set.
func itCollection(tb testing.TB, coll string) (*schema.Set, string) {
	tb.Helper()
	decl, err := mustSchema(tb).Collection(coll)
	if err != nil {
		tb.Fatal(err)
	}
	c := *decl
	c.Name = fmt.Sprintf("it%d_%d_%s", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1), coll)
	src, err := json.Marshal(schema.Set{Collections: []schema.Collection{c}})
	if err != nil {
		tb.Fatal(err)
	}
	set, err := schema.Parse(src)
	if err != nil {
		tb.Fatal(err)
	}
	return set, c.Name
}

// TestIntegrationConflictPolicies plays every automatic-policy case of
// TestConflictPolicies against the real Drillbit: the policy settles the
// conflict once (one resolution row in Drill), or leaves it to a person.
func TestIntegrationConflictPolicies(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	for _, tt := range policyCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, coll := itCollection(t, tt.coll)
			a, b := concurrentOn(t, d, set, time.Now().UnixMilli(), coll, tt.base, tt.docA, tt.docB)
			tt.run(t, coll, a, b, func(want int) { assertExactlyOnceSQL(t, d, coll, want) })
		})
	}
}

// TestIntegrationConvergenceLWW is TestIntegrationConvergence under the lww
// policy: the devices settle every conflict themselves, exactly once.
func TestIntegrationConvergenceLWW(t *testing.T) {
	t.Parallel()
	set, coll := itCollection(t, "lww")
	convergence{d: realDrill(t), set: set, coll: coll, devices: 3, records: 3, steps: 24, seed: 5}.run(t)
}

// TestIntegrationConvergenceRules is TestIntegrationConvergence with merge
// rules on (lww below them): every device reaches the same merged records,
// whatever the order of syncs, and each conflict is settled exactly once.
func TestIntegrationConvergenceRules(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	set, coll := itCollection(t, "ruled")
	convergence{d: d, set: set, coll: coll, devices: 3, records: 3, steps: 40, seed: 9}.run(t)
	assertExactlyOnceSQL(t, d, coll, -1)
}

func TestIntegrationAddedFieldKeepsOldBatchesReadable(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	coll := fmt.Sprintf("it%d_%d_evolve", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1))
	v1, err := schema.Parse([]byte(`{"collections":[{"name":"` + coll + `","fields":[{"name":"site","type":"text"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := schema.Parse([]byte(`{"collections":[{"name":"` + coll + `","fields":[{"name":"site","type":"text"},{"name":"depth","type":"number"},{"name":"checked","type":"boolean"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	old := mustNode(t, "old", now, d, func(o *Options) { o.Schema = v1 })
	upd := mustNode(t, "new", now, d, func(o *Options) { o.Schema = v2 })
	reader := mustNode(t, "reader", now, d, func(o *Options) { o.Schema = v2 })
	old.edit(t, coll, "a", `{"site":"old","depth":3}`)
	old.sync(t)
	upd.edit(t, coll, "b", `{"site":"new","depth":2.5,"checked":true}`)
	upd.sync(t)
	if rep := reader.sync(t); rep.Pulled != 2 {
		t.Fatalf("reader pulled %+v", rep)
	}
	if got := reader.record(t, coll, "a"); string(got.Doc) != `{"site":"old","depth":3}` {
		t.Errorf("old record reads back as %s", got.Doc)
	}
	rows, err := d.Query(context.Background(), fmt.Sprintf("SELECT `record_id`, `site`, `depth`, `checked` FROM `dfs`.`fieldsync`.`%s_current` ORDER BY `record_id`", coll))
	if err != nil {
		t.Fatalf("current view over old and new batches: %v", err)
	}
	if len(rows) != 2 || rows[0]["depth"] != nil || fmt.Sprint(rows[1]["depth"]) != "2.5" || rows[1]["checked"] != true {
		t.Errorf("current view: %v", rows)
	}
}

func TestIntegrationOldDeclarationKeepsNewerViews(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	coll := fmt.Sprintf("it%d_%d_views", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1))
	parse := func(fields string) *schema.Set {
		set, err := schema.Parse([]byte(`{"collections":[{"name":"` + coll + `","fields":[` + fields + `]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	v1 := parse(`{"name":"site","type":"text"}`)
	v2 := parse(`{"name":"site","type":"text"},{"name":"depth","type":"number"}`)
	now := time.Now().UnixMilli()
	upd := mustNode(t, "new", now, d, func(o *Options) { o.Schema = v2 })
	upd.edit(t, coll, "a", `{"site":"x","depth":1}`)
	if rep := upd.sync(t); rep.ViewsRefreshed != 1 {
		t.Fatalf("views not created: %+v", rep)
	}
	old := mustNode(t, "old", now, d, func(o *Options) { o.Schema = v1 })
	if rep := old.sync(t); rep.ViewsRefreshed != 0 {
		t.Errorf("an agent with an older declaration replaced the views: %+v", rep)
	}
	if _, err := d.Query(context.Background(), fmt.Sprintf("SELECT `depth` FROM `dfs`.`fieldsync`.`%s_current`", coll)); err != nil {
		t.Errorf("the newer column is gone from the view: %v", err)
	}
}

func TestIntegrationLargeRecords(t *testing.T) {
	t.Parallel()
	d := Drill(timedDrill{realDrill(t), t})
	set, name := itSchema(t)
	coll := name("inspections")
	now := time.Now().UnixMilli()
	a := mustNode(t, "a", now, d, func(o *Options) { o.Schema = set })
	b := mustNode(t, "b", now, d, func(o *Options) { o.Schema = set })
	big := strings.Repeat("Grüße ☔ 'quote' \\ \"dq\" -- ; \n\t end  ", 20000) // about 800 KB of text
	doc, err := json.Marshal(map[string]any{"site": "big", "notes": big})
	if err != nil {
		t.Fatal(err)
	}
	a.edit(t, coll, "big", string(doc))
	for i := range 5 {
		a.edit(t, coll, fmt.Sprint("small", i), `{"site":"s"}`)
	}
	a.sync(t)
	b.sync(t)
	if got := b.record(t, coll, "big"); string(got.Doc) != string(doc) {
		t.Errorf("a %d-byte record came back as %d bytes", len(doc), len(got.Doc))
	}
	// Text longer than MaxTypedText is only in doc; the typed column is NULL.
	r := queryOne(t, d, fmt.Sprintf("SELECT `notes`, CHAR_LENGTH(`doc`) AS n FROM `dfs`.`fieldsync`.`%s_current` WHERE `record_id` = 'big'", coll))
	if n, _ := asInt(r["n"]); n != int64(len([]rune(string(doc)))) || r["notes"] != nil {
		t.Errorf("doc holds %d characters, want %d; notes column = %.20v, want NULL", n, len([]rune(string(doc))), r["notes"])
	}
	assertExactlyOnceSQL(t, d, coll, 6)
}

// timedDrill logs each statement with its duration and size.
type timedDrill struct {
	Drill
	tb testing.TB
}

func (d timedDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	start := time.Now()
	rows, err := d.Drill.Query(ctx, sql)
	s := sql
	if len(s) > 90 {
		s = s[:90]
	}
	d.tb.Logf("%6dms %8d bytes %s", time.Since(start).Milliseconds(), len(sql), s)
	return rows, err
}
