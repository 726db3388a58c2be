package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
)

func TestPushPullTwoDevices(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	b := mustNode(t, "b", 1_700_000_000_000, fd, nil)
	c1 := a.edit(t, "inspections", "r1", `{"site":"one"}`)
	a.edit(t, "inspections", "r2", `{"site":"two"}`)
	a.sync(t)
	rep := b.sync(t)
	if rep.Pulled != 2 || rep.PulledBatches != 1 {
		t.Fatalf("b pulled %+v, want 2 changes of 1 batch", rep)
	}
	if got := b.record(t, "inspections", "r1"); !bytes.Equal(got.Doc, c1.Doc) || got.Version != c1.Version {
		t.Errorf("b has r1 = %s %s, want %s %s", got.Doc, got.Version, c1.Doc, c1.Version)
	}
	ev := b.ev.applied()
	if len(ev) != 1 || len(ev[0].Changes) != 2 || ev[0].Changes[0].MSeq == 0 {
		t.Errorf("applied events %+v", ev)
	}
	// Pulling again applies nothing: the batch is seen.
	if rep := b.sync(t); rep.Pulled != 0 || rep.PulledBatches != 0 {
		t.Errorf("second pull %+v", rep)
	}
	// An edit on b made from a's version travels back without a conflict.
	b.edit(t, "inspections", "r1", `{"site":"one, edited"}`)
	b.sync(t)
	if rep := a.sync(t); rep.Pulled != 1 || rep.Conflicts != 0 {
		t.Errorf("a pulled %+v", rep)
	}
	if got := a.record(t, "inspections", "r1"); string(got.Doc) != `{"site":"one, edited"}` || got.Conflicted() {
		t.Errorf("a has r1 = %s leaves %v", got.Doc, got.Leaves)
	}
	assertExactlyOnce(t, fd, "inspections", 3)
	if len(fd.views) != 4 {
		t.Errorf("views %v, want current, conflicts, history and resolutions of inspections", fd.views)
	}
}

func TestPullSkipsIncompleteBatch(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	b := mustNode(t, "b", 1_700_000_000_000, fd, func(o *Options) { o.PageRows = 2 })
	for i := range 5 {
		a.edit(t, "inspections", fmt.Sprint("r", i), `{"site":"x"}`)
	}
	a.sync(t)
	name := "inspections/changes/" + fd.batchNames("inspections")[0]
	fd.mu.Lock()
	full := fd.tables[name]
	fd.tables[name] = full[:3] // a CTAS still writing
	fd.mu.Unlock()
	rep := b.sync(t)
	if rep.Incomplete != 1 || rep.PulledBatches != 0 || rep.Pulled != 3 {
		t.Errorf("pull of an incomplete batch: %+v", rep)
	}
	fd.mu.Lock()
	fd.tables[name] = full
	fd.mu.Unlock()
	rep = b.sync(t)
	if rep.Incomplete != 0 || rep.PulledBatches != 1 || rep.Pulled != 2 {
		t.Errorf("pull of the completed batch: %+v", rep)
	}
}

func TestPullWatermarkLookBack(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	b := mustNode(t, "b", 1_700_000_000_000, fd, func(o *Options) { o.LookBack = 30 * time.Minute })
	a.edit(t, "inspections", "r0", `{"site":"x"}`)
	a.sync(t)
	b.sync(t)
	wm, err := b.st.PullWatermark(context.Background(), "inspections")
	if err != nil || wm == 0 {
		t.Fatalf("watermark %d %v", wm, err)
	}
	mk := func(ms, mtime int64, id string) {
		fd.mu.Lock()
		defer fd.mu.Unlock()
		v := fmt.Sprintf("%015d-0000-c", ms)
		name := "inspections/changes/" + batchName(ms, "c", 1)
		fd.mtimes[name] = mtime
		fd.tables[name] = []Row{{
			"change_id": id, "record_id": id, "op": "put", "version": v, "parents": "[]",
			"device": "c", "author": "", "edited_at": json.Number("1"), "batch_rows": json.Number("1"), "doc": `{"site":"c"}`,
		}}
	}
	hour := time.Hour.Milliseconds()
	mk(wm-hour, wm-hour, "old")
	mk(wm-10*time.Minute.Milliseconds(), wm-10*time.Minute.Milliseconds(), "late")
	mk(wm-5*hour, wm+1, "retried") // named long ago, written now
	rep := b.sync(t)
	if rep.Pulled != 2 {
		t.Errorf("pulled %d, want the two batches inside the look-back window", rep.Pulled)
	}
	for _, id := range []string{"late", "retried"} {
		if _, err := b.st.Record(context.Background(), "inspections", id); err != nil {
			t.Errorf("batch %s not applied: %v", id, err)
		}
	}
}

// TestPullWatermarkFollowsTheListing: a device whose peers wrote nothing
// for days moves its watermark to the moment it listed, not to the newest
// batch it read, so its next syncs list the last hours only, never the
// quiet days again; a batch written after (on time, or late under an old
// name) is still pulled.
func TestPullWatermarkFollowsTheListing(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	now := fd.nowMS
	hour := time.Hour.Milliseconds()
	put := func(ms, mtime int64, device, id string) {
		fd.mu.Lock()
		defer fd.mu.Unlock()
		name := "inspections/changes/" + partitionOf(ms) + "/" + batchName(ms, device, 1)
		fd.mtimes[name] = mtime
		fd.tables[name] = []Row{{
			"change_id": id, "record_id": id, "op": "put", "version": fmt.Sprintf("%015d-0000-%s", ms, device), "parents": "[]",
			"device": device, "author": "", "edited_at": json.Number("1"), "batch_rows": json.Number("1"), "doc": `{"site":"x"}`,
		}}
	}
	// Ten quiet days: another device's batch every 6 hours, the last two
	// days ago.
	const days = 10
	for i := range days * 4 {
		ms := now - 2*24*hour - int64(i)*6*hour
		put(ms, ms, "peer", fmt.Sprintf("old%02d", i))
	}
	solo := mustNode(t, "solo", now, fd, nil)
	solo.edit(t, "inspections", "mine", `{"site":"here"}`)
	if rep := solo.sync(t); rep.Pulled != days*4 {
		t.Fatalf("first sync pulled %+v, want the %d old changes", rep, days*4)
	}
	wm, err := solo.st.PullWatermark(context.Background(), "inspections")
	if err != nil || wm < now-time.Minute.Milliseconds() {
		t.Fatalf("watermark %d (%v), want the moment of the listing, about %d, not the newest batch two days back", wm, err, now)
	}
	// The listings of the collection's log since the last call.
	listings := func() int {
		fd.mu.Lock()
		defer fd.mu.Unlock()
		n := 0
		for _, q := range fd.queries {
			if strings.HasPrefix(q, "SHOW FILES IN `dfs`.`fieldsync`.`inspections/changes") {
				n++
			}
		}
		fd.queries = nil
		return n
	}
	listings()
	solo.clk.Advance(10 * time.Minute)
	if rep := solo.sync(t); rep.Pulled != 0 {
		t.Errorf("second sync pulled %+v, want nothing", rep)
	}
	// The top of changes/ and the partitions of the last hours (its own,
	// with its batch): never the quiet days'.
	if n := listings(); n > 3 {
		t.Errorf("an up-to-date sync listed %d directories of the log, want the top and the last hours' partitions (<= 3)", n)
	}

	// Written after: a batch now, and one late under a name 5 hours old.
	put(fd.nowMS, fd.nowMS, "peer", "new")
	put(fd.nowMS-5*hour, fd.nowMS, "late", "late")
	solo.clk.Advance(10 * time.Minute)
	if rep := solo.sync(t); rep.Pulled != 2 {
		t.Errorf("third sync pulled %+v, want the new batch and the late one", rep)
	}
	for _, id := range []string{"new", "late"} {
		solo.record(t, "inspections", id)
	}
}

// TestPruneSeenCompacted: the seen marks of compacted entries (named from
// their start hour, after every batch name) are forgotten once no pull
// can list them again, a month and a day after they started; younger ones
// and the batches inside the look-back are kept.
func TestPruneSeenCompacted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fd := newFakeDrill()
	n := mustNode(t, "n", fd.nowMS, fd, nil)
	day := 24 * time.Hour.Milliseconds()
	start := fd.nowMS - fd.nowMS%day
	marks := []struct {
		name string
		kept bool
	}{
		{compactedName(start-40*day, start-39*day, 1, "w"), false},
		{compactedName(start-70*day, start-40*day, 2, "w"), false},
		{compactedName(start-3*day, start-2*day, 1, "w"), true},
		{compactedName(start-20*day, start-day, 1, "w"), true}, // a late hour's entry, begun 20 days ago
		{batchName(fd.nowMS-30*time.Minute.Milliseconds(), "peer", 1), true},
		{batchName(fd.nowMS-5*day, "peer", 1), false},
	}
	for _, m := range marks {
		if err := n.st.MarkSeen(ctx, "inspections", m.name, 1); err != nil {
			t.Fatal(err)
		}
	}
	n.clk.Advance(3 * time.Hour) // seen longer ago than the look-back and its margin
	n.sync(t)
	for _, m := range marks {
		seen, err := n.st.Seen(ctx, "inspections", m.name)
		if err != nil || seen != m.kept {
			t.Errorf("%s: seen %v (%v), want %v", m.name, seen, err, m.kept)
		}
	}
}

// TestSettleGone: a listed batch that is gone when read (folded by a
// compactor, dropped by its device) is waited for once, then settled at
// the second read if its directory is not listed any more and its name is
// too old for any device to write it again; an empty directory (read as
// missing) or a young name stays waited for, and is quarantined after
// Options.PullRetries reads like any unreadable batch.
func TestSettleGone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		age     time.Duration // of the batch's name
		empty   bool          // its directory stays, unreadable as a table
		settled bool
	}{
		{"gone, named hours ago", 3 * time.Hour, false, true},
		{"gone, young enough to be written again under its name", 20 * time.Minute, false, false},
		{"an empty directory", 3 * time.Hour, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			fd := newFakeDrill()
			ms := fd.nowMS - tt.age.Milliseconds()
			name := batchName(ms, "peer", 1)
			table := "inspections/changes/" + partitionOf(ms) + "/" + name
			fd.mu.Lock()
			fd.mtimes[table] = ms
			fd.tables[table] = []Row{{
				"change_id": "c1", "record_id": "r1", "op": "put", "version": fmt.Sprintf("%015d-0000-peer", ms), "parents": "[]",
				"device": "peer", "author": "", "edited_at": json.Number("1"), "batch_rows": json.Number("1"), "doc": `{"site":"x"}`,
			}}
			fd.mu.Unlock()
			missing := &drill.QueryError{State: "FAILED", Message: "VALIDATION ERROR: Object '" + table + "' not found within 'dfs.fieldsync'"}
			fd.before = func(sql string) error {
				if strings.HasPrefix(sql, "SELECT ") && strings.Contains(sql, name) {
					return missing
				}
				return nil
			}
			n := mustNode(t, "n", fd.nowMS, fd, func(o *Options) { o.PullRetries = 3 })
			if rep := n.sync(t); rep.Incomplete != 1 {
				t.Fatalf("first sync %+v, want the batch waited for", rep)
			}
			if !tt.empty {
				fd.mu.Lock()
				delete(fd.tables, table)
				fd.mu.Unlock()
			}
			n.clk.Advance(time.Minute)
			n.sync(t)
			seen, err := n.st.Seen(ctx, "inspections", name)
			if err != nil || seen != tt.settled {
				t.Errorf("after the second read: seen %v (%v), want %v", seen, err, tt.settled)
			}
			for range 3 {
				n.clk.Advance(maxRetryWait + time.Minute)
				n.sync(t)
			}
			retries, _ := n.st.PullRetries(ctx, "inspections")
			items, _ := n.st.QuarantineList(ctx)
			if tt.settled && (len(retries) != 0 || len(items) != 0) {
				t.Errorf("settled, yet waited for %+v, quarantined %+v", retries, items)
			}
			if !tt.settled && (len(retries) != 1 || len(items) != 1 || !strings.Contains(items[0].Reason, whyGone)) {
				t.Errorf("waited for %+v, quarantined %+v: want it waited for and quarantined as gone", retries, items)
			}
		})
	}
}

func TestPullResumesAfterInterruption(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	a := mustNode(t, "a", 1_700_000_000_000, fd, func(o *Options) { o.BatchRows = 2 })
	b := mustNode(t, "b", 1_700_000_000_000, fd, func(o *Options) { o.PageRows = 1 })
	for i := range 10 {
		a.edit(t, "inspections", fmt.Sprint("r", i), `{"site":"x"}`)
	}
	a.sync(t)
	ctx, cancel := context.WithCancel(context.Background())
	reads := 0
	fd.before = func(sql string) error {
		if strings.Contains(sql, "`change_id` LIMIT ") {
			// The batches of a partition are read together, one row per
			// page: the fifth read is the first row of the third batch.
			if reads++; reads == 5 {
				cancel()
			}
		}
		return nil
	}
	if _, err := b.ag.SyncNow(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted sync = %v", err)
	}
	fd.before = nil
	rep := b.sync(t)
	if rep.PulledBatches != 4 {
		t.Errorf("resumed pull read %d batches, want the 4 not yet seen", rep.PulledBatches)
	}
	st, err := b.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Collections["inspections"].Live != 10 {
		t.Errorf("b has %d records, want 10", st.Collections["inspections"].Live)
	}
}

func TestViewFailureDoesNotFailSync(t *testing.T) {
	t.Parallel()
	fd := newFakeDrill()
	fd.before = func(sql string) error {
		if strings.HasPrefix(sql, "CREATE OR REPLACE VIEW") {
			return errors.New("view file busy")
		}
		return nil
	}
	a := mustNode(t, "a", 1_700_000_000_000, fd, nil)
	a.edit(t, "inspections", "r", `{"site":"x"}`)
	rep := a.sync(t)
	if rep.Pushed != 1 || !strings.Contains(rep.ViewsError, "view file busy") {
		t.Errorf("report %+v", rep)
	}
	fd.before = nil
	if rep := a.sync(t); rep.ViewsRefreshed != 1 || rep.ViewsError != "" {
		t.Errorf("views not retried: %+v", rep)
	}
}
