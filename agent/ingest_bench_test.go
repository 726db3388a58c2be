package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkIngest measures ingest throughput against the real Drillbit: a
// device pushes 2,000 records; an analyst's inbox table corrects the site
// of every one (a bulk fix read from _current). The same run times a raw
// CTAS of the same rows (median of three) (the inbox table copied with one CREATE TABLE AS
// SELECT through the REST API: what writing them costs with no checks, no
// version graph and no ledger) and one ingest pass over them, and reports
// both as rows/s and their ratio.
func BenchmarkIngest(b *testing.B) {
	const rows = 2000
	ctx := context.Background()
	d := realDrill(b)
	for range b.N {
		set, name := itSchema(b)
		coll := name("inspections")
		n := mustNode(b, "bench", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
		for i := range rows {
			n.edit(b, coll, fmt.Sprintf("r%05d", i), fmt.Sprintf(`{"site":"Site %d on the north road","temp":%d.5,"count":%d}`, i, i%40, i))
		}
		n.sync(b)
		ws := "`dfs`.`fieldsync`"
		src := fmt.Sprintf("SELECT record_id, CONCAT(site, ' (checked)') AS site, 'ana' AS author, 'bulk fix' AS reason FROM %s.`%s_current`", ws, coll)
		inbox(b, d, coll, "bulk", src)

		// The raw CTAS varies a lot from run to run on a loaded machine
		// (0.2 to 1.1 s): the median of three.
		var raws []time.Duration
		for k := range 3 {
			start := time.Now()
			if _, err := d.Query(ctx, fmt.Sprintf("CREATE TABLE %s.`%s/raw_copy%d` AS SELECT * FROM %s.`%s/inbox/bulk`", ws, coll, k, ws, coll)); err != nil {
				b.Fatal(err)
			}
			raws = append(raws, time.Since(start))
		}
		slices.Sort(raws)
		raw := raws[1]

		in := mustIngester(b, d, IngestOptions{Schema: set, Logger: slog.New(slog.NewTextHandler(ingestBenchLog{b}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		start := time.Now()
		rep, err := in.Run(ctx)
		took := time.Since(start)
		if err != nil || rep.Applied != rows {
			b.Fatalf("ingest: %+v %v", rep, err)
		}
		b.ReportMetric(rows/raw.Seconds(), "rows/s-raw-ctas")
		b.ReportMetric(rows/took.Seconds(), "rows/s-ingest")
		b.ReportMetric(took.Seconds()/raw.Seconds(), "ingest/raw-time")
		b.Logf("%d rows: raw CTAS %.2f s (%.0f rows/s); ingest %.2f s (%.0f rows/s, %d batches); ingest takes %.1f× the raw CTAS",
			rows, raw.Seconds(), rows/raw.Seconds(), took.Seconds(), rows/took.Seconds(), rep.Tables[0].Batches, took.Seconds()/raw.Seconds())
	}
}

// ingestBenchLog writes the ingester's debug log (step timings) to the
// benchmark's log.
type ingestBenchLog struct{ b *testing.B }

func (l ingestBenchLog) Write(p []byte) (int, error) {
	if s := string(p); strings.Contains(s, "timings") {
		l.b.Log(strings.TrimSpace(s))
	}
	return len(p), nil
}
