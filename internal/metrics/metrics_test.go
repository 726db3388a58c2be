package metrics

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/metrics/metricstest"
)

// mustServe serves m on a free loopback port until the test ends.
func mustServe(tb testing.TB, m *Metrics) *Server {
	tb.Helper()
	s, err := m.Serve("127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return s
}

func TestScrape(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 11, 23, 8, 0, 0, 500_000_000, time.UTC)
	var quarantined atomic.Int64
	quarantined.Store(2)
	st := agent.Status{State: agent.StateOffline, Device: "laptop-7", Pending: 12, Conflicts: 3, Unpushable: 1, LastSuccess: last}
	m := New(Options{
		Status:      func() agent.Status { return st },
		Quarantined: func() int { return int(quarantined.Load()) },
		Version:     "1.2.3",
	})
	m.Observe(agent.SyncResult{Report: agent.Report{Pushed: 5, Pulled: 7}, Took: 1500 * time.Millisecond})
	m.Observe(agent.SyncResult{Report: agent.Report{Pushed: 2}, Took: 40 * time.Second})
	m.Observe(agent.SyncResult{Took: 3 * time.Second, Err: errors.New("refused"), Kind: agent.ErrorUnreachable})
	s := mustServe(t, m)
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") || !strings.HasSuffix(s.URL(), "/metrics") {
		t.Errorf("URL = %q", s.URL())
	}
	fams := metricstest.Scrape(t, s.URL())

	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"fieldsync_pending_changes", nil, 12},
		{"fieldsync_conflicts_open", nil, 3},
		{"fieldsync_unpushable_changes", nil, 1},
		{"fieldsync_quarantined_items", nil, 2},
		{"fieldsync_last_success_timestamp_seconds", nil, float64(last.Unix()) + 0.5},
		{"fieldsync_state", []string{"state", "offline"}, 1},
		{"fieldsync_state", []string{"state", "idle"}, 0},
		{"fieldsync_info", []string{"version", "1.2.3", "device", "laptop-7"}, 1},
		{"fieldsync_syncs_total", []string{"result", "ok"}, 2},
		{"fieldsync_syncs_total", []string{"result", "failed"}, 1},
		{"fieldsync_pushed_changes_total", nil, 7},
		{"fieldsync_pulled_changes_total", nil, 7},
		{"fieldsync_sync_duration_seconds", nil, 3}, // the number of observations
		{"fieldsync_drill_errors_total", []string{"kind", "unreachable"}, 1},
		{"fieldsync_drill_errors_total", []string{"kind", "auth"}, 0}, // present before the first one
		{"fieldsync_drill_errors_total", []string{"kind", "query"}, 0},
	}
	for _, tt := range tests {
		if got := fams.Value(t, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	h := fams["fieldsync_sync_duration_seconds"].GetMetric()[0].GetHistogram()
	if got := h.GetSampleSum(); got != 44.5 {
		t.Errorf("sync durations sum to %v s, want 44.5", got)
	}
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == 2.5 && b.GetCumulativeCount() != 1 {
			t.Errorf("syncs up to 2.5 s: %d, want 1", b.GetCumulativeCount())
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	// Gauges follow the status at every scrape.
	st.Pending, st.State = 0, agent.StateIdle
	quarantined.Store(0)
	fams = metricstest.Scrape(t, s.URL())
	if fams.Value(t, "fieldsync_pending_changes") != 0 || fams.Value(t, "fieldsync_state", "state", "idle") != 1 ||
		fams.Value(t, "fieldsync_quarantined_items") != 0 {
		t.Error("gauges did not follow the status")
	}
}

func TestQuarantinedReadsZeroWithoutAHook(t *testing.T) {
	t.Parallel()
	m := New(Options{Status: func() agent.Status { return agent.Status{} }})
	if got := metricstest.Scrape(t, mustServe(t, m).URL()).Value(t, "fieldsync_quarantined_items"); got != 0 {
		t.Errorf("quarantined = %v, want 0", got)
	}
}

func TestServeRefusesOtherAddresses(t *testing.T) {
	t.Parallel()
	m := New(Options{Status: func() agent.Status { return agent.Status{} }})
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		s, err := m.Serve(addr)
		if err == nil {
			_ = s.Stop(context.Background())
			t.Errorf("Serve(%q) served at %s, want it refused", addr, s.URL())
			continue
		}
		if !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("Serve(%q) = %v, want it to say why", addr, err)
		}
	}
}

// TestRefusesOtherHostNames: a web page whose name resolves to 127.0.0.1
// (DNS rebinding) sends its own name as Host and is refused.
func TestRefusesOtherHostNames(t *testing.T) {
	t.Parallel()
	m := New(Options{Status: func() agent.Status { return agent.Status{} }})
	s := mustServe(t, m)
	tests := []struct {
		host string
		want int
	}{
		{"evil.example:9464", http.StatusForbidden},
		{"10.0.0.1", http.StatusForbidden},
		{"localhost:9464", http.StatusOK},
		{"[::1]:9464", http.StatusOK},
		{"", http.StatusOK}, // the connection's own address
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodGet, s.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.host != "" {
			req.Host = tt.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("Host %q: %s, want %d", tt.host, resp.Status, tt.want)
		}
	}
}
