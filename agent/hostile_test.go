package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// The hostile-Drill suite: batches written with plain Drill SQL by someone
// who is not fieldsync, and batch directories damaged in the workspace,
// against the real Drillbit. Every other device keeps syncing everything
// else, exactly the bad rows and batches are quarantined with the right
// reason, and every store stays openable.

// sqlRow is one row of a hostile batch, as SQL expressions.
type sqlRow struct {
	changeID, recordID, op, version, parents, doc, batchRows string
}

// goodSQLRow is a valid row of device "evil" at ms in a batch of n rows.
func goodSQLRow(id string, ms int64, n int) sqlRow {
	return sqlRow{
		changeID: quote(id), recordID: quote(id), op: quote("put"),
		version: quote(fmt.Sprintf("%015d-0000-evil", ms)), parents: quote("[]"),
		doc: quote(`{"site":"from SQL"}`), batchRows: fmt.Sprintf("CAST(%d AS BIGINT)", n),
	}
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// writeSQLBatch writes a batch the way an analyst would: CTAS over
// literals, no fieldsync involved.
func writeSQLBatch(tb testing.TB, d Drill, coll, name string, rows []sqlRow) {
	tb.Helper()
	var sel []string
	for _, r := range rows {
		sel = append(sel, fmt.Sprintf("SELECT %s AS `change_id`, %s AS `record_id`, %s AS `op`, %s AS `version`, %s AS `parents`, "+
			"'evil' AS `device`, 'analyst' AS `author`, CAST(1 AS BIGINT) AS `edited_at`, %s AS `batch_rows`, %s AS `doc` FROM (VALUES(1))",
			r.changeID, r.recordID, r.op, r.version, r.parents, r.batchRows, r.doc))
	}
	sql := fmt.Sprintf("CREATE TABLE `dfs`.`fieldsync`.`%s/changes/%s` AS %s", coll, name, strings.Join(sel, " UNION ALL "))
	if _, err := d.Query(context.Background(), sql); err != nil {
		tb.Fatalf("write hostile batch %s: %v", name, err)
	}
}

// writeJSONBatch writes a batch of one good row as a JSON file, as an
// analyst's CTAS with store.format = json would: a batch of another format
// than fieldsync's own, which Drill reads alongside Parquet only when named
// on its own.
func writeJSONBatch(tb testing.TB, coll, path, id string, ms int64) {
	tb.Helper()
	dir := filepath.Join(drilltest.WorkspaceDir(tb), coll, "changes", filepath.FromSlash(path))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	row := map[string]any{"change_id": id, "record_id": id, "op": "put", "version": fmt.Sprintf("%015d-0000-evil", ms),
		"parents": "[]", "device": "evil", "author": "analyst", "edited_at": 1, "batch_rows": 1, "doc": `{"site":"from JSON"}`}
	b, err := json.Marshal(row)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0_0_0.json"), b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// hostileSetup gives a test the real Drill, a private collection and its
// declarations, and the time now.
func hostileSetup(t *testing.T) (d Drill, set *schema.Set, coll string, now int64) {
	t.Helper()
	t.Parallel()
	d = realDrill(t)
	set, name := itSchema(t)
	return d, set, name("inspections"), time.Now().UnixMilli()
}

func TestIntegrationHostileDrill(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	ctx := context.Background()
	fast := func(o *Options) { o.Schema = set; o.PullRetries = 2; o.PullRetryWait = time.Millisecond }
	// Device names of this run only, so that the fleet table's row of a
	// device is this test's.
	tag := fmt.Sprintf("h%d", time.Now().UnixNano()%1_000_000_000)
	a := mustNode(t, tag+"a", now, d, fast)
	b := mustNode(t, tag+"b", now, d, fast)
	a.edit(t, coll, "a1", `{"site":"a one"}`)
	a.sync(t)
	b.sync(t) // b has synced before; c below is fresh

	year := (365 * 24 * time.Hour).Milliseconds()
	rowCases := []struct {
		id     string
		breaks func(*sqlRow)
		reason string
	}{
		{"nullid", func(r *sqlRow) { r.changeID = "CAST(NULL AS VARCHAR)" }, "change_id is NULL"},
		{"garbage", func(r *sqlRow) { r.version = quote("not-a-version") }, "want WWWWWWWWWWWWWWW-CCCC-node"},
		{"future", func(r *sqlRow) { r.version = quote(fmt.Sprintf("%015d-0000-evil", now+year)) }, "ahead of the clocks"},
		{"maxwall", func(r *sqlRow) { r.version = quote("999999999999999-fffe-x") }, "ahead of the clocks"},
		{"parents", func(r *sqlRow) { r.parents = quote("{not json") }, "parents is not a JSON list"},
		{"nullmeta", func(r *sqlRow) { r.batchRows = "CAST(NULL AS BIGINT)" }, "batch_rows is NULL"},
		{"brokenjson", func(r *sqlRow) { r.doc = quote(`{"site": "unterminated`) }, "doc is not a JSON object"},
	}
	ms := now - 1000
	for i, rc := range rowCases {
		bad := goodSQLRow("bad-"+rc.id, ms, 2)
		rc.breaks(&bad)
		writeSQLBatch(t, d, coll, batchName(ms+int64(i), "evil", uint64(i+1)),
			[]sqlRow{goodSQLRow("ok-"+rc.id, ms, 2), bad})
	}
	// Batches damaged in the workspace: a 0-byte parquet file left by a
	// killed CTAS, a directory that parses as a batch but is empty, and a
	// broken JSON file.
	ws := filepath.Join(drilltest.WorkspaceDir(t), coll, "changes")
	zero := batchName(ms+100, "dead", 1)
	empty := batchName(ms+101, "dead", 2)
	broken := batchName(ms+102, "dead", 3)
	for _, dir := range []string{zero, empty, broken} {
		if err := os.MkdirAll(filepath.Join(ws, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ws, zero, "0_0_0.parquet"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, broken, "0_0_0.json"), []byte(`{"change_id":"x","doc":`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A good device keeps writing after them.
	a.edit(t, coll, "a2", `{"site":"a two"}`)
	a.sync(t)

	c := mustNode(t, tag+"c", now, d, fast)
	for _, n := range []*node{b, c} {
		n.sync(t) // first read of the unreadable batches
		rep := n.sync(t)
		if rep.Quarantined != 3 {
			t.Errorf("%s: second sync quarantined %d batches, want 3: %+v", n.device, rep.Quarantined, rep)
		}
		// Everything good arrived, from a and from the hostile batches.
		for _, id := range []string{"a1", "a2"} {
			n.record(t, coll, id)
		}
		for _, rc := range rowCases {
			n.record(t, coll, "ok-"+rc.id)
			if _, err := n.st.Record(ctx, coll, "bad-"+rc.id); err == nil {
				t.Errorf("%s: bad row %s was applied", n.device, rc.id)
			}
		}
		items, err := n.st.QuarantineList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(rowCases)+3 {
			t.Errorf("%s: %d items quarantined, want %d: %+v", n.device, len(items), len(rowCases)+3, items)
		}
		reasons := map[string]string{}
		for _, q := range items {
			t.Logf("%s: quarantined %s", n.device, QuarantineText(q))
			key := q.ChangeID
			if q.Kind == store.QuarantineBatch {
				key = q.Batch
			} else if key == "" {
				key = "bad-nullid"
			}
			reasons[key] = q.Reason
		}
		for _, rc := range rowCases {
			if r := reasons["bad-"+rc.id]; !strings.Contains(r, rc.reason) {
				t.Errorf("%s: row %s quarantined for %q, want %q", n.device, rc.id, r, rc.reason)
			}
		}
		for _, want := range []struct{ batch, reason string }{
			{zero, "Drill could not read the batch"}, {empty, "the batch holds no rows"}, {broken, "Drill could not read the batch"},
		} {
			if r, ok := reasons[want.batch]; !ok || !strings.Contains(r, want.reason) {
				t.Errorf("%s: batch %s quarantined for %q (found %v), want %q", n.device, want.batch, r, ok, want.reason)
			}
		}
		st := n.ag.Status()
		if st.Quarantined != len(rowCases)+3 || len(st.QuarantineReasons) == 0 || st.LastError != "" {
			t.Errorf("%s: status %+v", n.device, st)
		}
		// The fleet table tells IT the same: the heartbeat of the sync
		// that quarantined them.
		if q, skew := fleetRow(t, d, n.device); q != int64(len(rowCases)+3) || skew != st.ClockSkewMS {
			t.Errorf("%s: fleet table says quarantined %d, clock_skew_ms %d; want %d and %d", n.device, q, skew, len(rowCases)+3, st.ClockSkewMS)
		}
		// The far-future rows did not drag the clock; local edits after
		// them and a reopen of the store work.
		n.edit(t, coll, "after-"+n.device, `{"site":"later"}`)
		v, err := n.st.NextVersion(ctx)
		if err != nil || v.WallMS > time.Now().Add(time.Hour).UnixMilli() {
			t.Errorf("%s: clock at %s (%v) after far-future rows", n.device, v, err)
		}
		path := n.st.Path()
		if err := n.st.Close(); err != nil {
			t.Fatal(err)
		}
		re, err := store.Open(ctx, path, &store.Options{DeviceID: n.device})
		if err != nil {
			t.Fatalf("%s: store does not reopen: %v", n.device, err)
		}
		if _, err := re.Stats(ctx); err != nil {
			t.Errorf("%s: stats after reopen: %v", n.device, err)
		}
		_ = re.Close()
	}
}

// TestIntegrationClockAYearAhead: a device whose clock is a year ahead
// neither drags the others' clocks nor writes versions they would refuse;
// it is told its clock is off.
func TestIntegrationClockAYearAhead(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	ctx := context.Background()
	year := (365 * 24 * time.Hour).Milliseconds()
	tag := fmt.Sprintf("y%d", time.Now().UnixNano()%1_000_000_000)
	skewed := mustNode(t, tag+"ahead", now+year, d, func(o *Options) { o.Schema = set })
	right := mustNode(t, tag+"right", now, d, func(o *Options) { o.Schema = set })
	skewed.edit(t, coll, "from-the-future", `{"site":"2027"}`)
	rep := skewed.sync(t)
	if rep.Pushed != 0 || len(rep.Unpushable) != 1 || !strings.Contains(rep.Unpushable[0], "ahead of the clocks") {
		t.Errorf("year-ahead device pushed: %+v", rep)
	}
	st := skewed.ag.Status()
	if st.ClockSkewMS < year-60_000 || !strings.Contains(st.ClockWarning, "ahead of Drill's clock") || st.Pending != 1 {
		t.Errorf("year-ahead status: skew %d ms, warning %q, pending %d", st.ClockSkewMS, st.ClockWarning, st.Pending)
	}
	right.edit(t, coll, "now", `{"site":"today"}`)
	right.sync(t)
	if rep := skewed.sync(t); rep.Pulled != 1 {
		t.Errorf("year-ahead device did not pull: %+v", rep)
	}
	if rep := right.sync(t); rep.Pulled != 0 {
		t.Errorf("right device pulled %+v from the year-ahead one", rep)
	}
	v, err := right.st.NextVersion(ctx)
	if err != nil || v.WallMS > now+time.Hour.Milliseconds() {
		t.Errorf("right device's clock at %s (%v)", v, err)
	}
	if s := right.ag.Status(); s.ClockWarning != "" || s.ClockSkewMS > 60_000 || s.ClockSkewMS < -60_000 {
		t.Errorf("right device: skew %d ms, warning %q", s.ClockSkewMS, s.ClockWarning)
	}
	// The fleet table shows IT which device's clock is off.
	if _, skew := fleetRow(t, d, skewed.device); skew < year-60_000 || skew > year+60_000 {
		t.Errorf("fleet table: year-ahead device's clock_skew_ms %d, want about %d", skew, year)
	}
	if _, skew := fleetRow(t, d, right.device); skew > 60_000 || skew < -60_000 {
		t.Errorf("fleet table: right device's clock_skew_ms %d, want about 0", skew)
	}
}

// fleetRow returns a device's quarantined and clock_skew_ms in the fleet
// table (its latest heartbeat).
func fleetRow(tb testing.TB, d Drill, device string) (quarantined, skewMS int64) {
	tb.Helper()
	r := queryOne(tb, d, fmt.Sprintf("SELECT `quarantined`, `clock_skew_ms` FROM `dfs`.`fieldsync`.`%s` WHERE `device` = %s", FleetDir, quote(device)))
	num := func(k string) int64 {
		n, err := strconv.ParseInt(fmt.Sprint(r[k]), 10, 64)
		if err != nil {
			tb.Fatalf("fleet table: %s of %s is %v: %v", k, device, r[k], err)
		}
		return n
	}
	return num("quarantined"), num("clock_skew_ms")
}
