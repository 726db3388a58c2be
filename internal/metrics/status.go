package metrics

import (
	"github.com/fieldsync/fieldsync/agent"
	"github.com/prometheus/client_golang/prometheus"
)

// statusCollector turns the engine's status, read once per scrape, into
// gauges, so every gauge of a scrape describes the same moment.
type statusCollector struct {
	status      func() agent.Status
	quarantined func() int
	version     string
}

var (
	descPending = prometheus.NewDesc("fieldsync_pending_changes",
		"Local changes not yet in Drill.", nil, nil)
	descConflicts = prometheus.NewDesc("fieldsync_conflicts_open",
		"Records in conflict on this device.", nil, nil)
	descUnpushable = prometheus.NewDesc("fieldsync_unpushable_changes",
		"Changes Drill cannot take; they stay in the local journal.", nil, nil)
	descQuarantined = prometheus.NewDesc("fieldsync_quarantined_items",
		"Pulled items held back as invalid.", nil, nil)
	descLastSuccess = prometheus.NewDesc("fieldsync_last_success_timestamp_seconds",
		"When the last sync succeeded, in Unix seconds; 0 before the first.", nil, nil)
	descState = prometheus.NewDesc("fieldsync_state",
		"The sync engine's state: 1 for the current one.", []string{"state"}, nil)
	descInfo = prometheus.NewDesc("fieldsync_info",
		"The device and fieldsync version; always 1.", []string{"version", "device"}, nil)
)

// states lists the engine's states, in the order they are reported.
var states = []agent.State{agent.StateIdle, agent.StatePushing, agent.StatePulling, agent.StateOffline, agent.StateError}

// Describe implements prometheus.Collector.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descConflicts, descUnpushable, descQuarantined, descLastSuccess, descState, descInfo} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descPending, float64(st.Pending))
	gauge(descConflicts, float64(st.Conflicts))
	gauge(descUnpushable, float64(st.Unpushable))
	q := 0
	if c.quarantined != nil {
		q = c.quarantined()
	}
	gauge(descQuarantined, float64(q))
	last := 0.0
	if !st.LastSuccess.IsZero() {
		last = float64(st.LastSuccess.UnixMilli()) / 1000
	}
	gauge(descLastSuccess, last)
	for _, s := range states {
		v := 0.0
		if st.State == s {
			v = 1
		}
		gauge(descState, v, string(s))
	}
	gauge(descInfo, 1, c.version, st.Device)
}
