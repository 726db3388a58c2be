package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/store"
)

func TestParseSnapshotName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ok   bool
		cut  string
	}{
		{"2026120612_001765022400000", true, "2026120612"},
		{snapshotName("2026120600", 42), true, "2026120600"},
		{"2026120612", false, ""},
		{"2026120612_17650224", false, ""},
		{"2026121399_001765022400000", false, ""},
		{"001765022400000_dev_000000000001", false, ""},
		{"x026120612_001765022400000", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := parseSnapshotName(tc.name)
			if ok != tc.ok || g.cutoff != tc.cut {
				t.Errorf("parseSnapshotName(%q) = %+v %v, want cutoff %q %v", tc.name, g, ok, tc.cut, tc.ok)
			}
		})
	}
}

func TestEntryHour(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, hour string
	}{
		{"2026120612", "2026120612"},
		{"2026120612_compacted", "2026120612"},
		{"2026120612-2026120618_c1", "2026120612"},
		{"001796558829154_dev_000000000001", ""},
		{"202612061", ""},
		{"2026129912_x", ""},
		{"fieldsync_devices", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if hour, ok := entryHour(tc.name); hour != tc.hour || ok != (tc.hour != "") {
				t.Errorf("entryHour(%q) = %q %v, want %q", tc.name, hour, ok, tc.hour)
			}
		})
	}
}

func TestReadFrom(t *testing.T) {
	t.Parallel()
	g, _ := parseSnapshotName("2026120611_001796558829154")
	for _, tc := range []struct {
		name string
		top  []string
		want string
	}{
		{"partitions only", []string{"2026120609", "2026120610", "2026120611", "2026120612"}, "2026120611"},
		{"entry before the cutoff", []string{"2026120500_2026120600_c0001-w", "2026120611"}, "2026120611"},
		{"entry from the cutoff", []string{"2026120611_2026120612_c0001-w"}, "2026120611"},
		{"day entry spanning the cutoff", []string{"2026120600_2026120700_c0002-w", "2026120612"}, "2026120600"},
		{"month entry spanning it too", []string{"2026120100_2026120700_c0001-w", "2026120600_2026120700_c0002-w"}, "2026120100"},
		{"not a compacted entry", []string{"2026120600_2026120700_x", "001796558829154_dev_000000000001"}, "2026120611"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var top []Row
			for _, n := range tc.top {
				top = append(top, Row{"name": n})
			}
			if got := readFrom(g, top); got != tc.want {
				t.Errorf("readFrom = %q, want %q", got, tc.want)
			}
		})
	}
}

// moveBatch moves a batch directory under changes/ to the partition of a
// time shift earlier, renamed to match (same device and sequence), as if
// it had been named then. With old set its directory times are set to
// the new name's time too (written then); else they stay now (a batch
// written late under an old name).
func moveBatch(tb testing.TB, dir, part, name string, shift time.Duration, old bool) string {
	tb.Helper()
	ms, device, ok := parseBatchName(name)
	if !ok {
		tb.Fatalf("batch name %q", name)
	}
	seq := name[strings.LastIndexByte(name, '_')+1:]
	ms -= shift.Milliseconds()
	newName := fmt.Sprintf("%015d_%s_%s", ms, device, seq)
	to := filepath.Join(dir, partitionOf(ms), newName)
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, part, name), to); err != nil {
		tb.Fatal(err)
	}
	if old {
		t := time.UnixMilli(ms)
		for _, p := range []string{to, filepath.Dir(to)} {
			if err := os.Chtimes(p, t, t); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return newName
}

// ageLog moves every batch of a collection's hour partitions shift back
// in time, names and directory times both.
func ageLog(tb testing.TB, dir string, shift time.Duration) {
	tb.Helper()
	parts, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range parts {
		if _, ok := parsePartition(p.Name()); !ok {
			continue
		}
		batches, err := os.ReadDir(filepath.Join(dir, p.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		for _, b := range batches {
			moveBatch(tb, dir, p.Name(), b.Name(), shift, true)
		}
		if err := os.Remove(filepath.Join(dir, p.Name())); err != nil {
			tb.Fatal(err)
		}
	}
}

// newestBatch returns the partition and name of the newest batch of a
// device under dir.
func newestBatch(tb testing.TB, dir, device string) (part, name string) {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*_"+device+"_*"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("batches of %s: %v %v", device, files, err)
	}
	slices.SortFunc(files, func(x, y string) int { return strings.Compare(filepath.Base(x), filepath.Base(y)) })
	last := files[len(files)-1]
	return filepath.Base(filepath.Dir(last)), filepath.Base(last)
}

// leafSet returns "record version" for every leaf of every record of a
// device's mirror, sorted.
func leafSet(t *testing.T, n *node, coll string) []string {
	t.Helper()
	var out []string
	eachRecord(t, n, coll, func(r store.Record) {
		for _, l := range r.Leaves {
			out = append(out, r.ID+" "+l)
		}
	})
	slices.Sort(out)
	return out
}

// queryPairs runs sql and returns "record_id version" of its rows, sorted.
func queryPairs(t *testing.T, d Drill, sql string) []string {
	t.Helper()
	rows, err := d.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprint(r["record_id"], " ", r["version"]))
	}
	slices.Sort(out)
	return out
}

// TestIntegrationSnapshot drives the snapshot against the real Drillbit:
// the leaves of an aged log (a conflict, a delete) land in a generation
// that equals the leaves a device that replayed the whole log holds; a
// late batch (an old name written now) is absorbed by the next refresh;
// a new device starting from the snapshot ends with the same records,
// versions and conflicts as devices that replayed everything; the views
// (made again by that device) read the generation plus the tail, prune the old partitions and count a
// change held twice (a batch and a compacted copy) once; old generations
// are dropped.
func TestIntegrationSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := realDrill(t)
	set, name := itSchema(t)
	coll := name("inspections")
	now := time.Now().UnixMilli()
	withSet := func(o *Options) { o.Schema = set }
	a := mustNode(t, "a", now, d, withSet)
	b := mustNode(t, "b", now, d, withSet)
	a.edit(t, coll, "kept", `{"site":"kept"}`)
	conflictAndDelete(t, a, b, coll)
	dir := filepath.Join(drilltest.WorkspaceDir(t), coll, "changes")
	ageLog(t, dir, 3*time.Hour)
	// The devices read the aged copies as new batches: the store ignores
	// the changes it holds.
	before := leafSet(t, a, coll)
	a.sync(t)
	b.sync(t)
	if got := leafSet(t, a, coll); !slices.Equal(got, before) {
		t.Fatalf("re-reading held changes changed a: %v, was %v", got, before)
	}

	info, err := a.ag.RefreshSnapshot(ctx, coll, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if info.Rows != 4 || info.Steps != 1 || info.Name == "" {
		t.Fatalf("first refresh: %+v, want 4 leaves (2 of r, gone's delete, kept) in 1 step", info)
	}
	snap := fmt.Sprintf("`dfs`.`fieldsync`.`%s/snapshot/%s`", coll, info.Name)
	if got, want := queryPairs(t, d, "SELECT `record_id`, `version` FROM "+snap), leafSet(t, a, coll); !slices.Equal(got, want) {
		t.Errorf("snapshot leaves %v, want the replayed device's %v", got, want)
	}

	// A tail after the cutoff, a copy of one of its batches under a
	// compacted-style name, and a batch written late under an old name.
	a.edit(t, coll, "kept", `{"site":"kept, edited"}`)
	a.sync(t)
	part, batch := newestBatch(t, dir, "a")
	copyFile(t, seedParquetIn(t, filepath.Join(dir, part, batch)), filepath.Join(dir, part+"_compacted", "0_0_0.parquet"))
	b.edit(t, coll, "late", `{"site":"late"}`)
	b.sync(t)
	part, batch = newestBatch(t, dir, "b")
	moveBatch(t, dir, part, batch, 3*time.Hour, false)
	// A batch of an older release's layout, written after the snapshot.
	b.edit(t, coll, "legacy", `{"site":"old release"}`)
	b.sync(t)
	part, batch = newestBatch(t, dir, "b")
	if err := os.Rename(filepath.Join(dir, part, batch), filepath.Join(dir, batch)); err != nil {
		t.Fatal(err)
	}
	a.sync(t)
	b.sync(t)
	for _, id := range []string{"late", "legacy"} {
		if got := a.record(t, coll, id); got.Doc == nil {
			t.Fatalf("a did not pull %s", id)
		}
	}

	info2, err := a.ag.RefreshSnapshot(ctx, coll, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if info2.Name == info.Name || info2.Rows != 6 {
		t.Fatalf("second refresh: %+v after %+v, want a new generation with the late records (6 leaves)", info2, info)
	}

	// A new device starts from the snapshot and the tail. With the views
	// gone it makes them again, over the newest generation.
	for _, v := range []string{"_current", "_conflicts"} {
		if _, err := d.Query(ctx, fmt.Sprintf("DROP VIEW `dfs`.`fieldsync`.`%s%s`", coll, v)); err != nil {
			t.Fatal(err)
		}
	}
	c := mustNode(t, "c", time.Now().UnixMilli(), d, withSet)
	if rep := c.sync(t); rep.ViewsRefreshed != 1 {
		t.Errorf("c made the views %d times, want 1", rep.ViewsRefreshed)
	}
	if seen, err := c.st.Seen(ctx, coll, info2.Name); err != nil || !seen {
		t.Errorf("c did not start from generation %s: seen %v %v", info2.Name, seen, err)
	}
	want := mirror(t, a, coll)
	for _, n := range []*node{b, c} {
		if got := mirror(t, n, coll); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s differs from a:\n%s\n---\n%s", n.device, strings.Join(want, "\n"), strings.Join(got, "\n"))
		}
	}
	if cf, err := c.st.Conflict(ctx, coll, "r"); err != nil || len(cf.Leaves) != 2 {
		t.Errorf("c: conflict on r %+v %v, want 2 leaves", cf, err)
	}

	// The views: the generation plus the tail, each change once.
	var wantCurrent []string
	for _, line := range want {
		f := strings.Fields(line)
		if f[2] == "deleted=false" {
			wantCurrent = append(wantCurrent, f[0]+" "+f[1])
		}
	}
	current := fmt.Sprintf("`dfs`.`fieldsync`.`%s_current`", coll)
	if got := queryPairs(t, d, "SELECT `record_id`, `version` FROM "+current); !slices.Equal(got, wantCurrent) {
		t.Errorf("current view %v, want %v", got, wantCurrent)
	}
	var wantConflicts []string
	for _, l := range leafSet(t, a, coll) {
		if strings.HasPrefix(l, "r ") {
			wantConflicts = append(wantConflicts, l)
		}
	}
	if got := queryPairs(t, d, fmt.Sprintf("SELECT `record_id`, `version` FROM `dfs`.`fieldsync`.`%s_conflicts`", coll)); !slices.Equal(got, wantConflicts) {
		t.Errorf("conflicts view %v, want %v", got, wantConflicts)
	}
	plan := planText(t, d, "EXPLAIN PLAN FOR SELECT COUNT(*) FROM "+current)
	old := partitionOf(now - 3*time.Hour.Milliseconds())
	if strings.Contains(plan, "/"+old) || !strings.Contains(plan, info2.Name) {
		t.Errorf("the current view's plan reads partition %s or not generation %s:\n%s", old, info2.Name, plan)
	}

	// A third generation drops the first.
	b.edit(t, coll, "late2", `{"site":"late too"}`)
	b.sync(t)
	part, batch = newestBatch(t, dir, "b")
	moveBatch(t, dir, part, batch, 3*time.Hour, false)
	info3, err := a.ag.RefreshSnapshot(ctx, coll, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	gens, err := a.ag.snapshots(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	if len(gens) != 2 || gens[0].name != info2.Name || gens[1].name != info3.Name || info3.Rows != 7 {
		t.Errorf("generations after a third refresh: %v (%+v), want %s and %s", gens, info3, info2.Name, info3.Name)
	}
	// Again at once: the late batches within partitionSlack of the last
	// generation are read again, and change nothing.
	info4, err := a.ag.RefreshSnapshot(ctx, coll, time.Now())
	if err != nil || info4.Rows != info3.Rows {
		t.Errorf("refresh with nothing new: %+v %v, want the %d rows of %s", info4, err, info3.Rows, info3.Name)
	}
}

// seedParquetIn returns the one parquet file of a batch directory.
func seedParquetIn(tb testing.TB, dir string) string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil || len(files) != 1 {
		tb.Fatalf("parquet of %s: %v %v", dir, files, err)
	}
	return files[0]
}

// planText returns the text of an EXPLAIN PLAN FOR answer.
func planText(t *testing.T, d Drill, sql string) string {
	t.Helper()
	rows, err := d.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var b strings.Builder
	for _, r := range rows {
		for _, v := range r {
			fmt.Fprintln(&b, v)
		}
	}
	return b.String()
}

// TestIntegrationSnapshotEmptyGeneration: with every change after the
// cutoff, the generation is empty; a new device still starts from it (and
// gets everything from the tail), and a refresh with nothing new writes
// no generation.
func TestIntegrationSnapshotEmptyGeneration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := realDrill(t)
	set, name := itSchema(t)
	coll := name("inspections")
	withSet := func(o *Options) { o.Schema = set }
	a := mustNode(t, "a", time.Now().UnixMilli(), d, withSet)
	a.edit(t, coll, "r", `{"site":"one"}`)
	a.edit(t, coll, "s", `{"site":"two"}`)
	a.sync(t)
	info, err := a.ag.RefreshSnapshot(ctx, coll, time.Now())
	if err != nil || info.Rows != 0 || info.Steps != 1 {
		t.Fatalf("refresh: %+v %v, want an empty generation", info, err)
	}
	if got, err := a.ag.Snapshot(ctx, coll); err != nil || got.Name != info.Name || !got.Taken.Equal(info.Taken) || !got.Cutoff.Equal(info.Cutoff) {
		t.Errorf("Snapshot = %+v %v, want %+v", got, err, info)
	}
	again, err := a.ag.RefreshSnapshot(ctx, coll, time.Now())
	if err != nil || again.Name != info.Name || again.Steps != 0 {
		t.Errorf("refresh with nothing new: %+v %v, want %s in 0 steps", again, err, info.Name)
	}
	c := mustNode(t, "c", time.Now().UnixMilli(), d, withSet)
	c.sync(t)
	if seen, err := c.st.Seen(ctx, coll, info.Name); err != nil || !seen {
		t.Errorf("c did not start from generation %s: seen %v %v", info.Name, seen, err)
	}
	if got, want := mirror(t, c, coll), mirror(t, a, coll); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("c differs from a:\n%s\n---\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}
