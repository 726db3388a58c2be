package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// benchDoc is a record of typical size for an inspection (~300 bytes).
const benchDoc = `{"site":"North gate 7","inspector":"Ann Example","score":87.5,"passed":true,` +
	`"category":"electrical","inspected_at":1700000000000,"note":"Cable tray loose at the east ` +
	`end; photographed and reported to the site manager. Follow-up in two weeks.","tags":["a","b"]}`

// BenchmarkAppend measures journal append throughput with the default
// durability (an fsync per commit): one change per call, batches of 1,000
// changes per call, and 10,000 changes in batches of 500 sent by 2 or 4
// callers at once, each sending its next batch when its last returns (the
// page's drain keeps 2 with Go): their calls share group commits.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		batch    int
		calls    int // per iteration
		inFlight int
	}{
		{"single", 1, 1, 1},
		{"batch1000", 1000, 1, 1},
		{"batch500x2", 500, 20, 2},
		{"batch500x4", 500, 20, 4},
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
			b.ReportAllocs()
			total := 0
			for b.Loop() {
				b.StopTimer()
				batches := make(chan []Change, bc.calls)
				for range bc.calls {
					batch := make([]Change, bc.batch)
					for j := range batch {
						batch[j] = next()
					}
					batches <- batch
				}
				close(batches)
				b.StartTimer()
				var wg sync.WaitGroup
				for range bc.inFlight {
					wg.Go(func() {
						for batch := range batches {
							res, err := s.Append(ctx, batch)
							if err != nil {
								b.Error(err)
							} else if res.Accepted != len(batch) {
								b.Errorf("accepted %d of %d", res.Accepted, len(batch))
							}
						}
					})
				}
				wg.Wait()
				total += bc.batch * bc.calls
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

// BenchmarkHistory measures reading the audit entries of one record (what a
// record's history screen shows) from a log of N entries about N/10
// records: through the auditrec/ index (AuditOf) and, for comparison, by
// scanning the whole log in pages of 1,000 and keeping the record's own,
// as the history screen did before the index.
func BenchmarkHistory(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		ctx := context.Background()
		s := mustOpenAt(b, filepath.Join(b.TempDir(), "bench.db"), &Options{DeviceID: "bench"})
		records := n / 10
		detail := []byte(`{"how":"server","leaves":["001700000000100-0000-laptop1","001700000000200-0000-tablet2"],"note":"kept the server's copy"}`)
		for start := 0; start < n; start += 10_000 {
			err := s.db.Update(func(tx *bolt.Tx) error {
				for i := start; i < min(start+10_000, n); i++ {
					e := AuditEntry{
						At: 1_700_000_000_000 + int64(i), Actor: "ann", Action: "resolve", Collection: "inspections",
						RecordID: fmt.Sprintf("rec-%d", i%records), ChangeID: fmt.Sprintf("res-%d", i), Detail: detail,
					}
					if _, err := s.appendAudit(tx, &e); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		for _, bc := range []struct {
			name   string
			lookup func(id string) ([]AuditEntry, error)
		}{
			{"index", func(id string) ([]AuditEntry, error) { return s.AuditOf(ctx, "inspections", id) }},
			{"scan", func(id string) ([]AuditEntry, error) { return scanAudit(ctx, s, "inspections", id) }},
		} {
			b.Run(fmt.Sprintf("entries=%d/%s", n, bc.name), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					es, err := bc.lookup(fmt.Sprintf("rec-%d", i%records))
					if err != nil {
						b.Fatal(err)
					}
					if len(es) != 10 {
						b.Fatalf("%d entries for rec-%d, want 10", len(es), i%records)
					}
					i += 7919 // a prime: visit records all over the log
				}
			})
		}
	}
}

// scanAudit is the history screen's lookup before the auditrec/ index:
// every audit entry, read in pages of 1,000, filtered by record.
func scanAudit(ctx context.Context, s *Store, collection, id string) ([]AuditEntry, error) {
	var out []AuditEntry
	var after uint64
	for {
		es, err := s.Audit(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Collection == collection && e.RecordID == id {
				out = append(out, e)
			}
		}
		if len(es) < 1000 {
			return out, nil
		}
		after = es[len(es)-1].Seq
	}
}

// BenchmarkMigrateAuditRec measures migration 3 on a schema-2 file holding
// 100,000 audit entries (about 10,000 records' worth of resolutions): the
// extra time the first Open after an upgrade takes.
func BenchmarkMigrateAuditRec(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "old.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var ms []migration
	for _, m := range migrations() {
		if m.version <= 2 {
			ms = append(ms, m)
		}
	}
	if err := migrate(ctx, db, discardLogger(), ms); err != nil {
		b.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		ab := bucket(tx, bAudit)
		for i := range n {
			seq, err := ab.NextSequence()
			if err != nil {
				return err
			}
			e := AuditEntry{Seq: seq, At: 1_700_000_000_000 + int64(i), Actor: "ann", Action: "resolve",
				Collection: "inspections", RecordID: fmt.Sprintf("rec-%d", i%(n/10)), ChangeID: fmt.Sprintf("res-%d", i),
				Detail: []byte(`{"how":"server","leaves":["001700000000100-0000-laptop1","001700000000200-0000-tablet2"]}`)}
			if err := putJSON(ab, utob(seq), e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		err := db.Update(func(tx *bolt.Tx) error { // back to schema 2
			root := tx.Bucket([]byte(bRoot))
			if root.Bucket([]byte(bAuditRec)) != nil {
				if err := root.DeleteBucket([]byte(bAuditRec)); err != nil {
					return err
				}
			}
			return bucket(tx, bMeta).Put([]byte(keySchema), utob(2))
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := migrate(ctx, db, discardLogger(), migrations()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkStoreSize reports the bytes the file takes per record as the UI
// fills it: 100,000 records of benchDoc (~300 bytes) appended in batches of
// 1,000 with random ids (as the page makes them) and random change ids;
// then pushed (cursor moved, journal truncated, mirror trimmed to
// 10,000, as the agent does); then compacted. doc-B/record is the baseline:
// the document's own size.
func BenchmarkStoreSize(b *testing.B) {
	for _, ids := range []string{"random", "time-first"} {
		b.Run("ids="+ids, func(b *testing.B) { benchStoreSize(b, ids == "time-first") })
	}
}

// benchStoreSize is BenchmarkStoreSize with ids wholly random (as the page
// made them before issue 12's fifth round) or time-first (48 bits of
// milliseconds, then 80 random bits: as the page and service.NewChangeID
// make them now).
func benchStoreSize(b *testing.B, timeFirst bool) {
	ctx := context.Background()
	const n = 100_000
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "size.db")
		s, err := Open(ctx, path, &Options{DeviceID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		ms := int64(1_700_000_000_000)
		hex := func() string {
			if timeFirst {
				ms++ // ids made one after another, a millisecond apart at most
				return fmt.Sprintf("%012x%04x%016x", ms, rng.Uint32()&0xffff, rng.Uint64())
			}
			return fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
		}
		b.StartTimer()
		for i := 0; i < n; i += 1000 {
			batch := make([]Change, 0, 1000)
			for j := i; j < i+1000; j++ {
				batch = append(batch, Change{
					ChangeID: hex(), Collection: "inspections", RecordID: hex(), Op: OpPut, Doc: []byte(benchDoc),
					Version: Version{WallMS: 1_700_000_000_000 + int64(j), Node: "bench.ui1f2e"}.String(),
					Parents: []string{}, Device: "bench", Author: "ann", EditedAt: 1_700_000_000_000,
				})
			}
			if _, err := s.Append(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		size := func() float64 {
			sp, err := s.Space(ctx)
			if err != nil {
				b.Fatal(err)
			}
			return float64(sp.FileBytes) / n
		}
		imported := size()
		if err := s.SetPushCursor(ctx, n); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Truncate(ctx, n); err != nil {
			b.Fatal(err)
		}
		if _, err := s.TrimMirror(ctx, 10_000); err != nil {
			b.Fatal(err)
		}
		synced := size()
		worth := 0.0 // 1 when the next start (Options.AutoCompact) compacts the file
		if s.compactWorth(ctx, DefaultCompactFree) {
			worth = 1
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := Compact(ctx, path, &Options{DeviceID: "bench"})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(benchDoc)), "doc-B/record")
		b.ReportMetric(imported, "imported-B/record")
		b.ReportMetric(synced, "synced-B/record")
		b.ReportMetric(float64(rep.BytesAfter)/n, "compacted-B/record")
		b.ReportMetric(worth, "compacts-at-start")
		b.StartTimer()
	}
}
