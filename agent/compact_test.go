package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
)

func TestCompactedNames(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	name := compactedName(day.UnixMilli(), day.AddDate(0, 0, 1).UnixMilli(), 3, "ab12")
	if name != "2026120500_2026120600_c0003-ab12" {
		t.Fatalf("compactedName = %q", name)
	}
	ce, ok := parseCompacted(name)
	if !ok || ce.gen != 3 || ce.writer != "ab12" || ce.start != day.UnixMilli() || ce.end != day.AddDate(0, 0, 1).UnixMilli() {
		t.Errorf("parseCompacted(%q) = %+v %v", name, ce, ok)
	}
	if _, _, ok := parseBatchName(name); ok {
		t.Errorf("a compacted entry parses as a batch name")
	}
	for _, bad := range []string{"2026120500", "2026120600_2026120500_c0001-x", "2026120500_2026120600_c0000-x", "2026120500_2026120600_c0001-", "001796552322086_dev_000000000001"} {
		if _, ok := parseCompacted(bad); ok {
			t.Errorf("parseCompacted(%q) ok", bad)
		}
	}
}

func TestFoldRange(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	nextMonth := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		start, end time.Time // end zero: the hour after start
		closed     time.Time
		from, to   time.Time
		ok         bool
	}{
		{name: "open hour", start: day.Add(5 * time.Hour), closed: day.Add(5*time.Hour + 30*time.Minute)},
		{name: "closed hour, its day not over", start: day.Add(5 * time.Hour), closed: day.Add(20 * time.Hour), from: day.Add(5 * time.Hour), to: day.Add(6 * time.Hour), ok: true},
		{name: "closed day", start: day.Add(5 * time.Hour), closed: day.AddDate(0, 0, 1).Add(time.Hour), from: day, to: day.AddDate(0, 0, 1), ok: true},
		{name: "closed month", start: day.Add(5 * time.Hour), closed: nextMonth, from: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), to: nextMonth, ok: true},
		{name: "written late the same day, the day closed", start: day.Add(5 * time.Hour), end: day.Add(9 * time.Hour), closed: day.AddDate(0, 0, 1), from: day, to: day.AddDate(0, 0, 1), ok: true},
		{name: "written late the same day, the day open", start: day.Add(5 * time.Hour), end: day.Add(9 * time.Hour), closed: day.Add(10 * time.Hour), from: day.Add(5 * time.Hour), to: day.Add(9 * time.Hour), ok: true},
		{name: "written late the next day: never the day's entry", start: day.Add(20 * time.Hour), end: day.Add(26 * time.Hour), closed: day.AddDate(0, 0, 3), from: day.Add(20 * time.Hour), to: day.Add(26 * time.Hour), ok: true},
		{name: "written late, the hour it landed in open", start: day.Add(20 * time.Hour), end: day.Add(26 * time.Hour), closed: day.Add(25 * time.Hour)},
		{name: "written late the next day, the month closed", start: day.Add(20 * time.Hour), end: day.Add(26 * time.Hour), closed: nextMonth, from: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), to: nextMonth, ok: true},
		{name: "a day entry whose month is open", start: day, end: day.AddDate(0, 0, 1), closed: day.AddDate(0, 0, 2), from: day, to: day.AddDate(0, 0, 1), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end := tt.end
			if end.IsZero() {
				end = tt.start.Add(time.Hour)
			}
			from, to, ok := foldRange(tt.start.UnixMilli(), end.UnixMilli(), tt.closed.UnixMilli())
			if ok != tt.ok || (ok && (from != tt.from.UnixMilli() || to != tt.to.UnixMilli())) {
				t.Errorf("foldRange = %v %v %v, want %v %v %v", time.UnixMilli(from).UTC(), time.UnixMilli(to).UTC(), ok, tt.from, tt.to, tt.ok)
			}
		})
	}
}

// TestLandedEnd: an hour or batch written more than partitionSlack after
// its hour ended ranges to the end of the hour it landed in, so that the
// entry folding it ends after the time readers give it.
func TestLandedEnd(t *testing.T) {
	t.Parallel()
	hour := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	end := hour.Add(time.Hour)
	tests := []struct {
		name    string
		mtime   time.Time
		wantEnd time.Time
	}{
		{"written within its hour", hour.Add(59 * time.Minute), end},
		{"unknown directory time", time.UnixMilli(0), end},
		{"a CTAS finishing just after the hour", end.Add(partitionSlack), end},
		{"written 11 minutes after the hour", end.Add(11 * time.Minute), end.Add(time.Hour)},
		{"written five hours late", end.Add(4*time.Hour + 13*time.Minute), end.Add(5 * time.Hour)},
		{"written late on the hour", end.Add(3 * time.Hour), end.Add(4 * time.Hour)},
	}
	for _, tt := range tests {
		if got := landedEnd(end.UnixMilli(), tt.mtime.UnixMilli()); got != tt.wantEnd.UnixMilli() {
			t.Errorf("%s: landedEnd = %v, want %v", tt.name, time.UnixMilli(got).UTC(), tt.wantEnd)
		}
	}
}

// mustCompactor is a compactor whose clock is three days ahead, so that
// every hour written now is closed.
func mustCompactor(tb testing.TB, d Drill, set *schema.Set) *Compactor {
	tb.Helper()
	c, err := NewCompactor(CompactOptions{Drill: d, Schema: set, JSONSettle: time.Millisecond,
		Now: func() time.Time { return time.Now().Add(72 * time.Hour) }})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// topEntries lists the names at the top of a collection's change log.
func topEntries(tb testing.TB, coll string) []string {
	tb.Helper()
	des, err := os.ReadDir(filepath.Join(drilltest.WorkspaceDir(tb), coll, "changes"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if de.IsDir() {
			out = append(out, de.Name())
		}
	}
	return out
}

// partitionEntries returns the directory of a collection's change log and
// the names in each of its hour partitions.
func partitionEntries(tb testing.TB, coll string) (root string, parts map[string][]string) {
	tb.Helper()
	root = filepath.Join(drilltest.WorkspaceDir(tb), coll, "changes")
	parts = map[string][]string{}
	for _, part := range topEntries(tb, coll) {
		if _, ok := parsePartition(part); !ok {
			continue
		}
		des, err := os.ReadDir(filepath.Join(root, part))
		if err != nil {
			tb.Fatal(err)
		}
		for _, de := range des {
			parts[part] = append(parts[part], de.Name())
		}
	}
	return root, parts
}

// toLegacy moves every batch of a collection's hour partitions to the top
// of changes/, as the first layout wrote them.
func toLegacy(tb testing.TB, coll string) int {
	tb.Helper()
	root, parts := partitionEntries(tb, coll)
	n := 0
	for part, names := range parts {
		for _, name := range names {
			if err := os.Rename(filepath.Join(root, part, name), filepath.Join(root, name)); err != nil {
				tb.Fatal(err)
			}
			n++
		}
		if err := os.Remove(filepath.Join(root, part)); err != nil {
			tb.Fatal(err)
		}
	}
	return n
}

// assertEverywhere checks that every device holds want records of coll and
// that the log and the current-state view hold each change once.
func assertEverywhere(tb testing.TB, d Drill, coll string, want int, nodes ...*node) {
	tb.Helper()
	for _, n := range nodes {
		stats, err := n.st.Stats(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		if got := stats.Collections[coll].Live; got != int64(want) {
			tb.Errorf("device %s holds %d records of %s, want %d", n.device, got, coll, want)
		}
	}
	r := queryOne(tb, d, fmt.Sprintf("SELECT COUNT(*) AS n, COUNT(DISTINCT `record_id`) AS d FROM `dfs`.`fieldsync`.`%s_current`", coll))
	if n, _ := asInt(r["n"]); n != int64(want) {
		tb.Errorf("%s_current holds %d rows, want %d", coll, n, want)
	}
	if dn, _ := asInt(r["d"]); dn != int64(want) {
		tb.Errorf("%s_current holds %d records, want %d", coll, dn, want)
	}
}

// TestIntegrationCompaction migrates a workspace of the first layout and
// compacts it while a fresh device pulls, then folds a batch written late
// into a compacted hour: every change once on every device, in the log and
// in the views; a second pass changes nothing.
func TestIntegrationCompaction(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	ctx := context.Background()
	withSet := func(o *Options) { o.Schema = set; o.BatchRows = 2 }
	a := mustNode(t, "a", now, d, withSet)
	b := mustNode(t, "b", now, d, withSet)
	for i := range 5 {
		a.edit(t, coll, fmt.Sprint("a", i), `{"site":"a"}`)
	}
	a.sync(t)
	if moved := toLegacy(t, coll); moved != 3 {
		t.Fatalf("moved %d batches to the first layout, want 3", moved)
	}
	// Devices keep working on the old layout: b reads it and pushes into
	// hour partitions beside it.
	for i := range 3 {
		b.edit(t, coll, fmt.Sprint("b", i), `{"site":"b"}`)
	}
	if rep := b.sync(t); rep.Pulled != 5 {
		t.Fatalf("b pulled %+v from the first layout, want 5", rep)
	}
	a.sync(t)
	want := 8
	assertEverywhere(t, d, coll, want, a, b)

	// A fresh device pulls while the compactor runs.
	fresh := mustNode(t, "fresh", now, d, withSet)
	var wg sync.WaitGroup
	wg.Add(1)
	var pullErr error
	go func() {
		defer wg.Done()
		for range 3 {
			if _, err := fresh.ag.SyncNow(ctx); err != nil {
				pullErr = err
			}
		}
	}()
	comp := mustCompactor(t, d, set)
	rep, err := comp.Compact(ctx, coll)
	wg.Wait()
	if err != nil {
		t.Fatalf("compact: %v (%+v)", err, rep)
	}
	if pullErr != nil {
		t.Errorf("a device pulling during compaction: %v", pullErr)
	}
	if lc := rep.Logs[0]; len(lc.Written) == 0 || lc.EntriesAfter > 2 || len(lc.Skipped) > 0 {
		t.Errorf("compaction: %+v, want the batches folded into one entry a day", lc)
	}
	for _, e := range topEntries(t, coll) {
		if _, ok := parseCompacted(e); !ok {
			t.Errorf("after compaction %s is at the top of the log", e)
		}
	}
	assertExactlyOnceSQL(t, d, coll, want)
	fresh.sync(t)
	late := mustNode(t, "late", now, d, withSet)
	late.sync(t)
	assertEverywhere(t, d, coll, want, a, b, fresh, late)

	// A second pass changes nothing.
	again, err := comp.Compact(ctx, coll)
	if err != nil || len(again.Logs[0].Written) != 0 {
		t.Errorf("second pass: %+v %v, want nothing written", again, err)
	}

	// A batch written late under an old name into a compacted hour is
	// pulled by devices and folded by the next pass.
	ms := now - 2*time.Minute.Milliseconds()
	writeSQLBatch(t, d, coll, partitionOf(ms)+"/"+batchName(ms, "evil", 1), []sqlRow{goodSQLRow("lateone", ms, 1)})
	want++
	if rep := b.sync(t); rep.Pulled != 1 {
		t.Errorf("b pulled %+v, want the late batch", rep)
	}
	if _, err := comp.Compact(ctx, coll); err != nil {
		t.Fatal(err)
	}
	assertExactlyOnceSQL(t, d, coll, want)
	a.sync(t)
	fresh.sync(t)
	newest := mustNode(t, "newest", now, d, withSet)
	newest.sync(t)
	assertEverywhere(t, d, coll, want, a, b, fresh, newest)
}

// TestIntegrationCompactForeignFormat puts, into an hour partition, a batch
// an analyst wrote as CSV, one written as JSON and an empty batch
// directory (a CTAS killed before it wrote): Drill reads a directory of
// mixed formats as one of them, so the compactor reads Parquet files only
// and must not drop the partition with the CSV batch in it. The JSON batch
// is rewritten as Parquet (as a JSON fleet's are), the partition stays
// (reported), everything else is folded, and nothing is lost.
func TestIntegrationCompactForeignFormat(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	ctx := context.Background()
	withSet := func(o *Options) { o.Schema = set; o.BatchRows = 1 }
	a := mustNode(t, "a", now, d, withSet)
	for i := range 3 {
		a.edit(t, coll, fmt.Sprint("a", i), `{"site":"a"}`)
	}
	if rep := a.sync(t); rep.Batches != 3 {
		t.Fatalf("a pushed %+v, want 3 batches", rep)
	}
	part := partitionOf(now)
	writeJSONBatch(t, coll, part+"/"+batchName(now-1, "aaa-json", 1), "json1", now-1)
	root := filepath.Join(drilltest.WorkspaceDir(t), coll, "changes")
	csvDir := filepath.Join(root, part, batchName(now-3, "aaa-csv", 1))
	if err := os.MkdirAll(csvDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(csvDir, "0_0_0.csv"), []byte("csv1,csv1,put\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, part, batchName(now-2, "dead", 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	// A clean hour of the same log, three hours back, with its directory
	// times of then (else it would count as written late).
	old := now - 3*time.Hour.Milliseconds()
	oldPart := partitionOf(old)
	then := time.UnixMilli(old)
	o := mustNode(t, "o", old, d, func(op *Options) { withSet(op); op.DrillClock = func() time.Time { return then } })
	o.edit(t, coll, "old1", `{"site":"o"}`)
	if rep := o.sync(t); rep.Batches != 1 {
		t.Fatalf("o pushed %+v, want 1 batch", rep)
	}
	_, parts := partitionEntries(t, coll)
	if len(parts[oldPart]) != 1 {
		t.Fatalf("partition %s holds %q, want o's batch", oldPart, parts[oldPart])
	}
	for _, p := range []string{filepath.Join(root, oldPart, parts[oldPart][0]), filepath.Join(root, oldPart)} {
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := mustCompactor(t, d, set).Compact(ctx, coll)
	if err != nil {
		t.Fatalf("compact: %v (%+v)", err, rep)
	}
	lc := rep.Logs[0]
	if !strings.Contains(strings.Join(lc.Skipped, "\n"), "not read as Parquet") || lc.Converted != 1 {
		t.Errorf("compaction %+v, want the JSON batch rewritten and the CSV batch's partition reported", lc)
	}
	if _, err := os.Stat(filepath.Join(csvDir, "0_0_0.csv")); err != nil {
		t.Errorf("the CSV batch is gone after compaction: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, oldPart)); err == nil {
		t.Errorf("the clean hour %s was not folded: %+v", oldPart, lc)
	}
	// The views read Parquet files: a's three, old1 and json1, rewritten.
	current := fmt.Sprintf("SELECT COUNT(*) AS n, COUNT(DISTINCT `record_id`) AS d FROM `dfs`.`fieldsync`.`%s_current`", coll)
	if n, _ := asInt(queryOne(t, d, current)["n"]); n != 5 {
		t.Errorf("%s_current holds %d rows, want 5 records", coll, n)
	}
	assertExactlyOnceSQL(t, d, coll, 5)
	fresh := mustNode(t, "fresh", now, d, withSet)
	fresh.sync(t)
	for _, id := range []string{"a0", "a1", "a2", "old1", "json1"} {
		if got := fresh.record(t, coll, id); got.ID != id {
			t.Errorf("fresh device lacks %s", id)
		}
	}
	// A second pass reports the partition again and loses nothing.
	again, err := mustCompactor(t, d, set).Compact(ctx, coll)
	if err != nil || !strings.Contains(strings.Join(again.Logs[0].Skipped, "\n"), "not read as Parquet") {
		t.Errorf("second pass: %+v %v", again, err)
	}
	if n, _ := asInt(queryOne(t, d, current)["n"]); n != 5 {
		t.Errorf("%s_current holds %d rows after a second pass, want 5 records", coll, n)
	}
	assertExactlyOnceSQL(t, d, coll, 5)
}

// TestIntegrationCompactSQLBatch: a batch written by hand with SQL
// literals (REQUIRED columns, where fieldsync's batches have OPTIONAL
// ones) in a closed hour. Drill's sort and hash aggregate refuse such a
// mix, so the views fail on it, and so did every pass's fold of its hour,
// for good. The fold reads every column as nullable: the hour is folded,
// the views answer again, and nothing is lost or doubled.
func TestIntegrationCompactSQLBatch(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	ctx := context.Background()
	old := now - 3*time.Hour.Milliseconds()
	oldPart := partitionOf(old)
	then := time.UnixMilli(old)
	withSet := func(o *Options) { o.Schema = set; o.BatchRows = 1 }
	a := mustNode(t, "a", old, d, func(o *Options) { withSet(o); o.DrillClock = func() time.Time { return then } })
	for i := range 2 {
		a.edit(t, coll, fmt.Sprint("a", i), `{"site":"a"}`)
	}
	if rep := a.sync(t); rep.Batches != 2 {
		t.Fatalf("a pushed %+v, want 2 batches", rep)
	}
	writeSQLBatch(t, d, coll, oldPart+"/"+batchName(old+1, "evil", 1), []sqlRow{goodSQLRow("sql1", old+1, 2), goodSQLRow("sql2", old+1, 2)})
	root := filepath.Join(drilltest.WorkspaceDir(t), coll, "changes")
	_, parts := partitionEntries(t, coll)
	if len(parts[oldPart]) != 3 {
		t.Fatalf("partition %s holds %q, want a's two batches and the SQL batch", oldPart, parts[oldPart])
	}
	for _, b := range parts[oldPart] {
		if err := os.Chtimes(filepath.Join(root, oldPart, b), then, then); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(root, oldPart), then, then); err != nil {
		t.Fatal(err)
	}
	history := fmt.Sprintf("SELECT COUNT(*) AS n FROM `dfs`.`fieldsync`.`%s_history`", coll)
	if _, err := d.Query(ctx, history); err == nil {
		t.Fatalf("%s_history answered over the mixed hour: this test no longer shows what it is for", coll)
	}
	rep, err := mustCompactor(t, d, set).Compact(ctx, coll)
	if err != nil {
		t.Fatalf("compact: %v (%+v)", err, rep)
	}
	if lc := rep.Logs[0]; len(lc.Skipped) != 0 || len(lc.Written) == 0 {
		t.Fatalf("compaction %+v, want the hour folded and nothing skipped", lc)
	}
	if _, err := os.Stat(filepath.Join(root, oldPart)); err == nil {
		t.Errorf("the hour %s is still there after its fold", oldPart)
	}
	if n, _ := asInt(queryOne(t, d, history)["n"]); n != 4 {
		t.Errorf("%s_history holds %d changes, want 4", coll, n)
	}
	current := fmt.Sprintf("SELECT COUNT(*) AS n FROM `dfs`.`fieldsync`.`%s_current`", coll)
	if n, _ := asInt(queryOne(t, d, current)["n"]); n != 4 {
		t.Errorf("%s_current holds %d records, want 4", coll, n)
	}
	assertExactlyOnceSQL(t, d, coll, 4)
	fresh := mustNode(t, "fresh", now, d, withSet)
	fresh.sync(t)
	for _, id := range []string{"a0", "a1", "sql1", "sql2"} {
		if got := fresh.record(t, coll, id); got.ID != id {
			t.Errorf("fresh device lacks %s", id)
		}
	}
}

// The compactor child: a process that runs compaction passes in a loop
// until it is killed.
const (
	envCompactChild = "FIELDSYNC_COMPACT_CHILD"
	envCompactDrill = "FIELDSYNC_COMPACT_DRILL"
)

// compactChild runs when the test binary is started as a compactor child:
// FIELDSYNC_COMPACT_CHILD is the collection.
func compactChild() {
	ctx := context.Background()
	coll := os.Getenv(envCompactChild)
	set, err := schema.Parse([]byte(`{"collections":[{"name":"` + coll + `","fields":[{"name":"n","type":"integer"}]}]}`))
	if err != nil {
		fmt.Fprintln(os.Stderr, "compact child:", err)
		os.Exit(2)
	}
	c, err := drill.New(drill.Options{Endpoints: []string{os.Getenv(envCompactDrill)}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "compact child:", err)
		os.Exit(2)
	}
	comp, err := NewCompactor(CompactOptions{Drill: DrillClient(c), Schema: set, JSONSettle: time.Millisecond,
		Now: func() time.Time { return time.Now().Add(72 * time.Hour) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "compact child:", err)
		os.Exit(2)
	}
	for {
		if _, err := comp.Compact(ctx, coll); err != nil {
			fmt.Fprintln(os.Stderr, "compact child:", err)
		}
	}
}

// TestIntegrationCompactKills kills compactor processes at random points,
// two at a time, while devices push and pull, then lets two compactors
// finish at once: every change once on every device, in the log and in
// the views. Device j writes its batches as JSON, so the kills also land
// in the passes' rewriting of JSON batches as Parquet.
func TestIntegrationCompactKills(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	set, name := itSchema(t)
	coll := name("inspections")
	// The child declares the collection with one integer field, as here.
	set, err := schema.Parse([]byte(`{"collections":[{"name":"` + coll + `","fields":[{"name":"n","type":"integer"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UnixMilli()
	withSet := func(o *Options) { o.Schema = set; o.BatchRows = 3 }
	a := mustNode(t, "a", now, d, withSet)
	b := mustNode(t, "b", now, d, withSet)
	j := mustNode(t, "j", now, d, func(o *Options) { withSet(o); o.BatchFormat = BatchJSON })
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(now), 8))
	want := 0
	start := func() *exec.Cmd {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envCompactChild+"="+coll, envCompactDrill+"="+drilltest.URL(t))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	const rounds = 6
	for round := range rounds {
		for i := range 4 {
			a.edit(t, coll, fmt.Sprintf("a%d-%d", round, i), fmt.Sprintf(`{"n":%d}`, i))
			want++
		}
		a.sync(t)
		for i := range 2 {
			j.edit(t, coll, fmt.Sprintf("j%d-%d", round, i), fmt.Sprintf(`{"n":%d}`, i))
			want++
		}
		j.sync(t)
		kids := []*exec.Cmd{start(), start()}
		// b pulls while they run.
		if _, err := b.ag.SyncNow(ctx); err != nil {
			t.Logf("round %d: b's sync during compaction: %v", round, err)
		}
		for _, k := range kids {
			time.Sleep(time.Duration(rng.IntN(2500)) * time.Millisecond)
			_ = k.Process.Signal(syscall.SIGKILL)
			_ = k.Wait()
		}
	}
	// What the killed compactors left: entries of several generations and
	// writers, hours not folded yet.
	t.Logf("after %d rounds of kills the log holds %v", rounds, topEntries(t, coll))
	// Two compactors at once, to the end.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = mustCompactor(t, d, set).Compact(ctx, coll)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("compact: %v", err)
		}
	}
	// A last pass folds what two compactors at once left side by side
	// (and what Drill finished of a killed compactor's statements).
	for range 5 {
		time.Sleep(2 * time.Second)
		rep, err := mustCompactor(t, d, set).Compact(ctx, coll)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Logs[0].Written) == 0 {
			break
		}
	}
	if top := topEntries(t, coll); len(top) > 2 || strings.Join(top, "") == "" {
		t.Errorf("after the last pass the log holds %v, want one compacted entry a day", top)
	}
	assertExactlyOnceSQL(t, d, coll, want)
	if n := jsonFiles(t, coll); n != 0 {
		t.Errorf("%d JSON batch files left after the last pass, want none", n)
	}
	a.sync(t)
	b.sync(t)
	j.sync(t)
	fresh := mustNode(t, "fresh", now, d, withSet)
	fresh.sync(t)
	assertEverywhere(t, d, coll, want, a, b, j, fresh)
}

// TestIntegrationFleetHeartbeats: devices append heartbeats (never drop
// one), the fleet view shows each device's latest once, and a compaction
// pass moves an older release's fleet table into the log and folds closed
// hours keeping each device's latest heartbeat.
func TestIntegrationFleetHeartbeats(t *testing.T) {
	d, set, _, now := hostileSetup(t)
	ctx := context.Background()
	tag := fmt.Sprintf("hb%d", time.Now().UnixNano()%1_000_000_000)
	withSet := func(o *Options) { o.Schema = set }
	a := mustNode(t, tag+"-a", now, d, withSet)
	b := mustNode(t, tag+"-b", now, d, withSet)
	for range 2 {
		a.sync(t)
		b.sync(t)
		a.clk.Advance(time.Second)
	}
	var mine []string
	root := filepath.Join(drilltest.WorkspaceDir(t), HeartbeatDir)
	parts, _ := os.ReadDir(root)
	for _, p := range parts {
		des, _ := os.ReadDir(filepath.Join(root, p.Name()))
		for _, de := range des {
			if strings.HasPrefix(de.Name(), tag+"-a_") {
				mine = append(mine, de.Name())
			}
		}
	}
	if len(mine) != 2 {
		t.Errorf("device a's heartbeats in the log: %v, want 2", mine)
	}
	// The heartbeats go to an hour three days back, as if written then:
	// the pass below runs on Drill's clock, so the hour the other tests'
	// devices write heartbeats into now stays open and is not folded under
	// them.
	past := partitionOf(time.UnixMilli(now).Add(-72 * time.Hour).UnixMilli())
	moveHeartbeats(t, root, tag, filepath.Join(root, past))
	// An older release's fleet table: one row per device, in a directory
	// named like the view.
	older := tag + "-old"
	row := []drill.Value{drill.StringValue(older), drill.StringValue("host"), drill.StringValue("linux/amd64"), drill.StringValue("0.9"),
		drill.Int64Value(now - 1000), drill.Int64Value(now - 2000)}
	for range fleetColumns()[7:] {
		row = append(row, drill.Int64Value(0))
	}
	row[12] = drill.StringValue("") // last_error_before
	sel, err := drill.SelectJSON(fleetColumns()[1:], [][]drill.Value{row})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Query(ctx, fmt.Sprintf("CREATE TABLE `dfs`.`fieldsync`.`%s/%s` AS %s", FleetDir, older, sel)); err != nil {
		t.Fatal(err)
	}
	fleet := func() map[string]int64 {
		t.Helper()
		rows, err := d.Query(ctx, fmt.Sprintf("SELECT `device`, `reported_at` FROM `dfs`.`fieldsync`.`%s` WHERE `device` LIKE '%s-%%'", FleetDir, tag))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, r := range rows {
			dev, _ := r["device"].(string)
			if _, dup := out[dev]; dup {
				t.Errorf("the fleet view shows %s twice", dev)
			}
			out[dev], _ = asInt(r["reported_at"])
		}
		return out
	}
	latest := func(dev string) int64 {
		t.Helper()
		r := queryOne(t, d, fmt.Sprintf("SELECT MAX(`reported_at`) AS `m` FROM `dfs`.`fieldsync`.`%s` WHERE `device` = '%s'", HeartbeatDir, dev))
		m, _ := asInt(r["m"])
		return m
	}
	if got := fleet(); len(got) != 2 || got[a.device] != latest(a.device) {
		t.Errorf("fleet view before compaction: %v, want a (latest at %d) and b", got, latest(a.device))
	}
	comp, err := NewCompactor(CompactOptions{Drill: d, Schema: set})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := comp.Compact(ctx)
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	var fl *LogCompaction
	for i := range rep.Logs {
		if rep.Logs[i].Log == "fleet" {
			fl = &rep.Logs[i]
		}
	}
	if fl == nil || len(fl.Written) == 0 {
		t.Fatalf("the fleet log was not compacted: %+v", rep)
	}
	if des, _ := os.ReadDir(filepath.Join(drilltest.WorkspaceDir(t), FleetDir)); len(des) != 0 {
		t.Errorf("the older fleet table still holds %d entries", len(des))
	}
	got := fleet()
	if len(got) != 3 || got[older] != now-1000 || got[a.device] != latest(a.device) {
		t.Errorf("fleet view after compaction: %v, want a, b and the older release's device once", got)
	}
	before := got[a.device]
	a.clk.Advance(time.Second)
	a.sync(t)
	if got := fleet(); got[a.device] <= before || got[a.device] != latest(a.device) {
		t.Errorf("fleet view after a new heartbeat: %v, want a later than %d", got, before)
	}
}

// moveHeartbeats moves the heartbeat entries of the devices named
// <tag>-… from their hour partitions under root into dir, an hour
// partition, with the directory times of that hour: written then, not
// late (a partition written after its hour ranges to the hour it landed
// in, see landedEnd, and is not folded while that hour is open).
func moveHeartbeats(t *testing.T, root, tag, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	parts, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, p := range parts {
		des, _ := os.ReadDir(filepath.Join(root, p.Name()))
		for _, de := range des {
			if !strings.HasPrefix(de.Name(), tag+"-") || filepath.Join(root, p.Name()) == dir {
				continue
			}
			if err := os.Rename(filepath.Join(root, p.Name(), de.Name()), filepath.Join(dir, de.Name())); err != nil {
				t.Fatal(err)
			}
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("no heartbeat of %s-… under %s to move", tag, root)
	}
	start, ok := parsePartition(filepath.Base(dir))
	if !ok {
		t.Fatalf("%s is not an hour partition", dir)
	}
	then := time.UnixMilli(start).Add(30 * time.Minute)
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if err := os.Chtimes(filepath.Join(dir, de.Name()), then, then); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(dir, then, then); err != nil {
		t.Fatal(err)
	}
}

// compactOnRead is a device's Drill that runs a compaction pass the first
// time the device reads from the given partition, as if a compactor folded
// it between the device's listing and its read.
type compactOnRead struct {
	Drill
	tb    testing.TB
	part  string
	comp  *Compactor
	coll  string
	fired bool
}

func (d *compactOnRead) Query(ctx context.Context, sql string) ([]Row, error) {
	if !d.fired && strings.HasPrefix(sql, "SELECT") && strings.Contains(sql, "/changes/"+d.part) {
		d.fired = true
		if _, err := d.comp.Compact(ctx, d.coll); err != nil {
			d.tb.Errorf("compact during the read: %v", err)
		}
	}
	return d.Drill.Query(ctx, sql)
}

// TestIntegrationCompactedUnderALaggingDevice: a device lists an old hour,
// a compactor folds it before the device reads it, and the device's
// watermark moves past the hour's day meanwhile: its next sync still finds
// the changes in the compacted entry (written since its look-back, covering
// a batch it waits to read again).
func TestIntegrationCompactedUnderALaggingDevice(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	withSet := func(o *Options) { o.Schema = set }
	old := now - 72*time.Hour.Milliseconds()
	writeSQLBatch(t, d, coll, partitionOf(old)+"/"+batchName(old, "evil", 1), []sqlRow{goodSQLRow("old", old, 1)})
	// Written then, not late: a compactor folds the hour into its day
	// (a late one ranges to the hour it landed in, still open).
	oldPart := filepath.Join(drilltest.WorkspaceDir(t), coll, "changes", partitionOf(old))
	then := time.UnixMilli(old)
	for _, p := range []string{filepath.Join(oldPart, batchName(old, "evil", 1)), oldPart} {
		if err := os.Chtimes(p, then, then); err != nil {
			t.Fatal(err)
		}
	}
	a := mustNode(t, "a", now, d, withSet)
	a.edit(t, coll, "new", `{"site":"now"}`)
	a.sync(t)
	comp, err := NewCompactor(CompactOptions{Drill: d, Schema: set}) // Drill's clock: only the old day is closed
	if err != nil {
		t.Fatal(err)
	}
	lag := &compactOnRead{Drill: d, tb: t, part: partitionOf(old), comp: comp, coll: coll}
	b := mustNode(t, "b", now, lag, withSet)
	first := b.sync(t)
	if !lag.fired {
		t.Fatal("the device never read the old hour")
	}
	if _, err := os.Stat(oldPart); !os.IsNotExist(err) {
		t.Fatalf("the compactor did not fold the old hour under the device: %v", err)
	}
	b.sync(t)
	if got := b.record(t, coll, "old"); got.ID != "old" {
		t.Errorf("b lacks the change compacted under it (first sync %+v)", first)
	}
	if got := b.record(t, coll, "new"); got.ID != "new" {
		t.Errorf("b lacks a's change")
	}
	if st, err := b.st.Stats(context.Background()); err != nil || st.Quarantined != 0 {
		t.Errorf("b quarantined %+v %v, want nothing", st, err)
	}
	// The batch it waited for is settled by the entry: later syncs, past
	// every retry's wait, neither read it again nor quarantine it.
	for range DefaultPullRetries + 1 {
		b.clk.Advance(maxRetryWait + time.Minute)
		b.sync(t)
	}
	if retries, err := b.st.PullRetries(context.Background(), coll); err != nil || len(retries) != 0 {
		t.Errorf("b still waits to read %+v (%v), want nothing: the compacted entry holds the batch", retries, err)
	}
	if st, err := b.st.Stats(context.Background()); err != nil || st.Quarantined != 0 {
		t.Errorf("after more syncs b quarantined %+v %v, want nothing", st, err)
	}
}

// TestSnapshotHold: a pass leaves for the next only an uncompacted entry
// of an hour the newest snapshot covers that changed after it was taken.
func TestSnapshotHold(t *testing.T) {
	t.Parallel()
	const hour = int64(time.Hour / time.Millisecond)
	h := snapshotHold{cutoff: 10 * hour, after: 20 * hour}
	compacted := &compactedEntry{}
	tests := []struct {
		name string
		hold snapshotHold
		e    logEntry
		want bool
	}{
		{"late batch in a covered hour", h, logEntry{start: 9 * hour, mtime: 21 * hour}, true},
		{"covered hour, unchanged since the snapshot", h, logEntry{start: 9 * hour, mtime: 19 * hour}, false},
		{"hour at the cutoff: the refresh reads it anyway", h, logEntry{start: 10 * hour, mtime: 21 * hour}, false},
		{"compacted entries are never held", h, logEntry{start: 9 * hour, mtime: 21 * hour, compacted: compacted}, false},
		{"no snapshot yet", snapshotHold{}, logEntry{start: 9 * hour, mtime: 21 * hour}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.hold.holds(tt.e); got != tt.want {
				t.Errorf("holds(%+v) = %v, want %v", tt.e, got, tt.want)
			}
		})
	}
}
