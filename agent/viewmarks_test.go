package agent

import (
	"context"
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
