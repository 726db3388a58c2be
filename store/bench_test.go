package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// benchDoc is a record of typical size for an inspection (~300 bytes).
const benchDoc = `{"site":"North gate 7","inspector":"Ann Example","score":87.5,"passed":true,` +
	`"category":"electrical","inspected_at":1700000000000,"note":"Cable tray loose at the east ` +
	`end; photographed and reported to the site manager. Follow-up in two weeks.","tags":["a","b"]}`

// BenchmarkAppend measures journal append throughput with the default
// durability (an fsync per commit): one change per call, and batches of
// 1,000 changes per call as the frontend's mirror loop sends them.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
	}{
		{"single", 1},
		{"batch1000", 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			s := mustOpenAt(b, filepath.Join(b.TempDir(), "bench.db"), &Options{DeviceID: "bench"})
			n := 0
			next := func() Change {
				n++
				return Change{
					ChangeID: fmt.Sprintf("bench-%d", n), Collection: "inspections",
					RecordID: fmt.Sprintf("rec-%d", n), Op: OpPut, Doc: []byte(benchDoc),
					Version: Version{WallMS: 1_700_000_000_000 + int64(n), Node: "bench"}.String(),
					Parents: []string{}, Device: "bench", EditedAt: 1_700_000_000_000,
				}
			}
			batch := make([]Change, bc.batch)
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				b.StopTimer()
				for i := range batch {
					batch[i] = next()
				}
				b.StartTimer()
				res, err := s.Append(ctx, batch)
				if err != nil {
					b.Fatal(err)
				}
				if res.Accepted != len(batch) {
					b.Fatalf("accepted %d of %d", res.Accepted, len(batch))
				}
				total += len(batch)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "changes/s")
		})
	}
}
