//go:build !windows

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// The benchmarks below run against a real Drillbit and measure one run per
// size (use -benchtime 1x); `make bench` runs them and records the output in
// docs/BENCHMARKS.md. Sizes come from FIELDSYNC_BENCH_SIZES (default
// "10000,100000").

func benchSizes(tb testing.TB) []int {
	spec := os.Getenv("FIELDSYNC_BENCH_SIZES")
	if spec == "" {
		spec = "10000,100000"
	}
	var out []int
	for _, s := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			tb.Fatalf("FIELDSYNC_BENCH_SIZES: %q is not a positive number", s)
		}
		out = append(out, n)
	}
	return out
}

// childRun is what timedChild measured of one child process: wall time,
// peak resident memory (the kernel's high-water mark, VmHWM, which the
// child reports as it exits), and the peaks of its two parts sampled every
// 20 ms from /proc: anonymous memory (Go's heap and stacks) and file pages
// mapped in (bbolt's memory-mapped store, the program's code).
type childRun struct {
	took                time.Duration
	rss, anon, filePeak int64
}

// timedChild runs `fieldsync <cmd>` as a separate process and measures it.
func (d *device) timedChild(cmd ...string) childRun {
	d.tb.Helper()
	args, _ := json.Marshal(append(append([]string{}, cmd...), d.args...))
	c := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	status := filepath.Join(d.tb.TempDir(), "status")
	c.Env = append(append(os.Environ(), d.env...), childEnv+"=1", childArgsEnv+"="+string(args), childStatusEnv+"="+status)
	var errb bytes.Buffer
	c.Stdout, c.Stderr = io.Discard, &errb
	start := time.Now()
	if err := c.Start(); err != nil {
		d.tb.Fatalf("fieldsync %v: %v", cmd, err)
	}
	var run childRun
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		proc := fmt.Sprintf("/proc/%d/status", c.Process.Pid)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if b, err := os.ReadFile(proc); err == nil {
				run.anon = max(run.anon, statusKB(b, "RssAnon:"))
				run.filePeak = max(run.filePeak, statusKB(b, "RssFile:"))
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	err := c.Wait()
	close(stop)
	<-sampled
	if err != nil {
		d.tb.Fatalf("fieldsync %v: %v\n%s", cmd, err, errb.String())
	}
	run.took = time.Since(start)
	b, err := os.ReadFile(status)
	if err != nil {
		d.tb.Fatalf("fieldsync %v: its memory: %v", cmd, err)
	}
	run.rss = statusKB(b, "VmHWM:")
	return run
}

// statusKB reads a "Name:  123 kB" line of /proc/<pid>/status, in bytes.
func statusKB(status []byte, name string) int64 {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// report adds a child run's figures to a benchmark.
func (r childRun) report(b *testing.B, n int) {
	b.ReportMetric(float64(n)/r.took.Seconds(), "changes/s")
	b.ReportMetric(float64(r.rss)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(r.anon)/(1<<20), "anon-MiB")
	b.ReportMetric(float64(r.filePeak)/(1<<20), "file-MiB")
}

// rawCTAS writes n rows shaped like fieldsync's change rows with plain HTTP
// requests: one CREATE TABLE AS per batch of batchRows, the same JSON-FLATTEN
// form, no client library, no bookkeeping. It is the baseline the agent's
// push is compared with.
func rawCTAS(tb testing.TB, url, ws, dir string, n, batchRows int) time.Duration {
	tb.Helper()
	start := time.Now()
	for first, batch := 0, 0; first < n; first, batch = first+batchRows, batch+1 {
		rows := make([]map[string]string, 0, batchRows)
		for i := first; i < min(n, first+batchRows); i++ {
			doc := fmt.Sprintf(`{"id":"raw%06d","site":"Site %d","passed":true,"risk":"low","inspected_at":1700000000000}`, i, i)
			rows = append(rows, map[string]string{
				"change_id": fmt.Sprintf("%032x", i), "record_id": fmt.Sprintf("raw%06d", i), "op": "put",
				"version": fmt.Sprintf("%015d-0000-raw", 1700000000000+i), "parents": "[]", "device": "raw",
				"author": "bench", "edited_at": "1700000000000", "batch_rows": strconv.Itoa(batchRows),
				"site": fmt.Sprintf("Site %d", i), "passed": "true", "risk": "low", "inspected_at": "1700000000000", "doc": doc,
			})
		}
		js, _ := json.Marshal(rows)
		sql := fmt.Sprintf("CREATE TABLE dfs.%s.`%s/b%06d` AS SELECT t.r.change_id AS change_id, t.r.record_id AS record_id, "+
			"t.r.op AS op, t.r.version AS version, t.r.parents AS parents, t.r.device AS device, t.r.author AS author, "+
			"CAST(t.r.edited_at AS BIGINT) AS edited_at, CAST(t.r.batch_rows AS BIGINT) AS batch_rows, t.r.site AS site, "+
			"CAST(t.r.passed AS BOOLEAN) AS passed, t.r.risk AS risk, CAST(t.r.inspected_at AS BIGINT) AS inspected_at, t.r.doc AS doc "+
			"FROM (SELECT FLATTEN(convert_fromJSON('%s')) AS r FROM (VALUES(1))) AS t",
			ws, dir, batch, strings.ReplaceAll(string(js), "'", "''"))
		body, _ := json.Marshal(map[string]string{"queryType": "SQL", "query": sql})
		resp, err := http.Post(url+"/query.json", "application/json", bytes.NewReader(body))
		if err != nil {
			tb.Fatalf("raw CTAS: %v", err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(reply, []byte(`"FAILED"`)) {
			tb.Fatalf("raw CTAS: HTTP %d: %.500s", resp.StatusCode, reply)
		}
	}
	return time.Since(start)
}

// warmDrill pushes 2,000 changes once through a device and once as raw
// CTAS, untimed, so that neither side of the first measured pair pays for
// warming up a freshly started Drillbit (its JIT and planner caches): the
// first timed sync used to, the raw loop after it did not.
func warmDrill(b *testing.B, url string) {
	b.Helper()
	d, ws := isolatedDevice(b, "bwarm", url)
	importN(b, d, 2000, "w")
	d.must("", "sync")
	rawCTAS(b, url, ws, "rawwarm", 2000, 500)
}

// BenchmarkPush: `fieldsync sync` pushing N changes vs raw CTAS of the same
// rows, plus the agent's peak memory.
func BenchmarkPush(b *testing.B) {
	url := drilltest.URL(b)
	warmDrill(b, url)
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("changes=%d", n), func(b *testing.B) {
			for range b.N {
				d, ws := isolatedDevice(b, fmt.Sprintf("bpush%d", n), url)
				// An established device: its first push (the workspace
				// saved in Drill's storage plugin, the change log and the
				// analyst views created) is not part of pushing N changes.
				// (A sync with nothing pushed makes no views: they read
				// the change log.)
				importN(b, d, 1, "e")
				d.must("", "sync")
				importN(b, d, n, "p")
				b.ResetTimer()
				run := d.timedChild("sync")
				raw := rawCTAS(b, url, ws, "raw", n, 500)
				b.StopTimer()
				rows, distinct := drillCounts(b, url, ws, fmt.Sprintf("bpush%d", n))
				if rows != int64(n+1) || distinct != int64(n+1) {
					b.Fatalf("Drill holds %d rows (%d distinct), want %d", rows, distinct, n+1)
				}
				run.report(b, n)
				b.ReportMetric(float64(n)/raw.Seconds(), "raw-changes/s")
				b.ReportMetric(raw.Seconds()/run.took.Seconds(), "ratio-vs-raw")
			}
		})
	}
}

// BenchmarkPull: a second device pulling N changes.
func BenchmarkPull(b *testing.B) {
	url := drilltest.URL(b)
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("changes=%d", n), func(b *testing.B) {
			for range b.N {
				a, ws := isolatedDevice(b, fmt.Sprintf("bpulla%d", n), url)
				importN(b, a, n, "q")
				a.must("", "sync")
				loc := ""
				for _, kv := range a.env {
					if v, ok := strings.CutPrefix(kv, "FIELDSYNC_DRILL_LOCATION="); ok {
						loc = v
					}
				}
				other := newDevice(b, fmt.Sprintf("bpullb%d", n), url, ws, "FIELDSYNC_DRILL_LOCATION="+loc)
				b.ResetTimer()
				run := other.timedChild("sync")
				b.StopTimer()
				if got := len(filterPrefix(other.must("", "export", "--collection", "inspections"), "q")); got != n {
					b.Fatalf("pulled %d records, want %d", got, n)
				}
				run.report(b, n)
			}
		})
	}
}

// BenchmarkBatchRows sweeps the batch size behind the engine's default.
func BenchmarkBatchRows(b *testing.B) {
	url := drilltest.URL(b)
	const n = 10000
	for _, rows := range []int{100, 250, 500, 1000, 2000, 5000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			for range b.N {
				d, _ := isolatedDevice(b, fmt.Sprintf("bsweep%d", rows), url, "FIELDSYNC_DRILL_BATCH_ROWS="+strconv.Itoa(rows))
				importN(b, d, n, "s")
				b.ResetTimer()
				took := d.timedChild("sync").took
				b.StopTimer()
				b.ReportMetric(float64(n)/took.Seconds(), "changes/s")
			}
		})
	}
}
