package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxProblems bounds the problems a CheckReport lists; the rest are counted.
const maxProblems = 50

// CheckReport is what Check found.
type CheckReport struct {
	// Journal is how many journal entries were read; BadJournal lists the
	// seqs of those that cannot be read back (they cannot be pushed).
	Journal    int      `json:"journal"`
	BadJournal []uint64 `json:"bad_journal,omitempty"`
	// Keys is how many keys were read in every bucket.
	Keys int `json:"keys"`
	// Problems lists what is wrong, for people (at most 50; Dropped counts
	// the rest).
	Problems []string `json:"problems,omitempty"`
	Dropped  int      `json:"dropped,omitempty"`
	// Elapsed is how long the check took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// OK reports whether nothing is wrong.
func (r CheckReport) OK() bool { return len(r.Problems) == 0 && r.Dropped == 0 }

func (r *CheckReport) problem(format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.Dropped++
		return
	}
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// CheckProgress is called by Check with how many journal entries it has
// decoded of how many there are.
type CheckProgress func(done, total uint64)

// Check reads the whole store: every key of every bucket and every journal
// entry decoded with its change. It reports problems instead of failing on them, and
// stops at ctx's deadline with what it found so far. bbolt's own page
// check is CheckPages, which needs a process of its own.
// progress (nil: none) is called about every 5,000 journal entries.
func (s *Store) Check(ctx context.Context, progress CheckProgress) (CheckReport, error) {
	start := time.Now()
	var rep CheckReport
	err := s.checkJournal(ctx, &rep, progress)
	if ctx.Err() != nil {
		rep.problem("the check did not finish in time (%d journal entries read); run 'fieldsync doctor --store-timeout' with a longer time", rep.Journal)
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	if err != nil {
		rep.problem("%v", err)
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	if err := s.view(ctx, func(tx *bolt.Tx) error { return walkKeys(ctx, tx, &rep) }); err != nil {
		rep.problem("%v", err)
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	// bbolt's own page check (tx.Check) is not run here: it walks the pages
	// in a goroutine of its own, where a fault on a damaged branch page
	// cannot be recovered, and a key walk that read every key can still
	// leave such a page (seen in CI: a flipped key in a branch page killed
	// the process). CheckPages runs it, in a process of its own.
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// checkJournal decodes every journal entry with its change.
func (s *Store) checkJournal(ctx context.Context, rep *CheckReport, progress CheckProgress) error {
	st, err := s.Stats(ctx)
	if err != nil {
		return err
	}
	const page = 5000
	var after uint64
	for {
		entries, err := s.Pending(ctx, after, page)
		if err != nil {
			return err
		}
		for _, e := range entries {
			rep.Journal++
			after = e.Seq
			if e.Damage != "" {
				rep.BadJournal = append(rep.BadJournal, e.Seq)
				rep.problem("%s", e.Damage)
			}
		}
		if progress != nil {
			progress(uint64(rep.Journal), st.Journal)
		}
		if len(entries) < page {
			return nil
		}
	}
}

// walkKeys reads every key and value of every bucket below the root,
// nested buckets included, so that a damaged page is found (as a
// *DamagedError from the caller's guard) before bbolt's own check runs.
func walkKeys(ctx context.Context, tx *bolt.Tx, rep *CheckReport) error {
	var walk func(b *bolt.Bucket) error
	walk = func(b *bolt.Bucket) error {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			rep.Keys++
			if rep.Keys%10000 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if v == nil {
				if nb := b.Bucket(k); nb != nil {
					if err := walk(nb); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	root := tx.Bucket([]byte(bRoot))
	if root == nil {
		return fmt.Errorf("the root bucket %q is missing", bRoot)
	}
	return walk(root)
}
