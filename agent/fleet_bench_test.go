package agent

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// drillTimer is a Drill that sums the time its queries take.
type drillTimer struct {
	Drill
	mu    sync.Mutex
	spent time.Duration
}

func (d *drillTimer) Query(ctx context.Context, sql string) ([]Row, error) {
	start := time.Now()
	rows, err := d.Drill.Query(ctx, sql)
	d.mu.Lock()
	d.spent += time.Since(start)
	d.mu.Unlock()
	return rows, err
}

// take returns the time spent since the last take.
func (d *drillTimer) take() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.spent
	d.spent = 0
	return s
}

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

// BenchmarkIntegrationFleet simulates a small fleet against the real
// Drillbit:
//
//	FIELDSYNC_BENCH_DEVICES=20 FIELDSYNC_BENCH_HOURS=2 \
//	  go test -run '^$' -bench IntegrationFleet -benchtime 1x ./agent/
//
// Each simulated device has its own store and clock and syncs every 10
// simulated minutes at its own jittered offset (seeded, so runs compare),
// editing 1 to 3 of 200 shared records before each sync (so conflicts
// happen). At the end of every simulated hour the snapshot is refreshed
// (the compaction pass's last step) and the collection's files counted.
// Syncs run one at a time in simulated-time order; batch names and hour
// partitions follow Drill's real clock, so the simulated hours share the
// real hour's partition (the figures are per sync, not per partition).
// Reported: p50 and p95 of a device sync ("sync-p50-s", "sync-p95-s") and
// of the Drill time within it ("drill-p50-s", "drill-p95-s"), the Go
// memory allocated per sync ("alloc-MB"), the files under the collection
// at the end ("files"), the last refresh ("refresh-s"), and per simulated
// hour a log line with the same figures.
func BenchmarkIntegrationFleet(b *testing.B) {
	devices := envInt(b, "FIELDSYNC_BENCH_DEVICES", 20)
	hours := envInt(b, "FIELDSYNC_BENCH_HOURS", 2)
	if hours > 20 {
		// Versions may be at most a day ahead of Drill's clock.
		b.Fatalf("FIELDSYNC_BENCH_HOURS=%d: at most 20", hours)
	}
	d := &drillTimer{Drill: realDrill(b)}
	for b.Loop() {
		set, name := itSchema(b)
		coll := name("inspections")
		withSet := func(o *Options) { o.Schema = set; o.Logger = benchLog() }
		start := time.Now().UnixMilli()
		rng := rand.New(rand.NewPCG(8, 1))
		type device struct {
			n      *node
			offset time.Duration
		}
		fleet := make([]device, devices)
		for i := range fleet {
			fleet[i] = device{
				n:      mustNode(b, fmt.Sprintf("dev%03d", i), start, d, withSet),
				offset: time.Duration(rng.Int64N(int64(10 * time.Minute))),
			}
		}
		dir := filepath.Join(drilltest.WorkspaceDir(b), coll)
		var syncs, drills []float64
		var refresh time.Duration
		var first runtime.MemStats
		runtime.ReadMemStats(&first)
		for h := range hours {
			var hourSyncs []float64
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			for tick := range 6 {
				// One tick of the schedule, devices in offset order.
				order := make([]int, devices)
				for i := range order {
					order[i] = i
				}
				slices.SortFunc(order, func(x, y int) int { return int(fleet[x].offset - fleet[y].offset) })
				for _, i := range order {
					dv := fleet[i]
					at := time.Duration(h)*time.Hour + time.Duration(tick)*10*time.Minute + dv.offset
					if ahead := time.UnixMilli(start).Add(at).Sub(dv.n.clk.Now()); ahead > 0 {
						dv.n.clk.Advance(ahead)
					}
					for range 1 + rng.IntN(3) {
						id := fmt.Sprint("r", rng.IntN(200))
						dv.n.edit(b, coll, id, fmt.Sprintf(`{"site":"%s h%d t%d"}`, dv.n.device, h, tick))
					}
					d.take()
					t0 := time.Now()
					if _, err := dv.n.ag.SyncNow(context.Background()); err != nil {
						b.Fatalf("%s sync: %v", dv.n.device, err)
					}
					syncs = append(syncs, time.Since(t0).Seconds())
					hourSyncs = append(hourSyncs, time.Since(t0).Seconds())
					drills = append(drills, d.take().Seconds())
				}
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			t0 := time.Now()
			if _, err := fleet[0].n.ag.RefreshSnapshot(context.Background(), coll, time.Now()); err != nil {
				b.Fatal(err)
			}
			refresh = time.Since(t0)
			b.Logf("simulated hour %d: %d syncs, sync p50 %.2f s p95 %.2f s, %.1f MB allocated per sync, %d files, refresh %.1f s",
				h+1, len(hourSyncs), quantile(hourSyncs, 0.5), quantile(hourSyncs, 0.95),
				float64(after.TotalAlloc-before.TotalAlloc)/float64(len(hourSyncs))/(1<<20), countFiles(b, dir), refresh.Seconds())
		}
		b.ReportMetric(quantile(syncs, 0.5), "sync-p50-s")
		b.ReportMetric(quantile(syncs, 0.95), "sync-p95-s")
		b.ReportMetric(quantile(drills, 0.5), "drill-p50-s")
		b.ReportMetric(quantile(drills, 0.95), "drill-p95-s")
		var last runtime.MemStats
		runtime.ReadMemStats(&last)
		b.ReportMetric(float64(last.TotalAlloc-first.TotalAlloc)/float64(len(syncs))/(1<<20), "alloc-MB")
		b.ReportMetric(float64(countFiles(b, dir)), "files")
		b.ReportMetric(refresh.Seconds(), "refresh-s")
	}
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

// countFiles counts the files under dir.
func countFiles(tb testing.TB, dir string) int {
	tb.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
