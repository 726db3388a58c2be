package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
)

// lateDrill breaks a device's batch statements the way a device that goes
// away breaks them: the next batch CTAS never arrives, lands whole with its
// answer lost (an uncertain CTAS), or lands half written; the next DROP of
// a batch lands with its answer lost (the device killed between settling a
// batch and renaming it).
type lateDrill struct {
	Drill
	mu   sync.Mutex
	ctas string // fault of the next batch CTAS: "", "lost request", "lost answer", "partial"
	drop bool   // lose the answer of the next DROP of a batch
}

func (l *lateDrill) set(ctas string, drop bool) {
	l.mu.Lock()
	l.ctas, l.drop = ctas, drop
	l.mu.Unlock()
}

func (l *lateDrill) Query(ctx context.Context, sql string) ([]Row, error) {
	isCTAS := strings.HasPrefix(sql, "CREATE TABLE IF NOT EXISTS ") && strings.Contains(sql, "/changes/")
	isDrop := strings.HasPrefix(sql, "DROP TABLE IF EXISTS ") && strings.Contains(sql, "/changes/")
	l.mu.Lock()
	ctas, drop := "", false
	if isCTAS {
		ctas, l.ctas = l.ctas, ""
	}
	if isDrop {
		drop, l.drop = l.drop, false
	}
	l.mu.Unlock()
	switch {
	case ctas == "lost request":
		return nil, errInjected
	case ctas == "partial":
		if _, err := writeHalf(ctx, l.Drill, sql); err != nil {
			return nil, err
		}
		return nil, errInjected
	case ctas == "lost answer" || drop:
		if _, err := l.Drill.Query(ctx, sql); err != nil {
			return nil, err
		}
		return nil, errInjected
	}
	return l.Drill.Query(ctx, sql)
}

// deviceBatches returns the batches of device in the hour partitions of a
// collection's change log, as partition/name, sorted.
func deviceBatches(tb testing.TB, coll, device string) []string {
	tb.Helper()
	_, parts := partitionEntries(tb, coll)
	var out []string
	for part, names := range parts {
		for _, name := range names {
			if _, dev, ok := parseBatchName(name); ok && dev == device {
				out = append(out, part+"/"+name)
			}
		}
	}
	slices.Sort(out)
	return out
}

// assertViewsOnce checks that the history view of coll holds want changes,
// each once, and the conflicts view none.
func assertViewsOnce(tb testing.TB, d Drill, coll string, want int) {
	tb.Helper()
	r := queryOne(tb, d, fmt.Sprintf("SELECT COUNT(*) AS n, COUNT(DISTINCT `change_id`) AS d FROM `dfs`.`fieldsync`.`%s_history`", coll))
	if n, _ := asInt(r["n"]); n != int64(want) {
		tb.Errorf("%s_history holds %d rows, want %d", coll, n, want)
	}
	if dn, _ := asInt(r["d"]); dn != int64(want) {
		tb.Errorf("%s_history holds %d changes, want %d", coll, dn, want)
	}
	r = queryOne(tb, d, fmt.Sprintf("SELECT COUNT(*) AS n FROM `dfs`.`fieldsync`.`%s_conflicts`", coll))
	if n, _ := asInt(r["n"]); n != 0 {
		tb.Errorf("%s_conflicts holds %d rows, want none", coll, n)
	}
}

// lateWorld is the setup of a late-batch case: a collection of its own,
// device a, whose Drill breaks as ld says and whose view of Drill's clock
// is set back by back, and device b, which has pushed b1, pulled by a.
type lateWorld struct {
	set     *schema.Set
	coll    string
	now     int64
	withSet func(*Options)
	a, b    *node
	ld      *lateDrill
	back    *atomic.Int64
}

func newLateWorld(tb testing.TB, d Drill) *lateWorld {
	tb.Helper()
	set, name := itSchema(tb)
	w := &lateWorld{set: set, coll: name("inspections"), now: time.Now().UnixMilli(), ld: &lateDrill{Drill: d}, back: &atomic.Int64{}}
	w.withSet = func(o *Options) { o.Schema = set }
	w.a = mustNode(tb, "a", w.now, w.ld, func(o *Options) {
		w.withSet(o)
		o.DrillClock = func() time.Time { return time.Now().Add(-time.Duration(w.back.Load())) }
		// Its changes stay pushable with its view of Drill's clock days back.
		o.MaxClockAhead = 72 * time.Hour
	})
	w.b = mustNode(tb, "b", w.now, d, w.withSet)
	w.b.edit(tb, w.coll, "b1", `{"site":"b"}`)
	w.b.sync(tb)
	w.a.sync(tb)
	return w
}

// planAway makes device a edit two records and try to push them with its
// Drill clock away behind, the attempt breaking as fault says; it returns
// the name the batch was planned under.
func (w *lateWorld) planAway(tb testing.TB, away time.Duration, fault string) string {
	tb.Helper()
	a, ld, coll := w.a, w.ld, w.coll
	w.back.Store(int64(away))
	a.edit(tb, coll, "a1", `{"site":"a one"}`)
	a.edit(tb, coll, "a2", `{"site":"a two"}`)
	ld.set(fault, false)
	if _, err := a.ag.SyncNow(context.Background()); !errors.Is(err, errInjected) {
		tb.Fatalf("the first attempt = %v, want the injected fault", err)
	}
	open, err := a.st.OpenBatches(context.Background())
	if err != nil || len(open) != 1 {
		tb.Fatalf("open batches %+v %v, want the planned one", open, err)
	}
	ms, _, _ := parseBatchName(open[0].Name)
	if got := time.Since(time.UnixMilli(ms)); got < away-time.Minute || got > away+time.Minute {
		tb.Fatalf("batch %s is named %v ago, want %v", open[0].Name, got, away)
	}
	return open[0].Name
}

// TestIntegrationStaleBatchRenamed: a device plans a batch, goes away
// past MaxBatchNameAge with the batch unwritten, half written or written
// whole (the answer lost), and comes back. A batch whose old name holds it
// whole is pushed as it is; any other lands under a fresh name in the
// current hour, the old name settled (a half-written table dropped, once
// no CTAS can still be writing it; a kill between dropping and renaming
// resumed). Every device gets every change once, the log and the views
// hold each once.
func TestIntegrationStaleBatchRenamed(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	tests := []struct {
		name     string
		fault    string        // what the first attempt left under the old name
		away     time.Duration // how old the name is when the device comes back
		loseDrop bool          // the device is killed after dropping the old table, before renaming
		comeback string        // fault of the first CTAS after coming back (after the rename)
		waitErr  error         // the first sync back fails with it
		waits    bool          // the first sync back leaves the batch planned under its old name
		later    time.Duration // then Drill's clock moves on this much
		renamed  bool
	}{
		{name: "never written", fault: "lost request", away: 5 * time.Hour, renamed: true},
		{name: "written whole, answer lost", fault: "lost answer", away: 5 * time.Hour},
		{name: "half written", fault: "partial", away: 5 * time.Hour, renamed: true},
		{name: "half written, killed between settling and renaming", fault: "partial", away: 5 * time.Hour, loseDrop: true, waitErr: errInjected, renamed: true},
		{name: "killed after renaming, before writing", fault: "lost request", away: 5 * time.Hour, comeback: "lost request", waitErr: errInjected, renamed: true},
		{name: "never written, a CTAS may still run", fault: "lost request", away: MaxBatchNameAge + 2*time.Minute, waits: true, later: 10 * time.Minute, renamed: true},
		{name: "half written, its CTAS may still run", fault: "partial", away: MaxBatchNameAge + 2*time.Minute, waits: true, later: 10 * time.Minute, renamed: true},
		{name: "younger than the bound", fault: "lost request", away: MaxBatchNameAge - 5*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			w := newLateWorld(t, d)
			coll, now, withSet, a, b, ld, back := w.coll, w.now, w.withSet, w.a, w.b, w.ld, w.back
			old := w.planAway(t, tt.away, tt.fault)
			b.sync(t) // meanwhile: b may pull what landed whole

			// a comes back: Drill's clock is now.
			back.Store(0)
			ld.set(tt.comeback, tt.loseDrop)
			if tt.waitErr != nil || tt.waits {
				if _, err := a.ag.SyncNow(ctx); !errors.Is(err, tt.waitErr) {
					t.Fatalf("first sync back = %v, want %v", err, tt.waitErr)
				}
				open, _ := a.st.OpenBatches(ctx)
				if renamed := len(open) == 1 && open[0].Name != old; len(open) != 1 || renamed != (tt.comeback != "") {
					t.Fatalf("after the failed sync the batch is %+v (old name %s), want it renamed only when the failure came after the rename", open, old)
				}
				back.Store(int64(-tt.later))
			}
			behind := time.Duration(back.Load())
			a.sync(t)
			if open, err := a.st.OpenBatches(ctx); err != nil || len(open) != 0 {
				t.Fatalf("open batches after coming back: %+v %v", open, err)
			}
			got := deviceBatches(t, coll, "a")
			if len(got) != 1 {
				t.Fatalf("a's batches in Drill: %v, want the one of a1 and a2 (the old name %s settled)", got, old)
			}
			if !tt.renamed {
				if want := batchPath(old); got[0] != want {
					t.Errorf("a's batch is %s, want %s (pushed under its old name)", got[0], want)
				}
			} else {
				ms, _, _ := parseBatchName(filepath.Base(got[0]))
				drillNow := time.Now().Add(-behind)
				if off := drillNow.Sub(time.UnixMilli(ms)).Abs(); off > time.Minute {
					t.Errorf("a's batch is %s, named %v away from Drill's clock, want a fresh name in the current hour %s", got[0], off, partitionOf(drillNow.UnixMilli()))
				}
			}
			fresh := mustNode(t, "fresh", now, d, withSet)
			for _, n := range []*node{b, fresh, a} {
				n.sync(t)
			}
			assertEverywhere(t, d, coll, 3, a, b, fresh)
			assertExactlyOnceSQL(t, d, coll, 3)
			assertViewsOnce(t, d, coll, 3)
		})
	}
}

// TestIntegrationStaleBatchFoldedMeanwhile: a device's CTAS under a name
// two days old lands (whole, or half) but its answer is lost; compaction
// folds that hour (the table is gone) before the device comes back; the
// entry folding it ends after the hour it landed in (landedEnd), or device
// c, which had passed the old hour before the batch landed, would skip it. Back, the
// device writes nothing into the folded hour: it finds the whole batch
// folded and counts it pushed, or writes the part not folded under a fresh
// name in the current hour. Every device, including one that had not
// pulled the changes, holds each once, the log and the views hold each
// once, before and after the next pass.
func TestIntegrationStaleBatchFoldedMeanwhile(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	tests := []struct {
		name    string
		fault   string
		pulled  int  // what b pulls from the old name before compaction
		renamed bool // a writes the batch again under a fresh name
	}{
		{name: "written whole", fault: "lost answer", pulled: 2},
		{name: "half written", fault: "partial", pulled: 1, renamed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			w := newLateWorld(t, d)
			coll, now, withSet, a, b, back := w.coll, w.now, w.withSet, w.a, w.b, w.back
			c := mustNode(t, "c", now, d, withSet)
			c.sync(t) // c has pulled before, and not again until after compaction
			// Two days back: the day entry folding the old hour ends
			// before c's watermark less the look-back at any hour of the
			// day (five hours back did only from 01:00 to 05:00 UTC).
			const away = 48 * time.Hour
			old := w.planAway(t, away, tt.fault)
			// The hour of the name itself: now less two days can fall in
			// the hour before it when the test runs at the turn of an hour.
			oldMS, _, ok := parseBatchName(old)
			if !ok {
				t.Fatalf("the first attempt's name %q is not a batch name", old)
			}
			oldPart := filepath.Join(drilltest.WorkspaceDir(t), coll, "changes", partitionOf(oldMS))
			if _, err := os.Stat(filepath.Join(oldPart, old)); err != nil {
				t.Fatalf("the first attempt left nothing under the old name: %v", err)
			}
			// b reads the rows there (a half batch's again later: they
			// are fewer than its batch_rows).
			if rep := b.sync(t); rep.Pulled != tt.pulled {
				t.Errorf("b pulled %+v, want %d changes from the old name", rep, tt.pulled)
			}
			comp := mustCompactor(t, d, w.set)
			if _, err := comp.Compact(ctx, coll); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(oldPart); !os.IsNotExist(err) {
				t.Fatalf("the old hour is still there after compaction: %v", err)
			}

			back.Store(0)
			a.sync(t)
			if _, err := os.Stat(oldPart); !os.IsNotExist(err) {
				t.Errorf("coming back, a wrote into the folded hour %s: %v", oldPart, err)
			}
			got := deviceBatches(t, coll, "a")
			switch {
			case !tt.renamed && len(got) != 0:
				t.Errorf("a's batches %v, want none: the batch was folded whole", got)
			case tt.renamed && (len(got) != 1 || got[0] != batchPath(filepath.Base(got[0]))):
				t.Errorf("a's batches %v, want one under a fresh name", got)
			case tt.renamed:
				ms, _, _ := parseBatchName(filepath.Base(got[0]))
				if off := time.Since(time.UnixMilli(ms)).Abs(); off > time.Minute {
					t.Errorf("a's batch %s is named %v from Drill's clock, want now", got[0], off)
				}
			}
			assertExactlyOnceSQL(t, d, coll, 3)
			if rep := c.sync(t); rep.Pulled != 2 {
				t.Errorf("c pulled %+v, want a1 and a2 once each", rep)
			}
			fresh := mustNode(t, "fresh", now, d, withSet)
			for _, n := range []*node{b, fresh} {
				n.sync(t)
			}
			assertEverywhere(t, d, coll, 3, a, b, c, fresh)
			for _, n := range []*node{a, b, c, fresh} {
				for _, id := range []string{"a1", "a2"} {
					if hist, err := n.st.History(ctx, coll, id); err != nil || len(hist) != 1 {
						t.Errorf("%s holds %d versions of %s (%v), want 1", n.device, len(hist), id, err)
					}
				}
			}
			assertViewsOnce(t, d, coll, 3)

			// The next pass folds the renamed batch: still each change once.
			if _, err := comp.Compact(ctx, coll); err != nil {
				t.Fatal(err)
			}
			assertExactlyOnceSQL(t, d, coll, 3)
			newest := mustNode(t, "newest", now, d, withSet)
			newest.sync(t)
			assertEverywhere(t, d, coll, 3, a, b, c, newest)
			assertViewsOnce(t, d, coll, 3)
		})
	}
}
