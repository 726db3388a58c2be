package agent

import (
	"cmp"
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envInt reads a positive whole number from the environment.
func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive whole number", name, v)
	}
	return n
}

// envDuration reads a duration ("2m") from the environment, or def.
func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a positive duration such as 2m", name, v)
	}
	return d
}

// BenchmarkIntegrationFleet runs the fleet simulation (fleetsim_test.go)
// on the simulated clock against the real Drillbit:
//
//	FIELDSYNC_BENCH_DEVICES=20 FIELDSYNC_BENCH_DAYS=3 FIELDSYNC_BENCH_ACTIVE_HOURS=1 \
//	  go test -run '^$' -bench IntegrationFleet -benchtime 1x -v ./agent/
//
// FIELDSYNC_BENCH_DEVICES devices (default 20), each with its own store,
// sync every 10 simulated minutes at their own offsets (± 2 minutes,
// seeded) during the first FIELDSYNC_BENCH_ACTIVE_HOURS hours (default 1)
// of each of FIELDSYNC_BENCH_DAYS simulated days (default 3), each making
// 1 to 3 edits before a sync (one in three a new record of its own, the
// others edits of 200 shared records, so conflicts happen and the lww
// policy settles them), heartbeats on; a compaction pass (snapshot
// refresh included) runs at every simulated hour, all day, as the systemd
// timer does. Per simulated day it logs the syncs, the device sync and the
// time in Drill queries per sync (p50, p95), the Drillbit's CPU per sync
// and per pass (when it runs here with a pid file: scripts/drillbit.sh),
// the Go heap's peak while devices synced, the files and directories of
// the workspace, the entries at the top of changes/ and of the heartbeat
// log, the rows of <collection>_current and the time of COUNT(*) over it,
// and the cost per entry of SHOW FILES, measured on the largest open hour
// partition against the top of the log just after the active hours.
// Reported metrics are day 1's and the last day's. The devices write their
// batches as FIELDSYNC_BENCH_BATCH_FORMAT (parquet, the default, or json). At the end the fleet
// settles and every change is checked once on every device and in the
// views. With FIELDSYNC_BENCH_CLUSTER=1 it runs on the development cluster
// (drilltest.Cluster: the Drillbits' workspace on HDFS), the devices spread
// over its Drillbits, the CPU being that of all the Drillbits and the
// counts read through WebHDFS.
func BenchmarkIntegrationFleet(b *testing.B) {
	cfg := simConfig{
		devices:      envInt(b, "FIELDSYNC_BENCH_DEVICES", 20),
		days:         envInt(b, "FIELDSYNC_BENCH_DAYS", 3),
		every:        10 * time.Minute,
		jitter:       2 * time.Minute,
		activeHours:  envInt(b, "FIELDSYNC_BENCH_ACTIVE_HOURS", 1),
		compactEvery: time.Hour,
		convertEvery: envDuration(b, "FIELDSYNC_BENCH_CONVERT_EVERY", 0),
		jsonSettle:   envDuration(b, "FIELDSYNC_BENCH_JSON_SETTLE", 0),
		shared:       200,
		seed:         8,
		ghosts:       envInt(b, "FIELDSYNC_BENCH_GHOSTS", 0),
	}
	if cfg.activeHours > 24 {
		b.Fatalf("FIELDSYNC_BENCH_ACTIVE_HOURS=%d: at most 24", cfg.activeHours)
	}
	ctx := context.Background()
	for b.Loop() {
		format := cmp.Or(os.Getenv("FIELDSYNC_BENCH_BATCH_FORMAT"), BatchParquet)
		s := newFleetSim(b, cfg, func(o *Options) { o.Logger = benchLog(); o.BatchFormat = format })
		b.Logf("batches written as %s", format)
		b.Logf("%d devices, every %s ± %s in the first %d h of %d simulated days, compaction every %s, against %s; load %s",
			cfg.devices, cfg.every, cfg.jitter, cfg.activeHours, cfg.days, cfg.compactEvery, s.where, loadAverage())
		if cfg.ghosts > 0 {
			b.Logf("%d ghost devices write JSON batches straight into the workspace at the same schedule (fleetghost_test.go)", cfg.ghosts)
		}
		if cfg.convertEvery > 0 {
			b.Logf("light passes (JSON batches rewritten as Parquet) every %s, JSON batches settled after %s", cfg.convertEvery, cmp.Or(cfg.jsonSettle, jsonSettled))
		}
		days := s.run(ctx, func(d simDay) { b.Log(d.line()) })
		s.finish(ctx)
		s.verify(ctx)
		b.Logf("end: %d changes in the log, peak RSS of the benchmark process (all %d devices) %.0f MiB; load %s",
			s.pushed, cfg.devices, float64(peakRSS())/(1<<20), loadAverage())
		for _, d := range []simDay{days[0], days[len(days)-1]} {
			day := "first"
			if d.day != 1 {
				day = "last"
			}
			b.ReportMetric(quantile(d.syncs, 0.5), day+"-sync-p50-s")
			b.ReportMetric(quantile(d.syncs, 0.95), day+"-sync-p95-s")
			b.ReportMetric(quantile(d.drill, 0.5), day+"-drill-p50-s")
			if len(d.cpu) > 0 {
				b.ReportMetric(quantile(d.cpu, 0.5), day+"-drillcpu-p50-s")
			}
			b.ReportMetric(float64(d.peakHeap)/(1<<20), day+"-heap-MiB")
			b.ReportMetric(float64(d.peakFiles+d.peakDirs), day+"-peak-entries")
			b.ReportMetric(float64(d.topChanges), day+"-top")
			b.ReportMetric(d.listMS, day+"-list-ms/entry")
		}
	}
}

// loadAverage is the 1, 5 and 15 minute load averages, or "?".
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// quantile returns the q-quantile of xs (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
