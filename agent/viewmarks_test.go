package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/store"
)

func TestViewsFresh(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_800_000_000_000)
	at := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	for _, tt := range []struct {
		name  string
		mark  store.ViewMark
		found bool
		want  bool
	}{
		{"no mark", store.ViewMark{}, false, false},
		{"same hash, checked now", store.ViewMark{Hash: "h", Checked: at(0)}, true, true},
		{"same hash, an hour ago", store.ViewMark{Hash: "h", Checked: at(-time.Hour)}, true, true},
		{"same hash, just under a recheck", store.ViewMark{Hash: "h", Checked: at(-ViewRecheck + time.Millisecond)}, true, true},
		{"same hash, a recheck ago", store.ViewMark{Hash: "h", Checked: at(-ViewRecheck)}, true, false},
		{"same hash, days ago", store.ViewMark{Hash: "h", Checked: at(-72 * time.Hour)}, true, false},
		{"same hash, from the future (clock set back)", store.ViewMark{Hash: "h", Checked: at(time.Minute)}, true, false},
		{"other definition", store.ViewMark{Hash: "old", Checked: at(0)}, true, false},
		{"empty hash", store.ViewMark{Checked: at(0)}, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := viewsFresh(tt.mark, tt.found, "h", now); got != tt.want {
				t.Errorf("viewsFresh(%+v, %v) = %v, want %v", tt.mark, tt.found, got, tt.want)
			}
		})
	}
}

// TestViewMarks: a sync after the views were made runs no view query; a
// view dropped in Drill comes back once the mark is ViewRecheck old, and
// another cluster or another definition is checked at once.
func TestViewMarks(t *testing.T) {
	t.Parallel()
	f := newFakeDrill()
	n := mustNode(t, "a", 1_800_000_000_000, f, nil)
	ctx := context.Background()
	viewQueries := func() (info, create int) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, q := range f.queries {
			switch {
			case strings.Contains(q, "INFORMATION_SCHEMA") && strings.Contains(q, "inspections_current"):
				info++
			case strings.HasPrefix(q, "CREATE OR REPLACE VIEW `dfs`.`fieldsync`.`inspections_"):
				create++
			}
		}
		f.queries = nil
		return info, create
	}
	sync := func(step string, wantInfo, wantCreate, wantRefreshed int) {
		t.Helper()
		n.edit(t, "inspections", "r1", `{"site":"`+step+`"}`)
		rep, err := n.ag.SyncNow(ctx)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		info, create := viewQueries()
		if info != wantInfo || create != wantCreate || rep.ViewsRefreshed != wantRefreshed {
			t.Errorf("%s: %d INFORMATION_SCHEMA queries, %d views made, %d refreshed; want %d, %d, %d",
				step, info, create, rep.ViewsRefreshed, wantInfo, wantCreate, wantRefreshed)
		}
	}
	sync("first push", 1, 4, 1)
	sync("nothing changed", 0, 0, 0)
	f.mu.Lock()
	delete(f.views, "inspections_current")
	f.mu.Unlock()
	n.clk.Advance(ViewRecheck / 2)
	sync("dropped, mark fresh", 0, 0, 0)
	n.clk.Advance(ViewRecheck / 2)
	// The audit views have no s. columns in the fake, so they are made
	// again with the current-state views.
	sync("dropped, mark a day old", 1, 4, 1)
	sync("made again", 0, 0, 0)

	other, err := New(Options{Store: n.st, Drill: f, Schema: mustSchema(t), Now: n.clk.Now, Cluster: "http://other:8047"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := viewQueries(); info != 1 {
		t.Errorf("another cluster: %d INFORMATION_SCHEMA queries, want 1", info)
	}
	if err := n.st.PutViewMark(ctx, n.ag.markKey("inspections"), store.ViewMark{Hash: "older release", Checked: n.clk.Now().UnixMilli()}); err != nil {
		t.Fatal(err)
	}
	// Checked again, and left alone: it has every column.
	sync("another definition", 1, 0, 0)
}

// TestViewsOfUnusedCollections: a declared collection nothing was pushed
// to costs no INFORMATION_SCHEMA query at every sync, only every
// ViewEmptyRecheck; the device that pushes its first changes makes its
// views in that same sync.
func TestViewsOfUnusedCollections(t *testing.T) {
	t.Parallel()
	f := newFakeDrill()
	n := mustNode(t, "a", 1_800_000_000_000, f, nil)
	// The INFORMATION_SCHEMA queries since the last call, and the views in
	// Drill.
	counts := func() (info int, made map[string]bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, q := range f.queries {
			if strings.Contains(q, "INFORMATION_SCHEMA") {
				info++
			}
		}
		f.queries = nil
		made = map[string]bool{}
		for v := range f.views {
			made[v] = true
		}
		return info, made
	}
	n.edit(t, "inspections", "r1", `{"site":"x"}`)
	n.sync(t)
	if info, made := counts(); info != 1 || !made["inspections_current"] || made["lww_current"] {
		t.Fatalf("first sync: %d INFORMATION_SCHEMA queries, views made %v; want 1, those of inspections only", info, made)
	}
	for i := range 3 {
		n.clk.Advance(5 * time.Minute)
		n.sync(t)
		if info, _ := counts(); info != 0 {
			t.Errorf("sync %d with nothing new: %d INFORMATION_SCHEMA queries, want none", i+2, info)
		}
	}
	// The first changes of an unused collection, pushed from here.
	n.edit(t, "lww", "l1", `{"v":"x"}`)
	n.clk.Advance(time.Minute)
	if rep := n.sync(t); rep.ViewsRefreshed != 1 {
		t.Errorf("the sync pushing lww's first changes refreshed %d collections' views, want 1", rep.ViewsRefreshed)
	}
	if info, made := counts(); info != 1 || !made["lww_current"] {
		t.Errorf("the sync pushing lww's first changes: %d INFORMATION_SCHEMA queries, views made %v; want 1 and lww's", info, made)
	}
	// The collections still unused are asked about again after
	// ViewEmptyRecheck.
	n.clk.Advance(ViewEmptyRecheck)
	n.sync(t)
	if info, _ := counts(); info != 1 {
		t.Errorf("after ViewEmptyRecheck: %d INFORMATION_SCHEMA queries, want 1", info)
	}
}

// TestWriteViewsMakesAuditViews: the snapshot refresh (compaction) makes
// every view of a collection again, the audit views too, whatever the
// devices' marks say.
func TestWriteViewsMakesAuditViews(t *testing.T) {
	t.Parallel()
	f := newFakeDrill()
	n := mustNode(t, "a", 1_800_000_000_000, f, nil)
	n.edit(t, "inspections", "r1", `{"site":"x"}`)
	if _, err := n.ag.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.views = map[string]string{}
	f.mu.Unlock()
	if err := n.ag.writeViews(context.Background(), "inspections", nil); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range []string{"inspections_current", "inspections_conflicts", "inspections_history", "inspections_resolutions"} {
		if _, ok := f.views[v]; !ok {
			t.Errorf("%s not made again", v)
		}
	}
}

// TestListAhead: the pull's listing made beside the push lists another
// device's batch, and leaves a device that must start from a snapshot to
// the pull itself.
func TestListAhead(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name            string
		snapshot, wm    bool
		wantErr         error
		wantListedBatch bool
	}{
		{"never pulled, no snapshot", false, false, nil, true},
		{"never pulled, a snapshot", true, false, errListLater, false},
		{"pulled before, a snapshot", true, true, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newFakeDrill()
			a := mustNode(t, "a", 1_800_000_000_000, f, nil)
			a.edit(t, "inspections", "r1", `{"site":"x"}`)
			if _, err := a.ag.SyncNow(ctx); err != nil {
				t.Fatal(err)
			}
			if tt.snapshot {
				f.mu.Lock()
				f.tables["inspections/snapshot/"+snapshotName("2020010100", 1_577_840_000_000)] = nil
				f.mu.Unlock()
			}
			b := mustNode(t, "b", 1_800_000_000_000, f, nil)
			if tt.wm {
				if err := b.st.SetPullWatermark(ctx, "inspections", 1_577_840_000_000); err != nil {
					t.Fatal(err)
				}
			}
			ch, err := b.ag.listAhead(ctx, &syncClock{})
			if err != nil {
				t.Fatal(err)
			}
			l := <-ch
			if !errors.Is(l.err, tt.wantErr) {
				t.Fatalf("listing ahead: %v, want %v", l.err, tt.wantErr)
			}
			listed := 0
			for _, w := range l.work {
				listed += len(w.batches)
			}
			if (listed == 1) != tt.wantListedBatch {
				t.Errorf("listed %d batches of device a (%+v)", listed, l.work)
			}
		})
	}
}
