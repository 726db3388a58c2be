package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
)

// BenchmarkIntegrationHistory measures a sync and the analyst views
// against the real Drillbit as the change log's history grows:
//
//	FIELDSYNC_BENCH_BATCHES=50,500,2000 FIELDSYNC_BENCH_LAYOUTS=snapshot \
//	  go test -run '^$' -bench IntegrationHistory -benchtime 1x ./agent/
//
// History is made by replicating one real batch written by an agent: its
// parquet file is copied into N batch directories with valid names of
// other devices, spread 100 to an hour back from now (the replicate-the-
// batches method of issue 8), and the directories' times set to their
// names' (as when written then). Layouts (FIELDSYNC_BENCH_LAYOUTS, default
// all): "snapshot" (hour partitions and a snapshot refreshed before the
// first sync, this release), "partitioned" (hour partitions, no snapshot)
// and "first" (every batch directly under changes/). Reported: "fresh-s",
// the first sync of a new device (the copies share change ids, so it
// applies one change), "uptodate-s", the next sync with nothing new,
// "heap-MB" the Go heap after the first sync; with a snapshot also
// "refresh-s" (the first refresh, over all N batches, in steps of
// maxSnapshotParts hours), "current-s" (SELECT COUNT(*) FROM the _current
// view) and "record-s" (the _current view WHERE record_id = 'x').
func BenchmarkIntegrationHistory(b *testing.B) {
	sizes := benchSizes(b, 50, 500)
	layouts := []string{"snapshot", "partitioned", "first"}
	if env := os.Getenv("FIELDSYNC_BENCH_LAYOUTS"); env != "" {
		layouts = strings.Split(env, ",")
	}
	d := realDrill(b)
	for _, layout := range layouts {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/batches=%d", layout, n), func(b *testing.B) {
				set, coll, now := replicateHistory(b, d, n, 0, layout != "first")
				withSet := func(o *Options) { o.Schema = set }
				for b.Loop() {
					if layout == "snapshot" {
						benchSnapshot(b, mustNode(b, "refresher", now, d, withSet), d, coll)
					}
					c := mustNode(b, "fresh", now, d, func(o *Options) { withSet(o); o.Logger = benchLog() })
					start := time.Now()
					c.sync(b)
					fresh := time.Since(start)
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					start = time.Now()
					c.sync(b)
					b.ReportMetric(fresh.Seconds(), "fresh-s")
					b.ReportMetric(time.Since(start).Seconds(), "uptodate-s")
					b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
				}
			})
		}
	}
}

// seedParquet returns the parquet file of the one batch under dir.
func seedParquet(tb testing.TB, dir string) string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.parquet"))
	if err != nil || len(files) != 1 {
		tb.Fatalf("seed batch: %v %v", files, err)
	}
	return files[0]
}

func copyFile(tb testing.TB, src, dst string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		tb.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
}

// benchLog logs warnings, and with FIELDSYNC_BENCH_LOG=debug everything.
func benchLog() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("FIELDSYNC_BENCH_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// benchSnapshot refreshes a collection's snapshot and times it and the
// _current view, counted and filtered by record.
func benchSnapshot(b *testing.B, a *node, d Drill, coll string) {
	b.Helper()
	start := time.Now()
	if _, err := a.ag.RefreshSnapshot(context.Background(), coll, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(start).Seconds(), "refresh-s")
	view := fmt.Sprintf("`dfs`.`fieldsync`.`%s_current`", coll)
	start = time.Now()
	queryOne(b, d, "SELECT COUNT(*) AS n FROM "+view)
	b.ReportMetric(time.Since(start).Seconds(), "current-s")
	start = time.Now()
	queryOne(b, d, "SELECT `record_id`, `version` FROM "+view+" WHERE `record_id` = 'r'")
	b.ReportMetric(time.Since(start).Seconds(), "record-s")
}

// BenchmarkIntegrationCompaction measures a compaction pass over a
// replicated history (the method of BenchmarkIntegrationHistory, batches
// spread 100 to an hour ending two days ago, so every hour is closed) and
// a device's syncs before and after it:
//
//	FIELDSYNC_BENCH_BATCHES=500,2000 go test -run '^$' -bench IntegrationCompaction -benchtime 1x ./agent/
//
// Reported: "compact-s" (one pass), "top-before" and "top-after" (entries
// at the top of changes/), "fresh-s"/"uptodate-s" before and after
// compaction ("-after"), and "current-s", a COUNT(*) over the
// <collection>_current view after compaction. The copies share one change
// id, so a compacted entry holds one row: this measures listing and
// planning, not reading volume.
func BenchmarkIntegrationCompaction(b *testing.B) {
	sizes := benchSizes(b, 500)
	d := realDrill(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("batches=%d", n), func(b *testing.B) {
			set, coll, now := replicateHistory(b, d, n, 48*time.Hour, true)
			withSet := func(o *Options) { o.Schema = set }
			syncs := func(suffix string) {
				c := mustNode(b, "fresh"+suffix, now, d, func(o *Options) { withSet(o); o.Logger = benchLog() })
				start := time.Now()
				c.sync(b)
				b.ReportMetric(time.Since(start).Seconds(), "fresh-s"+suffix)
				start = time.Now()
				c.sync(b)
				b.ReportMetric(time.Since(start).Seconds(), "uptodate-s"+suffix)
			}
			for b.Loop() {
				b.ReportMetric(float64(len(topEntries(b, coll))), "top-before")
				syncs("")
				comp, err := NewCompactor(CompactOptions{Drill: d, Schema: set, Logger: benchLog()})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := comp.Compact(context.Background(), coll); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "compact-s")
				b.ReportMetric(float64(len(topEntries(b, coll))), "top-after")
				syncs("-after")
				start = time.Now()
				queryOne(b, d, fmt.Sprintf("SELECT COUNT(*) AS n FROM `dfs`.`fieldsync`.`%s_current`", coll))
				b.ReportMetric(time.Since(start).Seconds(), "current-s")
			}
		})
	}
}

// benchSizes returns the history sizes of FIELDSYNC_BENCH_BATCHES
// ("50,500"), or def.
func benchSizes(b *testing.B, def ...int) []int {
	env := os.Getenv("FIELDSYNC_BENCH_BATCHES")
	if env == "" {
		return def
	}
	var sizes []int
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("FIELDSYNC_BENCH_BATCHES: %v", err)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// replicateHistory makes a private collection's history of n batches by the
// replicate-the-batches method: an agent writes one real batch, whose
// parquet file is copied into n batch directories of 1,000 simulated
// devices, 100 to an hour, the last one back before now, in hour partitions
// or (partitioned false) directly under changes/, each directory's time set
// to its name's (as if written then).
func replicateHistory(b *testing.B, d Drill, n int, back time.Duration, partitioned bool) (*schema.Set, string, int64) {
	b.Helper()
	set, name := itSchema(b)
	coll := name("inspections")
	now := time.Now().UnixMilli()
	a := mustNode(b, "seed", now, d, func(o *Options) { o.Schema = set })
	a.edit(b, coll, "r", `{"site":"x"}`)
	a.sync(b)
	dir := filepath.Join(drilltest.WorkspaceDir(b), coll, "changes")
	src := seedParquet(b, dir)
	end := now - back.Milliseconds()
	for i := range n {
		ms := end - int64(n-i)*time.Hour.Milliseconds()/100
		name := batchName(ms, fmt.Sprintf("dev%04d", i%1000), uint64(i+1))
		if partitioned {
			name = partitionOf(ms) + "/" + name
		}
		copyFile(b, src, filepath.Join(dir, name, "0_0_0.parquet"))
		t := time.UnixMilli(ms)
		for p := filepath.Join(dir, name); p != dir; p = filepath.Dir(p) {
			if err := os.Chtimes(p, t, t); err != nil {
				b.Fatal(err)
			}
		}
	}
	return set, coll, now
}
