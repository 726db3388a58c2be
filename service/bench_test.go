package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/store"
)

// BenchmarkServiceAccept measures the accept path in process: 10,000 new
// changes sent to Service.Accept in batches of 500, two batches with Go at
// once, as the page's drain sends them (the "Go alone" floor of
// scripts/browser-bench.sh without the bridge and the page). Each
// iteration adds its 10,000 records to the same store.
//
//   - sites: ~150-byte documents of a two-field collection, change and
//     record ids that sort in the order they are sent, an empty store (the
//     third round's benchmark).
//   - inspections/IDS/filled=N: what the browser benchmark sends —
//     documents of docs/examples/collections.json's "inspections" made as
//     the page's docMakerFor makes them — into a store that holds N such
//     records (and their journal entries) already, with change and record
//     ids that are random (128 bits, hex: the page's until the fifth round)
//     or ordered (NewChangeID's: the time first, as the page makes them
//     now).
func BenchmarkServiceAccept(b *testing.B) {
	b.Run("sites", func(b *testing.B) {
		s := mustOpenService(b, serviceOpts{})
		run := 0
		benchAccept(b, s, func(n int) store.Change {
			if n == 0 {
				run++
			}
			return sitesChange(run, n)
		})
	})
	decl, err := os.ReadFile("../docs/examples/collections.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		ids    string
		newID  func() string
		filled int
	}{
		{"random", randomHex, 0},
		{"random", randomHex, 20_000},
		{"ordered", NewChangeID, 0},
		{"ordered", NewChangeID, 20_000},
		{"ordered", NewChangeID, 100_000},
	} {
		b.Run(fmt.Sprintf("inspections/%s/filled=%d", bc.ids, bc.filled), func(b *testing.B) {
			s := mustOpenService(b, serviceOpts{collection: "inspections", declaration: string(decl)})
			next := func(n int) store.Change { return inspectionChange(n, bc.newID) }
			fill(b, s, bc.filled, next)
			benchAccept(b, s, next)
		})
	}
}

const (
	benchRecords  = 10_000 // per iteration
	benchBatch    = 500
	benchInFlight = 2
)

// benchAccept times benchRecords changes made by next (given 0 to
// benchRecords-1) sent to s.Accept in batches, benchInFlight at once.
func benchAccept(b *testing.B, s *testService, next func(n int) store.Change) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	total := 0
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		batches := make(chan []store.Change, benchRecords/benchBatch)
		for i := 0; i < benchRecords; i += benchBatch {
			cs := make([]store.Change, benchBatch)
			for j := range cs {
				cs[j] = next(i + j)
			}
			batches <- cs
		}
		close(batches)
		before := cpuTime()
		b.StartTimer()
		if err := acceptAll(ctx, s, batches, benchInFlight); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime() - before
		b.StartTimer()
		total += benchRecords
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "changes/s")
	// The process's CPU time while the changes were sent (the background
	// status recounts included), per iteration: the figure to hold against
	// the CPU serve spends on the browser benchmark's Go-alone run.
	b.ReportMetric(float64(cpu.Milliseconds())/float64(total/benchRecords), "cpu-ms/op")
}

// acceptAll sends every batch to s.Accept, inFlight at once, each caller
// sending its next batch when its last was answered; every change must be
// accepted.
func acceptAll(ctx context.Context, s *testService, batches <-chan []store.Change, inFlight int) error {
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
	return <-errs
}

// fill accepts n changes made by next into s, untimed.
func fill(b *testing.B, s *testService, n int, next func(n int) store.Change) {
	b.Helper()
	batches := make(chan []store.Change, n/benchBatch+1)
	for i := 0; i < n; i += benchBatch {
		cs := make([]store.Change, 0, benchBatch)
		for j := i; j < min(n, i+benchBatch); j++ {
			cs = append(cs, next(j))
		}
		batches <- cs
	}
	close(batches)
	if err := acceptAll(context.Background(), s, batches, benchInFlight); err != nil {
		b.Fatal(err)
	}
}

// sitesChange is the n-th change of run of the "sites" benchmark.
func sitesChange(run, n int) store.Change {
	now := time.Now().UnixMilli()
	v := store.Version{WallMS: now, Counter: uint16(n), Node: "dev1.ui0001"}
	return store.Change{
		ChangeID: fmt.Sprintf("bench-%d-%d", run, n), Collection: "sites",
		RecordID: fmt.Sprintf("r%d-%d", run, n), Op: store.OpPut,
		Doc:     json.RawMessage(fmt.Sprintf(`{"name":"North gate %d, inspected by Ann Example; cable tray loose at the east end, reported","visits":%d}`, n, n)),
		Version: v.String(), Parents: []string{}, Device: "dev1", EditedAt: now,
	}
}

// inspectionChange is a new "inspections" record as the browser benchmark
// sends it (frontend/src/lib/bench.ts, goAccept and docMakerFor): a
// document with every declared field, ids made by newID.
func inspectionChange(n int, newID func() string) store.Change {
	now := time.Now().UnixMilli()
	v := store.Version{WallMS: now, Counter: uint16(n), Node: "dev1.ui0001"}
	doc := fmt.Sprintf(`{"site":"Site %d","inspector":"Inspector %d","temperature_c":%g,"defects":%d,"passed":%t,"risk":%q,"inspected_at":%d,"notes":"Observation %d: crown intact, bark sound, no visible damage; photo taken from the north side."}`,
		n, n, 5+float64(n%300)/10, n%80, n%7 != 0, []string{"low", "medium", "high"}[n%3], 1_700_000_000_000+int64(n)*60_000, n)
	return store.Change{
		ChangeID: newID(), Collection: "inspections", RecordID: newID(), Op: store.OpPut,
		Doc: json.RawMessage(doc), Version: v.String(), Parents: []string{}, Device: "dev1", EditedAt: now,
	}
}

// randomHex is 128 random bits in hex, as the page made its ids before
// they were ordered.
func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
