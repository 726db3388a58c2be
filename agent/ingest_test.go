package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/schema"
)

// mustIngester returns an ingester over d that reads tables at once.
func mustIngester(tb testing.TB, d Drill, o IngestOptions) *Ingester {
	tb.Helper()
	o.Drill = d
	if o.Settle == 0 {
		o.Settle = time.Millisecond
	}
	in, err := NewIngester(o)
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

// inbox writes an inbox table with plain CTAS, as an analyst does.
func inbox(tb testing.TB, d Drill, coll, name, sel string) {
	tb.Helper()
	q := fmt.Sprintf("CREATE TABLE `dfs`.`fieldsync`.`%s/inbox/%s` AS %s", coll, name, sel)
	if _, err := d.Query(context.Background(), q); err != nil {
		tb.Fatalf("inbox %s: %v", name, err)
	}
}

// queryRows runs sql and fails the test on error.
func queryRows(tb testing.TB, d Drill, sql string) []Row {
	tb.Helper()
	rows, err := d.Query(context.Background(), sql)
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return rows
}

// checkOncePerRow checks the exactly-once property in Drill: no change id
// twice in the log, and one change per applied inbox row.
func checkOncePerRow(tb testing.TB, d Drill, coll string, wantServer int) {
	tb.Helper()
	r := queryRows(tb, d, fmt.Sprintf("SELECT COUNT(*) AS `n`, COUNT(DISTINCT `change_id`) AS `d` FROM `dfs`.`fieldsync`.`%s/changes`", coll))
	n, _ := asInt(r[0]["n"])
	dn, _ := asInt(r[0]["d"])
	if n != dn {
		tb.Errorf("the log holds %d rows but %d distinct change ids", n, dn)
	}
	r = queryRows(tb, d, fmt.Sprintf("SELECT COUNT(*) AS `n`, COUNT(DISTINCT `change_id`) AS `d` FROM `dfs`.`fieldsync`.`%s/changes` WHERE `device` = 'server'", coll))
	n, _ = asInt(r[0]["n"])
	if int(n) != wantServer {
		tb.Errorf("the log holds %d server changes, want %d (one per applied inbox row)", n, wantServer)
	}
	r = queryRows(tb, d, fmt.Sprintf("SELECT COUNT(*) AS `n` FROM (SELECT DISTINCT `inbox_table`, `row`, `change_id` FROM `dfs`.`fieldsync`.`%s/inbox_log` WHERE `status` = 'applied') l "+
		"JOIN (SELECT `change_id` FROM `dfs`.`fieldsync`.`%s/changes`) c ON c.`change_id` = l.`change_id`", coll, coll))
	n, _ = asInt(r[0]["n"])
	if int(n) != wantServer {
		tb.Errorf("%d applied inbox rows have their change in the log, want %d", n, wantServer)
	}
}

func TestIntegrationIngest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := realDrill(t)
	set, name := itSchema(t)
	coll := name("inspections")
	a := mustNode(t, "a", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
	b := mustNode(t, "b", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
	a.edit(t, coll, "r1", `{"site":"Quay 3","temp":1.5}`)
	a.edit(t, coll, "r2", `{"site":"Riversdie","count":2}`)
	a.edit(t, coll, "r3", `{"site":"Riversdie"}`)
	a.edit(t, coll, "r4", `{"site":"test record"}`)
	a.sync(t)

	one := "FROM (VALUES(1))"
	inbox(t, d, coll, "fix-r1", "SELECT 'r1' AS record_id, 'Quay 4' AS site, 'ana' AS author, 'typo' AS reason "+one)
	inbox(t, d, coll, "bulk-site", fmt.Sprintf("SELECT record_id, 'Riverside' AS site, 'ana' AS author, 'misspelled site' AS reason "+
		"FROM `dfs`.`fieldsync`.`%s_current` WHERE site = 'Riversdie'", coll))
	inbox(t, d, coll, "drop-test", "SELECT 'r4' AS record_id, 'delete' AS op, 'ana' AS author "+one)
	inbox(t, d, coll, "bad-rows", "SELECT 'r9' AS record_id, '20' AS temp, 'ana' AS author "+one+
		" UNION ALL SELECT 'r1' AS record_id, 'hot' AS temp, 'ana' AS author "+one+
		" UNION ALL SELECT 'r2' AS record_id, '7' AS temp, CAST(NULL AS VARCHAR) AS author "+one)
	inbox(t, d, coll, "bad-column", "SELECT 'r1' AS record_id, 'red' AS colour, 'ana' AS author "+one)
	inbox(t, d, coll, "zz-empty", "SELECT 'r1' AS record_id, 'x' AS site, 'ana' AS author "+one+" WHERE 1 = 0")

	in := mustIngester(t, d, IngestOptions{Schema: set})
	rep, err := in.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Applied != 4 || rep.Rejected != 4 || len(rep.Tables) != 6 || len(rep.Waiting) != 0 {
		t.Fatalf("first pass: %+v", rep)
	}
	// A second pass finds every table ingested.
	if rep, err = in.Run(ctx); err != nil || len(rep.Tables) != 0 || rep.Applied != 0 {
		t.Fatalf("second pass: %+v %v", rep, err)
	}
	// A second correction of r1 reads its current version from a log
	// that now holds a batch of deletes only (doc written as INT there).
	inbox(t, d, coll, "fix-r1-again", "SELECT 'r1' AS record_id, 2.5 AS temp, 'bo' AS author "+one)
	if rep, err = in.Run(ctx); err != nil || rep.Applied != 1 {
		t.Fatalf("third pass: %+v %v", rep, err)
	}
	checkOncePerRow(t, d, coll, 5)
	// An analyst makes an ingested table again with more rows: they are
	// never read, and the pass says so.
	if _, err := d.Query(ctx, fmt.Sprintf("DROP TABLE `dfs`.`fieldsync`.`%s/inbox/fix-r1`", coll)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	inbox(t, d, coll, "fix-r1", "SELECT 'r1' AS record_id, 'Quay 9' AS site, 'ana' AS author "+one+
		" UNION ALL SELECT 'r2' AS record_id, 'Quay 9' AS site, 'ana' AS author "+one)
	if rep, err = in.Run(ctx); err != nil || rep.Applied != 0 || len(rep.Changed) != 1 || !strings.Contains(rep.Changed[0], "fix-r1 changed after it was ingested") {
		t.Fatalf("pass over a remade table: %+v %v", rep, err)
	}
	checkOncePerRow(t, d, coll, 5)

	// The analyst sees every rejected row with why.
	rej := queryRows(t, d, fmt.Sprintf("SELECT `inbox_table`, `record_id`, `why_rejected` FROM `dfs`.`fieldsync`.`%s_inbox_rejected` ORDER BY `inbox_table`, `record_id`", coll))
	var whys []string
	for _, r := range rej {
		whys = append(whys, fmt.Sprintf("%v/%v: %v", r["inbox_table"], r["record_id"], r["why_rejected"]))
	}
	for i, want := range []string{"bad-column/r1: column colour is not a declared field",
		"bad-rows/r1: field temp: \"hot\" does not convert to a number",
		"bad-rows/r2: author is missing",
		"bad-rows/r9: unknown record \"r9\"",
		"zz-empty/: the table holds no rows"} {
		if i >= len(whys) || !strings.HasPrefix(whys[i], want) {
			t.Errorf("rejected row %d = %q, want it to start with %q (all: %q)", i, at(whys, i), want, whys)
		}
	}

	// Devices pull the changes like any other: the one that made the
	// records and a fresh one.
	for _, n := range []*node{a, b} {
		n.sync(t)
		r1 := n.record(t, coll, "r1")
		if string(r1.Doc) != `{"site":"Quay 4","temp":2.5}` {
			t.Errorf("%s: r1 = %s, want the site and then the temperature corrected", n.device, r1.Doc)
		}
		for _, id := range []string{"r2", "r3"} {
			if r := n.record(t, coll, id); !strings.Contains(string(r.Doc), `"site":"Riverside"`) {
				t.Errorf("%s: %s = %s, want the bulk fix", n.device, id, r.Doc)
			}
		}
		if r4 := n.record(t, coll, "r4"); !r4.Deleted {
			t.Errorf("%s: r4 = %+v, want it deleted", n.device, r4)
		}
		if cfs, err := n.st.Conflicts(ctx, coll); err != nil || len(cfs) != 0 {
			t.Errorf("%s: conflicts %v %v, want none", n.device, cfs, err)
		}
	}
	if r1 := a.record(t, coll, "r1"); r1.Device != ServerDevice || r1.Author != "bo" {
		t.Errorf("r1's winner: device %q author %q, want server and bo", r1.Device, r1.Author)
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// TestIntegrationIngestConflict: an analyst's correction made while a
// device edits the same field offline is a conflict whose side is named
// "server (analyst)"; prefer-server keeps that side (settled by the device,
// since the server settles nothing), and a person's "keep the server's"
// resolution reaches Drill and the other device.
func TestIntegrationIngestConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := realDrill(t)
	prefix := fmt.Sprintf("ic%d_%d_", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1))
	sites, pref := prefix+"sites", prefix+"pref"
	set, err := schema.Parse([]byte(`{"collections":[
	 {"name":"` + sites + `","fields":[{"name":"site","type":"text","required":true}]},
	 {"name":"` + pref + `","policy":"prefer-server","fields":[{"name":"a","type":"text"},{"name":"b","type":"text"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := mustNode(t, "a", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
	b := mustNode(t, "b", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
	a.edit(t, sites, "s1", `{"site":"Quay"}`)
	a.edit(t, pref, "p1", `{"a":"0","b":"0"}`)
	a.sync(t)
	b.sync(t)
	// Offline edits on a, then the analyst's corrections of the same fields.
	a.edit(t, sites, "s1", `{"site":"Quay (device)"}`)
	a.edit(t, pref, "p1", `{"a":"A","b":"B"}`)
	one := "FROM (VALUES(1))"
	inbox(t, d, sites, "fix", "SELECT 's1' AS record_id, 'Quay (server)' AS site, 'ana' AS author "+one)
	inbox(t, d, pref, "fix", "SELECT 'p1' AS record_id, 'S' AS a, 'ana' AS author "+one)
	in := mustIngester(t, d, IngestOptions{Schema: set})
	if rep, err := in.Run(ctx); err != nil || rep.Applied != 2 {
		t.Fatalf("ingest: %+v %v", rep, err)
	}
	// a pulls the server's changes and settles p1 (its push reaches b on
	// the next round).
	for _, n := range []*node{a, b, a, b} {
		n.sync(t)
	}
	for _, n := range []*node{a, b} {
		cf, err := n.st.Conflict(ctx, sites, "s1")
		if err != nil {
			t.Fatalf("%s: the concurrent edits of s1 are not a conflict: %v", n.device, err)
		}
		var sides []string
		for _, l := range cf.Leaves {
			sides = append(sides, SideName(l))
		}
		if strings.Join(sides, ", ") != "ann@a, server (ana)" && strings.Join(sides, ", ") != "server (ana), ann@a" {
			t.Errorf("%s: sides of the conflict = %q, want ann@a and server (ana)", n.device, sides)
		}
		// prefer-server kept the server's version, whole.
		if r := n.record(t, pref, "p1"); string(r.Doc) != `{"a":"S","b":"0"}` || len(r.Leaves) != 1 {
			t.Errorf("%s: p1 = %s (leaves %v), want the server's version, settled", n.device, r.Doc, r.Leaves)
		}
	}
	if _, err := a.ag.Resolve(ctx, sites, "s1", Choice{Take: TakeServer, Author: "sam"}); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	b.sync(t)
	for _, n := range []*node{a, b} {
		if r := n.record(t, sites, "s1"); string(r.Doc) != `{"site":"Quay (server)"}` || len(r.Leaves) != 1 {
			t.Errorf("%s: s1 = %s (leaves %v), want the server's side kept", n.device, r.Doc, r.Leaves)
		}
	}
	cur := queryRows(t, d, fmt.Sprintf("SELECT `site` FROM `dfs`.`fieldsync`.`%s_current` WHERE `record_id` = 's1'", sites))
	if len(cur) != 1 || cur[0]["site"] != "Quay (server)" {
		t.Errorf("Drill's current s1 = %v, want the resolution", cur)
	}

	// A conflict between the two devices, resolved by an analyst with SQL:
	// the inbox row's change has every leaf as parent, so it settles the
	// conflict on both devices and is listed as her resolution.
	a.edit(t, sites, "s1", `{"site":"Quay A"}`)
	b.edit(t, sites, "s1", `{"site":"Quay B"}`)
	for _, n := range []*node{a, b, a} {
		n.sync(t)
	}
	for _, n := range []*node{a, b} {
		if _, err := n.st.Conflict(ctx, sites, "s1"); err != nil {
			t.Fatalf("%s: the edits of s1 on a and b are not a conflict: %v", n.device, err)
		}
	}
	inbox(t, d, sites, "settle", "SELECT 's1' AS record_id, 'Quay (checked)' AS site, 'ana' AS author, 'checked on site' AS reason "+one)
	if rep, err := in.Run(ctx); err != nil || rep.Applied != 1 {
		t.Fatalf("ingest of the resolution: %+v %v", rep, err)
	}
	a.sync(t)
	b.sync(t)
	for _, n := range []*node{a, b} {
		if r := n.record(t, sites, "s1"); string(r.Doc) != `{"site":"Quay (checked)"}` || len(r.Leaves) != 1 {
			t.Errorf("%s: s1 = %s (leaves %v), want the analyst's resolution", n.device, r.Doc, r.Leaves)
		}
	}
	res := queryRows(t, d, fmt.Sprintf("SELECT `resolved_by`, `how`, `note`, `device` FROM `dfs`.`fieldsync`.`%s_resolutions` "+
		"WHERE `record_id` = 's1' AND `resolved_by` = 'ana'", sites))
	if len(res) != 1 || res[0]["how"] != "server" || res[0]["note"] != "checked on site" || res[0]["device"] != ServerDevice {
		t.Errorf("the analyst's resolution in %s_resolutions = %v, want one row: how server, her note, device %s", sites, res, ServerDevice)
	}
}
