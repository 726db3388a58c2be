package service

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/store"
)

// BenchmarkServiceAccept measures the accept path in process: 10,000 new
// changes of ~150 bytes sent to Service.Accept in batches of 500, two
// batches with Go at once, as the page's drain sends them (the "Go alone"
// floor of scripts/browser-bench.sh without the bridge and the page).
func BenchmarkServiceAccept(b *testing.B) {
	const (
		records  = 10_000
		batch    = 500
		inFlight = 2
	)
	s := mustOpenService(b, serviceOpts{})
	ctx := context.Background()
	run := 0
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		b.StopTimer()
		run++
		batches := make(chan []store.Change, records/batch)
		now := time.Now().UnixMilli()
		for i := 0; i < records; i += batch {
			cs := make([]store.Change, batch)
			for j := range cs {
				n := i + j
				v := store.Version{WallMS: now, Counter: uint16(n), Node: "dev1.ui0001"}
				cs[j] = store.Change{
					ChangeID: fmt.Sprintf("bench-%d-%d", run, n), Collection: "sites",
					RecordID: fmt.Sprintf("r%d-%d", run, n), Op: store.OpPut,
					Doc:     json.RawMessage(fmt.Sprintf(`{"name":"North gate %d, inspected by Ann Example; cable tray loose at the east end, reported","visits":%d}`, n, n)),
					Version: v.String(), Parents: []string{}, Device: "dev1", EditedAt: now,
				}
			}
			batches <- cs
		}
		close(batches)
		b.StartTimer()
		var wg sync.WaitGroup
		errs := make(chan error, inFlight)
		for range inFlight {
			wg.Go(func() {
				for cs := range batches {
					res, err := s.Accept(ctx, cs)
					if err == nil && res.Accepted != len(cs) {
						err = fmt.Errorf("accepted %d of %d: %+v", res.Accepted, len(cs), res.Results[0])
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		total += records
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "changes/s")
}
