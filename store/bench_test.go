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

// BenchmarkApplyRemote measures pull-side throughput: batches of 1,000
// pulled edits of existing records (each names its parent, so the version
// graph is walked and the leaves move).
func BenchmarkApplyRemote(b *testing.B) {
	ctx := context.Background()
	s := mustOpenAt(b, filepath.Join(b.TempDir(), "bench.db"), &Options{DeviceID: "bench"})
	const records = 10_000
	heads := make([]string, records)
	wall := int64(1_700_000_000_000)
	mk := func(i int) Change {
		wall++
		r := i % records
		v := Version{WallMS: wall, Node: "remote"}.String()
		parents := []string{}
		if heads[r] != "" {
			parents = []string{heads[r]}
		}
		heads[r] = v
		return Change{
			ChangeID: fmt.Sprintf("remote-%d", i), Collection: "inspections",
			RecordID: fmt.Sprintf("rec-%d", r), Op: OpPut, Doc: []byte(benchDoc),
			Version: v, Parents: parents, Device: "remote", EditedAt: wall,
		}
	}
	n := 0
	batch := make([]Change, 1000)
	for range records / len(batch) { // every record exists before timing
		for i := range batch {
			batch[i] = mk(n)
			n++
		}
		if _, err := s.ApplyRemote(ctx, "seed", batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		b.StopTimer()
		for i := range batch {
			batch[i] = mk(n)
			n++
		}
		b.StartTimer()
		res, err := s.ApplyRemote(ctx, "bench", batch)
		if err != nil {
			b.Fatal(err)
		}
		if res.Accepted != len(batch) {
			b.Fatalf("accepted %d of %d", res.Accepted, len(batch))
		}
		total += len(batch)
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkPending measures how fast a push reads the journal: pages of
// 1,000 entries (with their docs) out of 10,000 pending.
func BenchmarkPending(b *testing.B) {
	ctx := context.Background()
	s := mustOpenAt(b, filepath.Join(b.TempDir(), "bench.db"), &Options{DeviceID: "bench"})
	batch := make([]Change, 1000)
	for j := range 10 {
		for i := range batch {
			n := j*1000 + i
			batch[i] = Change{
				ChangeID: fmt.Sprintf("bench-%d", n), Collection: "inspections",
				RecordID: fmt.Sprintf("rec-%d", n), Op: OpPut, Doc: []byte(benchDoc),
				Version: Version{WallMS: 1_700_000_000_000 + int64(n), Node: "bench"}.String(),
				Parents: []string{}, Device: "bench",
			}
		}
		if _, err := s.Append(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	total := 0
	after := uint64(0)
	for b.Loop() {
		page, err := s.Pending(ctx, after, 1000)
		if err != nil {
			b.Fatal(err)
		}
		total += len(page)
		if after += 1000; after >= 10_000 {
			after = 0
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "entries/s")
}
