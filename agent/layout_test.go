package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

func TestPartitionNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ok   bool
		ms   int64
	}{
		{"2026120610", true, time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC).UnixMilli()},
		{"1970010100", true, 0},
		{"2026120624", false, 0}, // no hour 24
		{"202612061", false, 0},
		{"001796552322086_dev_000000000001", false, 0},
		{"20261206ab", false, 0},
	}
	for _, tt := range tests {
		ms, ok := parsePartition(tt.name)
		if ok != tt.ok || (ok && ms != tt.ms) {
			t.Errorf("parsePartition(%q) = %d %v, want %d %v", tt.name, ms, ok, tt.ms, tt.ok)
		}
	}
	ms := time.Date(2026, 12, 6, 10, 59, 59, 999e6, time.UTC).UnixMilli()
	if got, want := batchPath(batchName(ms, "dev", 7)), "2026120610/"+batchName(ms, "dev", 7); got != want {
		t.Errorf("batchPath = %q, want %q", got, want)
	}
}

// putBatch puts a one-change batch of device c named at ms under dir
// ("" for the first layout, else its hour partition) with directory time
// mtime.
func putBatch(fd *fakeDrill, dir string, ms, mtime int64, id string) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	name := batchName(ms, "c", 1)
	if dir != "" {
		name = partitionOf(ms) + "/" + name
	}
	fd.tables["inspections/changes/"+name] = []Row{hostileRow(id, ms, 1)}
	fd.mtimes["inspections/changes/"+name] = mtime
}

// TestPartitionedLayout pushes into hour partitions, reads a workspace that
// mixes them with batches of the first layout, and checks that an
// up-to-date device lists only the top of the log and the partitions that
// can hold something new, whatever the history; a batch written late under
// an old name is still found, and the seen list stays bounded.
func TestPartitionedLayout(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	hour := time.Hour.Milliseconds()
	start := fd.nowMS - 200*hour
	// 200 hours of history: one batch per hour, the first 20 in the first
	// layout (directly under changes/).
	for h := range int64(200) {
		dir := "part"
		if h < 20 {
			dir = ""
		}
		putBatch(fd, dir, start+h*hour, start+h*hour, fmt.Sprint("h", h))
	}
	b := mustNode(t, "b", fd.nowMS, fd, nil)
	a := mustNode(t, "a", fd.nowMS, fd, nil)
	if rep := b.sync(t); rep.Pulled != 200 || rep.Quarantined != 0 {
		t.Fatalf("first sync of a fresh device pulled %+v, want all 200 changes", rep)
	}

	a.edit(t, "inspections", "new", `{"site":"x"}`)
	a.sync(t)
	for _, n := range fd.batchNames("inspections") {
		if strings.Contains(n, "_a_") {
			ms, _, _ := parseBatchName(n[strings.IndexByte(n, '/')+1:])
			if want := partitionOf(ms) + "/"; !strings.HasPrefix(n, want) {
				t.Errorf("batch %s not under its hour partition %s", n, want)
			}
		}
	}
	// A batch named 100 hours ago whose write only landed now.
	putBatch(fd, "part", start+100*hour+1, fd.nowMS, "late")

	fd.mu.Lock()
	before := len(fd.queries)
	fd.mu.Unlock()
	rep := b.sync(t)
	if rep.Pulled != 2 {
		t.Errorf("up-to-date sync pulled %+v, want the new change and the late one", rep)
	}
	for _, id := range []string{"new", "late"} {
		if got := b.record(t, "inspections", id); got.ID != id {
			t.Errorf("b lacks %s", id)
		}
	}
	fd.mu.Lock()
	var listed []string
	for _, q := range fd.queries[before:] {
		if strings.HasPrefix(q, "SHOW FILES IN `dfs`.`fieldsync`.`inspections/") {
			listed = append(listed, q)
		}
	}
	fd.mu.Unlock()
	// The top, the hours from the watermark minus the look-back to now
	// (three at most with the hour of look-back), and the late batch's
	// partition.
	if len(listed) > 5 {
		t.Errorf("an up-to-date sync listed %d directories of 200 hours of history:\n%s", len(listed), strings.Join(listed, "\n"))
	}
	// Hours later on this computer too, the old seen batches are
	// forgotten; nothing is pulled twice for it.
	b.clk.Advance(3 * time.Hour)
	if rep := b.sync(t); rep.Pulled != 0 {
		t.Errorf("a sync after pruning pulled %+v again", rep)
	}
	seen, err := b.st.SeenBatches(context.Background(), "inspections", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) > 5 {
		t.Errorf("the seen list holds %d batches after pruning, want only the recent ones", len(seen))
	}
	assertExactlyOnce(t, fd, "inspections", 202)
}

// TestIntegrationLateBatchInOldPartition writes, on the real Drillbit, a
// batch named hours ago into its old hour partition after a device has
// synced past it: the partition's directory time tells the device to list
// it again, and the batch arrives.
func TestIntegrationLateBatchInOldPartition(t *testing.T) {
	d, set, coll, now := hostileSetup(t)
	withSet := func(o *Options) { o.Schema = set }
	a := mustNode(t, "a", now, d, withSet)
	b := mustNode(t, "b", now, d, withSet)
	a.edit(t, coll, "a1", `{"site":"a one"}`)
	a.sync(t)
	if rep := b.sync(t); rep.Pulled != 1 {
		t.Fatalf("b pulled %+v, want a's change", rep)
	}
	old := now - 5*time.Hour.Milliseconds()
	name := batchName(old, "evil", 1)
	writeSQLBatch(t, d, coll, partitionOf(old)+"/"+name, []sqlRow{goodSQLRow("late", old, 1)})
	if rep := b.sync(t); rep.Pulled != 1 || rep.Quarantined != 0 {
		t.Fatalf("b pulled %+v, want the late batch", rep)
	}
	if got := b.record(t, coll, "late"); got.ID != "late" {
		t.Errorf("b lacks the late change")
	}

	// Several batches of one partition are read with one query (batches
	// written by agents: Drill cannot sort files whose columns differ in
	// nullability, as the analyst's batches above do, and those are then
	// read one by one).
	e := mustNode(t, "e", now, d, func(o *Options) { withSet(o); o.BatchRows = 1 })
	for i := range 3 {
		e.edit(t, coll, fmt.Sprint("f", i), `{"site":"e"}`)
	}
	if rep := e.sync(t); rep.Batches != 3 {
		t.Fatalf("e pushed %+v, want 3 batches", rep)
	}
	cd := &countingDrill{Drill: d}
	c := mustNode(t, "c", now, cd, withSet)
	if rep := c.sync(t); rep.Pulled != 5 || rep.PulledBatches != 5 {
		t.Errorf("fresh device pulled %+v, want 5 changes of 5 batches", rep)
	}
	// (At an hour's turn a's and e's batches can span two partitions.)
	if together, alone := cd.count("`filepath` AS `fs_path`"), cd.count("ORDER BY `change_id` LIMIT"); together < 1 || alone > 2 {
		t.Errorf("fresh device read %d partitions together and %d batches alone, want 1 and 1 (the late one):\n%s",
			cd.count("`filepath` AS `fs_path`"), cd.count("ORDER BY `change_id` LIMIT"), strings.Join(cd.queries, "\n"))
	}
	ms := time.Now().UnixMilli()
	part := partitionOf(ms)

	// A 0-byte parquet file (a killed CTAS) among them fails that read,
	// and each is then read on its own: the good ones arrive, the bad one
	// waits.
	for i := range 3 {
		writeSQLBatch(t, d, coll, part+"/"+batchName(ms+int64(i), "evil", uint64(10+i)), []sqlRow{goodSQLRow(fmt.Sprint("g", i), ms, 1)})
	}
	zero := filepath.Join(drilltest.WorkspaceDir(t), coll, "changes", part, batchName(ms+5, "dead", 1))
	if err := os.MkdirAll(zero, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(zero, "0_0_0.parquet"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep := b.sync(t); rep.Pulled != 6 || rep.PulledBatches != 6 || rep.Incomplete != 1 {
		t.Errorf("b pulled %+v, want the 6 good batches and the 0-byte one to read again", rep)
	}

	// A batch written as JSON (an analyst's CTAS under store.format =
	// json), named to come first in the partition, among Parquet ones:
	// Drill reads a directory of mixed formats as one of them, so the
	// group names Parquet files only and the JSON batch, which gave no
	// rows there, is read on its own in the same sync.
	ms = time.Now().UnixMilli()
	part = partitionOf(ms)
	writeJSONBatch(t, coll, part+"/"+batchName(ms-1, "aaa-json", 1), "json1", ms-1)
	for i := range 3 {
		writeSQLBatch(t, d, coll, part+"/"+batchName(ms+int64(i), "evil", uint64(20+i)), []sqlRow{goodSQLRow(fmt.Sprint("p", i), ms, 1)})
	}
	f := mustNode(t, "f", now, d, withSet)
	if rep := f.sync(t); rep.Quarantined != 0 {
		t.Errorf("f quarantined %+v", rep)
	}
	for _, id := range []string{"json1", "p0", "p1", "p2"} {
		if got := f.record(t, coll, id); got.ID != id {
			t.Errorf("f lacks %s after one sync", id)
		}
	}
}

// countingDrill records the statements sent to a Drill.
type countingDrill struct {
	Drill
	mu      sync.Mutex
	queries []string
}

func (c *countingDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	c.mu.Lock()
	c.queries = append(c.queries, sql)
	c.mu.Unlock()
	return c.Drill.Query(ctx, sql)
}

// QueryEach records sql and streams its rows when the Drill underneath
// can, so that the group reads are the ones the device makes with a real
// Drill.
func (c *countingDrill) QueryEach(ctx context.Context, sql string, each func(Row) error) error {
	c.mu.Lock()
	c.queries = append(c.queries, sql)
	c.mu.Unlock()
	rr, ok := c.Drill.(RowReader)
	if !ok {
		return errors.New("counting drill: the Drill underneath cannot stream rows")
	}
	return rr.QueryEach(ctx, sql, each)
}

// count returns how many statements held s.
func (c *countingDrill) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, q := range c.queries {
		if strings.Contains(q, s) {
			n++
		}
	}
	return n
}
