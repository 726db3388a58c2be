package service

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/internal/metrics"
)

// metricsStop bounds the wait for scrapes in flight when the schedule stops.
const metricsStop = 5 * time.Second

// newMetrics builds the service's metrics: gauges read the current agent's
// status at each scrape, so they follow a settings change; counters are
// fed by every agent's OnSync.
func (s *Service) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Options{
		Status: func() agent.Status {
			if ag := s.Agent(); ag != nil {
				return ag.Status()
			}
			return agent.Status{}
		},
		// The quarantine's size as the last sync or status refresh
		// counted it.
		Quarantined: func() int {
			if ag := s.Agent(); ag != nil {
				return ag.Status().Quarantined
			}
			return 0
		},
		Version: s.opts.Version,
		Logger:  s.log,
	})
}

// startMetrics serves the metrics when the settings name an address. A
// failure to listen (say another user's fieldsync holds the port) is
// logged and the schedule runs on: metrics never stop a sync. Callers hold
// runMu.
func (s *Service) startMetrics(addr string) {
	if addr == "" || s.metricsSrv != nil {
		return
	}
	srv, err := s.metrics.Serve(addr)
	if err != nil {
		s.log.Error("metrics are not served", "addr", addr, "err", err)
		return
	}
	s.metricsSrv = srv
}

// stopMetrics stops serving the metrics of srv (nil: none). Callers do
// not hold runMu: a scrape in flight reads the status.
func (s *Service) stopMetrics(srv *metrics.Server) {
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), metricsStop)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		s.log.Warn("metrics server did not stop cleanly", "err", err)
	}
}

// MetricsURL returns where the metrics are served while the schedule runs
// (http://127.0.0.1:PORT/metrics), or "" when they are not.
func (s *Service) MetricsURL() string {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.metricsSrv == nil {
		return ""
	}
	return s.metricsSrv.URL()
}
