package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

// hostileRow is a well-formed batch row of device "c" that a test then
// breaks; n is the batch's row count.
func hostileRow(id string, ms int64, n int) Row {
	return Row{
		"change_id": id, "record_id": id, "op": "put", "version": fmt.Sprintf("%015d-0000-c", ms), "parents": "[]",
		"device": "c", "author": "", "edited_at": json.Number("1"), "batch_rows": json.Number(fmt.Sprint(n)), "doc": `{"site":"c"}`,
	}
}

func TestPullQuarantinesBadRows(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	const now = 1_700_000_000_000
	b := mustNode(t, "b", now, fd, nil)
	year := (365 * 24 * time.Hour).Milliseconds()
	tests := []struct {
		id     string
		breaks func(Row)
		reason string // "" for a good row
	}{
		{"good", func(Row) {}, ""},
		{"nullid", func(r Row) { r["change_id"] = nil }, "change_id is NULL"},
		{"garbage", func(r Row) { r["version"] = "yesterday" }, "WWWWWWWWWWWWWWW-CCCC-node"},
		{"future", func(r Row) { r["version"] = fmt.Sprintf("%015d-0000-c", fd.nowMS+year) }, "ahead of the clocks"},
		{"maxwall", func(r Row) { r["version"] = "999999999999999-fffe-x" }, "ahead of the clocks"},
		{"parents", func(r Row) { r["parents"] = "not json" }, "parents is not a JSON list"},
		{"norows", func(r Row) { r["batch_rows"] = nil }, "batch_rows is NULL"},
		{"brokendoc", func(r Row) { r["doc"] = `{"site":` }, "doc is not a JSON object"},
		{"typed", func(r Row) { r["doc"] = `{"site":7}` }, "site must be text"},
		{"badop", func(r Row) { r["op"] = "drop" }, "unknown op"},
		{"numid", func(r Row) { r["record_id"] = json.Number("5") }, "record_id is not text"},
	}
	var rows []Row
	for _, tt := range tests {
		r := hostileRow(tt.id, now-1000, len(tests))
		tt.breaks(r)
		rows = append(rows, r)
	}
	batch := batchName(now-1000, "c", 1)
	later := batchName(now, "c", 100)
	fd.mu.Lock()
	fd.tables["inspections/changes/"+batch] = rows
	fd.tables["inspections/changes/"+later] = []Row{hostileRow("after", now, 1)}
	fd.mu.Unlock()

	rep := b.sync(t)
	if rep.Pulled != 2 || rep.PulledBatches != 2 || rep.Quarantined != len(tests)-1 {
		t.Errorf("report %+v, want 2 changes of 2 batches and %d quarantined", rep, len(tests)-1)
	}
	ctx := context.Background()
	items, err := b.st.QuarantineList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byReason := map[string]store.Quarantined{}
	for _, q := range items {
		if q.Kind != store.QuarantineRow || q.Batch != batch || q.Content == "" {
			t.Errorf("item %+v", q)
		}
		byReason[q.Reason] = q
	}
	for _, tt := range tests[1:] {
		found := false
		for reason := range byReason {
			found = found || strings.Contains(reason, tt.reason)
		}
		if !found {
			t.Errorf("row %s: no item with reason %q in %v", tt.id, tt.reason, items)
		}
	}
	for _, id := range []string{"good", "after"} {
		b.record(t, "inspections", id)
	}
	// The far-future rows never moved the clock.
	if v, err := b.st.NextVersion(ctx); err != nil || v.WallMS > now+time.Hour.Milliseconds() {
		t.Errorf("next version %s %v after far-future rows", v, err)
	}
	st := b.ag.Status()
	if st.Quarantined != len(tests)-1 || len(st.QuarantineReasons) != quarantineReasons {
		t.Errorf("status quarantined %d reasons %q", st.Quarantined, st.QuarantineReasons)
	}
	// Read again, the batch quarantines nothing twice.
	if rep := b.sync(t); rep.Quarantined != 0 || rep.PulledBatches != 0 {
		t.Errorf("second sync %+v", rep)
	}
	// IT fixes a row in Drill and retries: it arrives, the others stay.
	fd.mu.Lock()
	fixed := hostileRow("parents", now-1000, len(tests))
	for i, r := range fd.tables["inspections/changes/"+batch] {
		if r["change_id"] == "parents" {
			fd.tables["inspections/changes/"+batch][i] = fixed
		}
	}
	fd.mu.Unlock()
	if _, err := b.st.ReleaseQuarantine(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rep = b.sync(t)
	if rep.Pulled != 1 || rep.Quarantined != len(tests)-2 {
		t.Errorf("after retry %+v, want the fixed row pulled and the rest quarantined again", rep)
	}
	b.record(t, "inspections", "parents")
}

func TestPullRetriesUnreadableBatchThenQuarantines(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	const now = 1_700_000_000_000
	b := mustNode(t, "b", now, fd, func(o *Options) { o.PullRetries = 3; o.PullRetryWait = time.Minute })
	broken := batchName(now-2000, "c", 1)
	empty := batchName(now-1500, "c", 5)
	good := batchName(now-1000, "c", 10)
	fd.mu.Lock()
	fd.tables["inspections/changes/"+broken] = []Row{hostileRow("broken", now-2000, 1)}
	fd.tables["inspections/changes/"+empty] = []Row{}
	fd.tables["inspections/changes/"+good] = []Row{hostileRow("good", now-1000, 1)}
	fd.mu.Unlock()
	scanFails := true
	fd.before = func(sql string) error {
		if scanFails && strings.Contains(sql, broken) && strings.HasPrefix(sql, "SELECT ") {
			return &drill.QueryError{SQL: sql, State: "FAILED", Status: 200,
				Message: "SYSTEM ERROR: IllegalArgumentException: DrillScanRule: 0_0_0.parquet is not a Parquet file (length 0)"}
		}
		return nil
	}
	ctx := context.Background()
	rep := b.sync(t)
	if rep.PulledBatches != 1 || rep.Incomplete != 2 || rep.Quarantined != 0 {
		t.Fatalf("first sync %+v", rep)
	}
	b.record(t, "inspections", "good")
	wm, _ := b.st.PullWatermark(ctx, "inspections")
	if wm < now-1000 {
		t.Errorf("watermark %d held back behind the unreadable batches", wm)
	}
	// Second read at the next sync; then backoff.
	if rep := b.sync(t); rep.Incomplete != 2 {
		t.Errorf("second sync %+v", rep)
	}
	if rep := b.sync(t); rep.Incomplete != 0 || rep.Waiting != 2 {
		t.Errorf("sync during backoff %+v", rep)
	}
	b.clk.mu.Lock()
	b.clk.t = b.clk.t.Add(2 * time.Minute)
	b.clk.mu.Unlock()
	rep = b.sync(t)
	if rep.Incomplete != 2 || rep.Quarantined != 2 {
		t.Fatalf("third read %+v, want both batches quarantined", rep)
	}
	items, _ := b.st.QuarantineList(ctx)
	reasons := map[string]string{}
	for _, q := range items {
		reasons[q.Batch] = q.Reason
	}
	if !strings.Contains(reasons[broken], "DrillScanRule") || !strings.Contains(reasons[empty], "holds no rows") {
		t.Errorf("reasons %q", reasons)
	}
	if st := b.ag.Status(); st.Quarantined != 2 || st.PullRetries != 2 {
		t.Errorf("status %+v", st)
	}
	// The writer rewrites the broken batch (its directory time moves): the
	// next sync reads it at once, whatever the backoff, and lifts its
	// quarantine.
	scanFails = false
	fd.mu.Lock()
	fd.mtimes["inspections/changes/"+broken] = now + time.Hour.Milliseconds()
	fd.mu.Unlock()
	rep = b.sync(t)
	if rep.Pulled != 1 || rep.PulledBatches != 1 {
		t.Errorf("after the rewrite %+v", rep)
	}
	b.record(t, "inspections", "broken")
	if st, _ := b.st.Stats(ctx); st.Quarantined != 1 || st.PullRetries != 1 {
		t.Errorf("stats after the rewrite: quarantined %d retries %d, want the empty batch only", st.Quarantined, st.PullRetries)
	}
}

func TestPushRefusesWhatPullWould(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	year := 365 * 24 * time.Hour
	// A device a year ahead of Drill's clock.
	a := mustNode(t, "a", fd.nowMS+year.Milliseconds(), fd, nil)
	a.edit(t, "inspections", "r", `{"site":"x"}`)
	rep := a.sync(t)
	if rep.Pushed != 0 || len(rep.Unpushable) != 1 || !strings.Contains(rep.Unpushable[0], "ahead of the clocks") {
		t.Errorf("report %+v", rep)
	}
	st := a.ag.Status()
	if !strings.Contains(st.ClockWarning, "days ahead of Drill's clock") || st.ClockSkewMS < year.Milliseconds()-60_000 {
		t.Errorf("status clock %d %q", st.ClockSkewMS, st.ClockWarning)
	}
	if len(fd.batchNames("inspections")) != 0 {
		t.Errorf("a far-future change was written: %v", fd.batchNames("inspections"))
	}
}

func TestClockWarning(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		skew time.Duration
		want string
	}{
		{time.Minute, ""},
		{-time.Minute, ""},
		{10 * time.Minute, "10m0s ahead of Drill's clock"},
		{-3 * time.Hour, "3 hours behind Drill's clock"},
		{400 * 24 * time.Hour, "cannot be sent"},
	} {
		if got := clockWarning(tt.skew, DefaultMaxClockAhead); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("clockWarning(%s) = %q, want %q", tt.skew, got, tt.want)
		}
	}
}
