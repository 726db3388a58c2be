package agent

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
)

var itSeq atomic.Int64

// realDrill returns the agent's Drill over a REST client to the shared test
// Drillbit.
func realDrill(tb testing.TB) Drill {
	tb.Helper()
	url := os.Getenv("FIELDSYNC_DRILL_URL")
	if url == "" {
		url = drill.DefaultEndpoint
	}
	c, err := drill.New(drill.Options{Endpoints: []string{url}})
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
	src := testCollections
	for _, n := range []string{"inspections", "lww", "merged", "server"} {
		src = strings.Replace(src, `"name":"`+n+`"`, `"name":"`+prefix+n+`"`, 1)
	}
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
	r := queryOne(tb, d, fmt.Sprintf("SELECT COUNT(*) AS n, COUNT(DISTINCT `change_id`) AS d FROM `dfs`.`fieldsync`.`%s/changes`", coll))
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
