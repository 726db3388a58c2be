package service

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/internal/metrics/metricstest"
	"github.com/fieldsync/fieldsync/store"
)

// TestServiceServesMetrics scrapes the metrics of a running schedule
// before and after syncs with the real Drillbit and with none reachable.
func TestServiceServesMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name     string
		drillURL func(testing.TB) string
		// after one sync of two changes
		pending, pushed, ok, failed, unreachable float64
	}{
		{"real Drill", drilltest.URL, 0, 2, 1, 0, 0},
		{"Drill unreachable", func(testing.TB) string { return unreachableDrill }, 2, 0, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			coll := "metrics_" + newID(t)[:8]
			b := mustOpenService(t, serviceOpts{drillURL: tt.drillURL(t), collection: coll, metrics: "127.0.0.1:0"})
			if b.MetricsURL() != "" {
				t.Errorf("metrics served before the schedule runs: %s", b.MetricsURL())
			}
			for _, id := range []string{"r1", "r2"} {
				if _, err := b.Accept(ctx, []store.Change{uiChange(t, coll, id, `{"name":"one"}`)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Start(ctx); err != nil {
				t.Fatal(err)
			}
			url := b.MetricsURL()
			if url == "" {
				t.Fatal("no metrics served while the schedule runs")
			}
			// Saves are recounted in the background (statusRefreshEvery);
			// Status waits for the recount, as a scrape does not.
			if st, err := b.Status(ctx); err != nil || st.Pending != 2 {
				t.Fatalf("status before the sync: pending %d, %v; want 2", st.Pending, err)
			}
			before := metricstest.Scrape(t, url)
			if got := before.Value(t, "fieldsync_pending_changes"); got != 2 {
				t.Errorf("pending before the sync = %v, want 2", got)
			}
			if got := before.Value(t, "fieldsync_info", "device", "dev1", "version", "test"); got != 1 {
				t.Errorf("info = %v", got)
			}
			_, _ = b.SyncNow(ctx)
			after := metricstest.Scrape(t, url)
			for _, c := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"fieldsync_pending_changes", nil, tt.pending},
				{"fieldsync_pushed_changes_total", nil, tt.pushed},
				{"fieldsync_syncs_total", []string{"result", "ok"}, tt.ok},
				{"fieldsync_syncs_total", []string{"result", "failed"}, tt.failed},
				{"fieldsync_drill_errors_total", []string{"kind", "unreachable"}, tt.unreachable},
				{"fieldsync_sync_duration_seconds", nil, 1},
				{"fieldsync_quarantined_items", nil, 0},
			} {
				if got := after.Value(t, c.name, c.labels...); got != c.want {
					t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
				}
			}
			if last := after.Value(t, "fieldsync_last_success_timestamp_seconds"); (last > 0) != (tt.ok > 0) {
				t.Errorf("last success = %v after %v good syncs", last, tt.ok)
			}
			b.Stop()
			if b.MetricsURL() != "" {
				t.Error("metrics still served after Stop")
			}
		})
	}
}
