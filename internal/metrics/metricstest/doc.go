// Package metricstest scrapes a Prometheus endpoint the way a Prometheus
// server does, a real HTTP GET parsed as the text format, for tests of
// fieldsync's metrics at every level (package metrics, the service, the
// command line).
package metricstest
