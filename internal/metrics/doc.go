// Package metrics keeps fieldsync's Prometheus metrics and serves them on a
// loopback address (setting metrics.addr), so that a collector on the same
// machine (node_exporter's textfile collector, Grafana Agent, a Prometheus
// per site) can watch a device.
//
// It reads the sync engine's status at every scrape (pending changes, open
// conflicts, last success, state) and counts what each sync reports through
// agent.Options.OnSync (syncs by result, their duration, changes pushed and
// pulled, failures by kind). Every Metrics has its own registry: nothing is
// registered globally, so two in one process (tests, a settings change) never
// collide.
//
// Names, all prefixed fieldsync_ (see docs/OPERATIONS.md):
//
//	pending_changes                  gauge    changes not yet in Drill
//	conflicts_open                   gauge    records in conflict
//	unpushable_changes               gauge    changes Drill cannot take
//	quarantined_items                gauge    pulled items held back as invalid
//	last_success_timestamp_seconds   gauge    end of the last good sync (0: never)
//	state{state}                     gauge    1 for the engine's state, 0 for the others
//	syncs_total{result}              counter  syncs by result: ok, failed
//	sync_duration_seconds            histogram of every sync's duration
//	pushed_changes_total             counter  changes written to Drill
//	pulled_changes_total             counter  other devices' changes applied here
//	drill_errors_total{kind}         counter  failed syncs by kind (agent.ErrorKind)
//	info{version,device}             gauge    1
//
// plus the Go runtime's and the process's own (go_*, process_*).
package metrics
