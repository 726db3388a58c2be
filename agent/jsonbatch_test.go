package agent

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// jsonFiles counts the JSON batch files under a collection's change log.
func jsonFiles(tb testing.TB, coll string) int {
	tb.Helper()
	n := 0
	root := filepath.Join(drilltest.WorkspaceDir(tb), coll, "changes")
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.IsDir() && strings.HasSuffix(p, ".json") && !strings.HasPrefix(de.Name(), ".") {
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestIntegrationJSONBatches runs a fleet that writes its batches as JSON
// (drill.batch_format = json) against the real Drillbit: devices read each
// other's JSON batches as they come; the views, which read Parquet only,
// show them once a compaction pass has rewritten them as Parquet (and
// dropped them); then the closed hours fold as usual. Every change once on
// every device, in the log and in the views, at each step.
func TestIntegrationJSONBatches(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	ctx := context.Background()
	withJSON := func(o *Options) { o.Schema = set; o.BatchRows = 2; o.BatchFormat = BatchJSON }
	a := mustNode(t, "a", now, d, withJSON)
	b := mustNode(t, "b", now, d, withJSON)
	for i := range 5 {
		a.edit(t, coll, fmt.Sprint("a", i), `{"site":"a"}`)
	}
	if rep := a.sync(t); rep.Batches != 3 {
		t.Fatalf("a pushed %+v, want 3 batches", rep)
	}
	if n := jsonFiles(t, coll); n != 3 {
		t.Fatalf("%d JSON files in the log, want a's 3 batches", n)
	}
	b.edit(t, coll, "b0", `{"site":"b"}`)
	if rep := b.sync(t); rep.Pulled != 5 || rep.PulledBatches != 3 || rep.Quarantined != 0 || rep.Incomplete != 0 {
		t.Fatalf("b pulled %+v, want a's 5 changes of 3 JSON batches", rep)
	}
	a.sync(t)
	if got := a.record(t, coll, "b0"); got.ID != "b0" {
		t.Fatalf("a lacks b's change")
	}
	current := fmt.Sprintf("SELECT COUNT(*) AS n FROM `dfs`.`fieldsync`.`%s_current`", coll)
	// The views read Parquet files only: nothing yet (the view exists:
	// a device creates it on its first push).
	if _, err := d.Query(ctx, current); err == nil || !isNotFound(err) {
		if n, _ := asInt(queryOne(t, d, current)["n"]); n != 0 {
			t.Errorf("%s_current holds %d rows before the JSON batches were rewritten, want 0", coll, n)
		}
	}

	// A pass rewrites the JSON batches as one Parquet batch each
	// partition and drops them; the hours are not closed yet.
	comp, err := NewCompactor(CompactOptions{Drill: d, Schema: set, JSONSettle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := comp.Compact(ctx, coll)
	if err != nil {
		t.Fatalf("compact: %v (%+v)", err, rep)
	}
	if lc := rep.Logs[0]; lc.Converted != 4 || len(lc.Skipped) != 0 {
		t.Errorf("pass: %+v, want a's 3 and b's 1 JSON batches rewritten", lc)
	}
	if n := jsonFiles(t, coll); n != 0 {
		t.Errorf("%d JSON files left after the pass, want none", n)
	}
	assertExactlyOnceSQL(t, d, coll, 6)
	c := mustNode(t, "c", now, d, withJSON)
	c.sync(t)
	a.sync(t)
	b.sync(t)
	assertEverywhere(t, d, coll, 6, a, b, c)

	// More JSON batches beside the rewritten one, then a pass that also
	// closes the hours (Now three days ahead): everything folds.
	a.edit(t, coll, "a9", `{"site":"a again"}`)
	a.sync(t)
	if rep := b.sync(t); rep.Pulled != 1 || rep.Quarantined != 0 {
		t.Errorf("b pulled %+v, want a's new change", rep)
	}
	closing, err := NewCompactor(CompactOptions{Drill: d, Schema: set, JSONSettle: time.Millisecond,
		Now: func() time.Time { return time.Now().Add(72 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = closing.Compact(ctx, coll)
	if err != nil {
		t.Fatalf("compact: %v (%+v)", err, rep)
	}
	if lc := rep.Logs[0]; lc.Converted != 1 || len(lc.Written) == 0 || len(lc.Skipped) != 0 {
		t.Errorf("closing pass: %+v, want the JSON batch rewritten and the hours folded", lc)
	}
	for _, e := range topEntries(t, coll) {
		if _, ok := parseCompacted(e); !ok {
			t.Errorf("after the closing pass %s is at the top of the log", e)
		}
	}
	assertExactlyOnceSQL(t, d, coll, 7)
	fresh := mustNode(t, "fresh", now, d, withJSON)
	fresh.sync(t)
	a.sync(t)
	b.sync(t)
	c.sync(t)
	assertEverywhere(t, d, coll, 7, a, b, c, fresh)
}

// TestIntegrationLightPass: Compactor.Convert (fieldsync compact
// --json-only) rewrites the settled JSON batches of the open hours as
// Parquet and does nothing else: no hour folded, no snapshot. Devices
// still get every change once, the views show them, and batches not
// settled yet are left.
func TestIntegrationLightPass(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	ctx := context.Background()
	withJSON := func(o *Options) { o.Schema = set; o.BatchRows = 1; o.BatchFormat = BatchJSON }
	a := mustNode(t, "a", now, d, withJSON)
	b := mustNode(t, "b", now, d, withJSON)
	for i := range 3 {
		a.edit(t, coll, fmt.Sprint("a", i), `{"site":"a"}`)
	}
	if rep := a.sync(t); rep.Batches != 3 {
		t.Fatalf("a pushed %+v, want 3 batches", rep)
	}
	b.sync(t)
	// With the default settle (45 min) nothing written now is rewritten.
	unsettled, err := NewCompactor(CompactOptions{Drill: d, Schema: set})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := unsettled.Convert(ctx, coll); err != nil || rep.Logs[0].Converted != 0 {
		t.Fatalf("light pass with the default settle: %+v %v, want nothing rewritten", rep, err)
	}
	light, err := NewCompactor(CompactOptions{Drill: d, Schema: set, JSONSettle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := light.Convert(ctx, coll)
	if err != nil {
		t.Fatalf("light pass: %v (%+v)", err, rep)
	}
	if lc := rep.Logs[0]; lc.Converted != 3 || len(lc.Written) != 0 || len(lc.Skipped) != 0 || len(rep.Snapshots) != 0 {
		t.Errorf("light pass: %+v, want a's 3 JSON batches rewritten, nothing folded, no snapshot", rep)
	}
	if n := jsonFiles(t, coll); n != 0 {
		t.Errorf("%d JSON files left after the light pass, want none", n)
	}
	for _, e := range topEntries(t, coll) {
		if _, ok := parsePartition(e); !ok {
			t.Errorf("after a light pass %s is at the top of the log: it folds nothing", e)
		}
	}
	a.edit(t, coll, "a3", `{"site":"a again"}`)
	a.sync(t)
	if rep, err := light.Convert(ctx, coll); err != nil || rep.Logs[0].Converted != 1 {
		t.Errorf("second light pass: %+v %v, want a's new batch rewritten", rep, err)
	}
	// What the views read (they are made by the full passes and the
	// devices): every change once, in Parquet.
	assertExactlyOnceSQL(t, d, coll, 4)
	fresh := mustNode(t, "fresh", now, d, withJSON)
	fresh.sync(t)
	b.sync(t)
	assertEverywhere(t, d, coll, 4, a, b, fresh)
}
