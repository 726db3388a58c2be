package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// compactFixture is a store with records, a truncated journal (free pages)
// and pending journal entries: what a compaction must keep.
func compactFixture(tb testing.TB, path string, n int) (records map[string]string, pending []string) {
	tb.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, &Options{DeviceID: "dev1"})
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	records = map[string]string{}
	for i := 0; i < n; i += 500 {
		var cs []Change
		for j := i; j < min(n, i+500); j++ {
			c := seqChange("c", j)
			c.Doc = []byte(fmt.Sprintf(`{"n":%d,"note":"%0200d"}`, j, j))
			cs = append(cs, c)
			records[c.RecordID] = string(c.Doc)
		}
		mustAppend(tb, s, cs...)
	}
	// Push and truncate the first half of the journal: free pages.
	if err := s.SetPushCursor(ctx, uint64(n/2)); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Truncate(ctx, uint64(n/2)); err != nil {
		tb.Fatal(err)
	}
	entries, err := s.Pending(ctx, 0, n)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		pending = append(pending, e.Change.ChangeID)
	}
	return records, pending
}

// checkFixture fails unless the store at path holds exactly what
// compactFixture wrote and bbolt finds the file consistent.
func checkFixture(tb testing.TB, path string, records map[string]string, pending []string) {
	tb.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, &Options{DeviceID: "dev1"})
	if err != nil {
		tb.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	checkConsistent(tb, s.db)
	got := 0
	for after := ""; ; {
		page, err := s.Records(ctx, "inspections", Page{After: after, Limit: 1000})
		if err != nil {
			tb.Fatal(err)
		}
		for _, r := range page.Records {
			got++
			if want, ok := records[r.ID]; !ok || string(r.Doc) != want || len(r.Leaves) != 1 || r.Leaves[0] != r.Version {
				tb.Fatalf("record %s = %s %v, want %s", r.ID, r.Doc, r.Leaves, want)
			}
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if got != len(records) {
		tb.Fatalf("%d records after reopening, want %d", got, len(records))
	}
	entries, err := s.Pending(ctx, 0, len(pending)+10)
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Change.ChangeID)
		if e.Change.RecordID == "" || e.Change.Version == "" || len(e.Change.Doc) == 0 {
			tb.Fatalf("journal entry %d lost its change: %+v", e.Seq, e.Change)
		}
	}
	if !slices.Equal(ids, pending) {
		tb.Fatalf("journal holds %d entries, want %d", len(ids), len(pending))
	}
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		tb.Errorf("the copy %s is still there after an open: %v", path+compactSuffix, err)
	}
}

func TestCompact(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fieldsync.db")
	records, pending := compactFixture(t, path, 3000)
	rep, err := Compact(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Compacted || rep.BytesAfter >= rep.BytesBefore || rep.BytesAfter == 0 {
		t.Errorf("report %+v: want a smaller file", rep)
	}
	checkFixture(t, path, records, pending)
}

// TestCompactStops stops a compaction after each of its steps, as a crash
// would (the process's files are closed, nothing else happens), and checks
// that the next open finds every record and journal entry.
func TestCompactStops(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"copied", "marked", "renamed"} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "fieldsync.db")
			records, pending := compactFixture(t, path, 1500)
			s, err := Open(context.Background(), path, &Options{DeviceID: "dev1"})
			if err != nil {
				t.Fatal(err)
			}
			crash := errors.New("crash")
			_, err = s.compact(context.Background(), func(at string) error {
				if at == step {
					return crash
				}
				return nil
			})
			if !errors.Is(err, crash) {
				t.Fatalf("compact = %v, want the crash", err)
			}
			if step == "copied" {
				// Only the copy's own clean-up ran; leave one as a crash does.
				if err := os.WriteFile(path+compactSuffix, []byte("half a copy"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_ = s.db.Close() // the process dies: its files close
			s.removeOwnerNote()
			checkFixture(t, path, records, pending)
		})
	}
}

// TestCompactWhileAnotherWaits: a process that opened the file before a
// compaction replaced it, and waited for its lock, must end up on the new
// file, never writing into the old one.
func TestCompactWhileAnotherWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fieldsync.db")
	records, pending := compactFixture(t, path, 1000)
	s, err := Open(ctx, path, &Options{DeviceID: "dev1"})
	if err != nil {
		t.Fatal(err)
	}
	type opened struct {
		s   *Store
		err error
	}
	waiter := make(chan opened, 1)
	go func() {
		w, err := Open(ctx, path, &Options{DeviceID: "dev1", Timeout: 30 * time.Second})
		waiter <- opened{w, err}
	}()
	// Let the waiter open the old file and block on its lock.
	time.Sleep(200 * time.Millisecond)
	if _, err := s.compact(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	w := <-waiter
	if w.err != nil {
		t.Fatal(w.err)
	}
	late := seqChange("late", 5000)
	mustAppend(t, w.s, late)
	if err := w.s.Close(); err != nil {
		t.Fatal(err)
	}
	records[late.RecordID] = string(late.Doc)
	checkFixture(t, path, records, append(pending, late.ChangeID))
}

// TestCompactCrash kills a child process that compacts the store over and
// over at random moments; after each kill the store must open with every
// record and journal entry.
func TestCompactCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fieldsync.db")
	records, pending := compactFixture(t, path, 4000)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for round := range 8 {
		cmd := helperCommand(t, "compact", path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatalf("round %d: kill: %v", round, err)
		}
		_ = cmd.Wait()
		checkFixture(t, path, records, pending)
	}
}

// helperCompact compacts the store at path until it is killed.
func helperCompact(path string) error {
	for {
		if _, err := Compact(context.Background(), path, &Options{DeviceID: "dev1", Timeout: 10 * time.Second}); err != nil {
			return err
		}
	}
}

func TestAutoCompact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fieldsync.db")
	records, pending := compactFixture(t, path, 40000)
	s, err := Open(ctx, path, &Options{DeviceID: "dev1"})
	if err != nil {
		t.Fatal(err)
	}
	// Push the rest: most of the file becomes free pages.
	if err := s.SetPushCursor(ctx, 40000); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Truncate(ctx, 40000); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrimMirror(ctx, 100); err != nil {
		t.Fatal(err)
	}
	before, err := s.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpenAt(t, path, &Options{DeviceID: "dev1", AutoCompact: true})
	after, err := s.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.FileBytes >= before.FileBytes || after.FreeBytes > after.FileBytes/10 {
		t.Errorf("file %d bytes (%d free) before, %d (%d free) after an auto-compacting open: want it smaller",
			before.FileBytes, before.FreeBytes, after.FileBytes, after.FreeBytes)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkFixture(t, path, records, nil)
	_ = pending
}
