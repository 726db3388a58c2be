package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configures Metrics.
type Options struct {
	// Status reads the sync engine's status at each scrape (required).
	Status func() agent.Status
	// Quarantined reads how many pulled items are held back as invalid;
	// nil reads 0 (a store without a quarantine).
	Quarantined func() int
	// Version is the build's version, reported in fieldsync_info.
	Version string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Metrics holds one process's metrics in a registry of its own. Its
// methods are safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	log      *slog.Logger
	syncs    *prometheus.CounterVec
	duration prometheus.Histogram
	pushed   prometheus.Counter
	pulled   prometheus.Counter
	errs     *prometheus.CounterVec
}

// Sync durations run from a second (nothing to do) to many minutes (a big
// backlog over a slow link).
var durationBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}

// New returns Metrics that read opts.Status at every scrape.
func New(opts Options) *Metrics {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_syncs_total", Help: "Syncs (push, then pull) by result: ok or failed.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fieldsync_sync_duration_seconds", Help: "How long each sync ran, whatever its result.",
			Buckets: durationBuckets,
		}),
		pushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fieldsync_pushed_changes_total", Help: "Changes of this device written to Drill.",
		}),
		pulled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fieldsync_pulled_changes_total", Help: "Other devices' changes pulled from Drill and applied here.",
		}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fieldsync_drill_errors_total", Help: "Failed syncs by kind of error: unreachable, timeout, auth, query, not_configured, foreign_batch, canceled, other.",
		}, []string{"kind"}),
	}
	// Every series exists from the start, at 0, so rates and alerts work
	// before the first failure.
	m.syncs.WithLabelValues("ok")
	m.syncs.WithLabelValues("failed")
	for _, k := range agent.ErrorKinds() {
		m.errs.WithLabelValues(string(k))
	}
	m.reg.MustRegister(m.syncs, m.duration, m.pushed, m.pulled, m.errs,
		&statusCollector{status: opts.Status, quarantined: opts.Quarantined, version: opts.Version},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Observe counts one sync's outcome; pass it as agent.Options.OnSync.
func (m *Metrics) Observe(r agent.SyncResult) {
	m.duration.Observe(r.Took.Seconds())
	m.pushed.Add(float64(r.Report.Pushed))
	m.pulled.Add(float64(r.Report.Pulled))
	if r.Err == nil {
		m.syncs.WithLabelValues("ok").Inc()
		return
	}
	m.syncs.WithLabelValues("failed").Inc()
	m.errs.WithLabelValues(string(r.Kind)).Inc()
}

// Handler serves the metrics in Prometheus' text format to requests
// addressed to a loopback name: a web page that renames its own host to
// 127.0.0.1 (DNS rebinding) is refused.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "fieldsync serves metrics to this machine only: address it as 127.0.0.1, [::1] or localhost", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server serves the metrics over HTTP.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

// Path is where the metrics are served.
const Path = "/metrics"

// Serve listens on addr, which must resolve to a loopback address, and
// serves the metrics at Path until Stop.
func (m *Metrics) Serve(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("metrics: %s is not a loopback address: metrics are served to this machine only", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, m.Handler())
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics server stopped", "err", err)
		}
	}()
	m.log.Info("serving metrics", "url", s.URL())
	return s, nil
}

// URL is the address of the metrics, e.g. http://127.0.0.1:9464/metrics.
func (s *Server) URL() string { return "http://" + s.addr + Path }

// Stop stops serving, waiting for scrapes in flight until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	if err != nil {
		return fmt.Errorf("metrics: stop: %w", err)
	}
	return nil
}
