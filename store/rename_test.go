package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// planRenameFixture appends six changes of inspections and one of visits
// and plans batches "old" (entries 1–3, one failed attempt) and "other"
// (4–5), and "done" (6, verified).
func planRenameFixture(tb testing.TB, s *Store) {
	tb.Helper()
	ctx := context.Background()
	for i := 1; i <= 6; i++ {
		mustAppend(tb, s, seqChange("c", i))
	}
	for _, p := range []BatchPlan{
		{Name: "old", Collection: "inspections", Seqs: []uint64{1, 2, 3}},
		{Name: "other", Collection: "inspections", Seqs: []uint64{4, 5}},
		{Name: "done", Collection: "inspections", Seqs: []uint64{6}},
	} {
		if _, err := s.PlanBatch(ctx, p); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := s.MarkBatch(ctx, "old", BatchPlanned, errors.New("drill: timeout")); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.MarkBatch(ctx, "done", BatchVerified, nil); err != nil {
		tb.Fatal(err)
	}
}

// batchOf returns the batch each journal entry is planned into.
func batchOf(tb testing.TB, s *Store) []string {
	tb.Helper()
	entries, err := s.Pending(context.Background(), 0, 1<<20)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Batch
	}
	return out
}

func TestRenameBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		old, new string
		pushed   []string
		want     error  // errors.Is target; nil with wantText "" means success
		wantText string // part of the error text when want is nil
		// On success: the entries of each batch after the rename (journal
		// entries 1–6), the renamed batch's entries, what is left verified
		// under the old name (nil: the name is gone) and the push cursor.
		journal []string
		moved   []uint64
		kept    []uint64
		cursor  uint64
	}{
		{name: "planned batch after a failed attempt", old: "old", new: "fresh",
			journal: []string{"fresh", "fresh", "fresh", "other", "other", "done"}, moved: []uint64{1, 2, 3}},
		{name: "a change in Drill already stays, verified", old: "old", new: "fresh", pushed: []string{"c-2"},
			journal: []string{"fresh", "old", "fresh", "other", "other", "done"}, moved: []uint64{1, 3}, kept: []uint64{2}},
		{name: "the first change in Drill already: the cursor moves", old: "old", new: "fresh", pushed: []string{"c-1"},
			journal: []string{"old", "fresh", "fresh", "other", "other", "done"}, moved: []uint64{2, 3}, kept: []uint64{1}, cursor: 1},
		{name: "every change in Drill already", old: "old", new: "fresh", pushed: []string{"c-1", "c-2", "c-3"}, wantText: "nothing to rename"},
		{name: "a pushed change of another batch", old: "old", new: "fresh", pushed: []string{"c-4"}, wantText: "not in batch"},
		{name: "unknown batch", old: "nope", new: "fresh", want: ErrNotFound},
		{name: "verified batch", old: "done", new: "fresh", want: ErrBatchVerified},
		{name: "new name taken", old: "old", new: "other", want: ErrBatchExists},
		{name: "same name", old: "old", new: "old", wantText: "the new name is the old one"},
		{name: "bad new name", old: "old", new: "a/b", wantText: "slash"},
		{name: "empty new name", old: "old", new: "", wantText: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := mustOpenStore(t)
			planRenameFixture(t, s)
			before := batchOf(t, s)
			b, err := s.RenameBatch(ctx, tt.old, tt.new, tt.pushed)
			if tt.want != nil || tt.wantText != "" {
				if tt.want != nil && !errors.Is(err, tt.want) || tt.wantText != "" && (err == nil || !strings.Contains(err.Error(), tt.wantText)) {
					t.Fatalf("RenameBatch(%q, %q, %v) = %v, want %v %q", tt.old, tt.new, tt.pushed, err, tt.want, tt.wantText)
				}
				if after := batchOf(t, s); !slices.Equal(after, before) {
					t.Errorf("a failed rename moved journal entries: %v, was %v", after, before)
				}
				if old, err := s.Batch(ctx, "old"); err != nil || old.State != BatchPlanned || len(old.Seqs) != 3 {
					t.Errorf("a failed rename changed batch old: %+v %v", old, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ids := make([]string, len(tt.moved))
			for i, seq := range tt.moved {
				ids[i] = fmt.Sprintf("c-%d", seq)
			}
			if b.Name != tt.new || b.State != BatchPlanned || b.Attempts != 0 || b.LastError != "drill: timeout" ||
				!slices.Equal(b.Seqs, tt.moved) || !slices.Equal(b.ChangeIDs, ids) || b.FirstSeq != tt.moved[0] || b.LastSeq != tt.moved[len(tt.moved)-1] {
				t.Errorf("renamed batch %+v, want entries %v", b, tt.moved)
			}
			old, err := s.Batch(ctx, tt.old)
			switch {
			case tt.kept == nil && !errors.Is(err, ErrNotFound):
				t.Errorf("the old name is still there: %+v %v", old, err)
			case tt.kept != nil && (err != nil || old.State != BatchVerified || !slices.Equal(old.Seqs, tt.kept)):
				t.Errorf("under the old name: %+v %v, want entries %v verified", old, err, tt.kept)
			}
			if got := batchOf(t, s); !slices.Equal(got, tt.journal) {
				t.Errorf("journal entries are in batches %v, want %v", got, tt.journal)
			}
			if cur, _ := s.PushCursor(ctx); cur != tt.cursor {
				t.Errorf("push cursor %d after the rename, want %d", cur, tt.cursor)
			}
			open, err := s.OpenBatches(ctx)
			if err != nil || len(open) != 2 || open[0].Name != tt.new || open[1].Name != "other" {
				t.Errorf("open batches %+v %v, want the renamed one first (its place kept)", open, err)
			}
			// The renamed batch pushes like any other: verifying it moves
			// the cursor over its entries.
			if _, err := s.MarkBatch(ctx, tt.new, BatchVerified, nil); err != nil {
				t.Fatal(err)
			}
			if cur, _ := s.PushCursor(ctx); cur != 3 {
				t.Errorf("push cursor %d after verifying the renamed batch, want 3", cur)
			}
			if _, err := s.PlanBatch(ctx, BatchPlan{Name: "again", Collection: "inspections", Seqs: []uint64{1}}); !errors.Is(err, ErrBatchClaimed) {
				t.Errorf("an entry of the renamed batch could be planned again: %v", err)
			}
		})
	}
}

// TestRenameBatchKilled kills a child process that renames one planned
// batch over and over, at random moments: after each kill the store holds
// the batch under exactly one name, the last one acknowledged or the one
// after it, and every journal entry of the batch points to that name.
func TestRenameBatchKilled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(ctx, path, &Options{DeviceID: "dev1"})
	if err != nil {
		t.Fatal(err)
	}
	planRenameFixture(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	last := -1 // the last rename acknowledged: batch "old" is "r<last>"
	for round := range 8 {
		cmd := helperCommand(t, "rename", path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "r")); err == nil {
					mu.Lock()
					last = max(last, n)
					mu.Unlock()
				}
			}
		}()
		time.Sleep(time.Duration(20+rng.IntN(180)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		<-done
		_ = cmd.Wait()
		s := mustOpenAt(t, path, &Options{Timeout: 5 * time.Second})
		checkConsistent(t, s.db)
		open, err := s.OpenBatches(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(open) != 2 || open[1].Name != "other" {
			t.Fatalf("round %d: open batches %+v", round, open)
		}
		name := open[0].Name
		if want := renameName(last); name != want && name != renameName(last+1) {
			t.Fatalf("round %d: the batch is named %s, want %s or the next name", round, name, want)
		}
		if got := batchOf(t, s); !slices.Equal(got[:3], []string{name, name, name}) {
			t.Fatalf("round %d: journal entries are in batches %v, the batch is %s", round, got, name)
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(name, "r")); err == nil {
			last = n // a rename that landed unacknowledged counts too
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if last < 1 {
		t.Errorf("the child acknowledged %d renames; the kills came too early to test anything", last+1)
	}
}

// renameName is the name of batch "old" after its n-th rename ("old"
// before the first).
func renameName(n int) string {
	if n < 0 {
		return "old"
	}
	return fmt.Sprintf("r%d", n)
}

// helperRename renames the open batch first in line (the fixture's "old",
// however named now) to r<n+1> in a loop, printing each name after
// RenameBatch returns, until it is killed.
func helperRename(path string) error {
	ctx := context.Background()
	s, err := Open(ctx, path, &Options{Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	open, err := s.OpenBatches(ctx)
	if err != nil || len(open) == 0 {
		return fmt.Errorf("open batches %v: %w", open, err)
	}
	name := open[0].Name
	n := -1
	if k, err := strconv.Atoi(strings.TrimPrefix(name, "r")); err == nil {
		n = k
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		n++
		next := renameName(n)
		if _, err := s.RenameBatch(ctx, name, next, nil); err != nil {
			return err
		}
		fmt.Fprintln(w, next)
		if err := w.Flush(); err != nil {
			return err
		}
		name = next
	}
}
