package agent

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// heapPeak samples the Go heap while fn runs and returns the highest
// HeapInuse seen (MiB), after a GC before the start.
func heapPeak(fn func()) float64 {
	runtime.GC()
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			mu.Lock()
			peak = max(peak, m.HeapInuse)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	return float64(peak) / (1 << 20)
}

// BenchmarkReferencePull pulls a reference collection of 100,000 CSV rows
// from the real Drillbit: the first time (empty device), again unchanged
// (one aggregate), then with 1% of the rows changed. It reports each
// phase's time, the rows read and the Go heap's peak.
func BenchmarkReferencePull(b *testing.B) {
	const rows = 100_000
	d := realDrill(b)
	ctx := context.Background()
	csv := fmt.Sprintf("bench%d_sites.csvh", time.Now().UnixNano())
	lines := func(changedEvery int) []string {
		out := make([]string, 0, rows+1)
		out = append(out, "site_id,site_name,region,lat,open")
		for i := range rows {
			name := fmt.Sprintf("Site %06d on the %s road", i, []string{"north", "east", "south", "west"}[i%4])
			if changedEvery > 0 && i%changedEvery == 0 {
				name += " (moved)"
			}
			out = append(out, fmt.Sprintf("S%06d,%s,north,%d.%d,yes", i, name, i%90, i%10))
		}
		return out
	}
	for range b.N {
		table := writeCSVAt(b, csv, lines(0))
		set, sites := refSchema(b, table, "")
		n := mustNode(b, fmt.Sprintf("bench%d", time.Now().UnixNano()), time.Now().UnixMilli(), d, func(o *Options) {
			o.Schema, o.Scope = set, map[string]string{"region": "north"}
		})
		phase := func(name string) {
			var res RefResult
			var took time.Duration
			peak := heapPeak(func() {
				start := time.Now()
				rs, err := n.ag.PullReferences(ctx, true)
				took = time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				res = refResult(b, rs, sites)
			})
			if res.Error != "" {
				b.Fatalf("%s: %s", name, res.Error)
			}
			b.ReportMetric(took.Seconds(), "s-"+name)
			b.ReportMetric(float64(res.RowsRead), "rows-read-"+name)
			b.ReportMetric(peak, "heapMiB-"+name)
			b.Logf("%s: %.2f s, %d rows read, +%d ~%d -%d, peak heap %.0f MiB", name, took.Seconds(), res.RowsRead, res.Added, res.Changed, res.Removed, peak)
		}
		phase("first")
		phase("unchanged")
		writeCSVAt(b, csv, lines(100))
		phase("1pct")
	}
}

// writeCSVAt is writeCSV for benchmarks.
func writeCSVAt(tb testing.TB, name string, lines []string) string {
	tb.Helper()
	return writeCSV(tb, name, strings.Join(lines, "\n"))
}
