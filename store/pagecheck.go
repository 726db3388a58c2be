package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// PageReport is what bbolt's own page check found in a store file.
type PageReport struct {
	// Pages is how many pages the file has (its header's count).
	Pages int64 `json:"pages"`
	// Problems lists what bbolt's check reported (at most 50; Dropped
	// counts the rest).
	Problems []string `json:"problems,omitempty"`
	Dropped  int      `json:"dropped,omitempty"`
	// Elapsed is how long the check took.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// OK reports whether the check found nothing wrong.
func (r PageReport) OK() bool { return len(r.Problems) == 0 && r.Dropped == 0 }

// CheckPages runs bbolt's consistency check (tx.Check: every page reached
// once, no page both free and used, keys in order) over the store file at
// path, opened read-only. A file that does not open is reported as the
// open's error (a *DamagedError when it is damaged, ErrLocked when another
// process writes it). It stops at ctx's deadline with an error.
//
// Call it only in a process of its own: tx.Check walks the pages in a
// goroutine of its own, where a memory fault on a damaged branch page
// cannot be recovered and ends the process. `fieldsync store check-pages`
// is that process; doctor runs it as a child and reads a crash as damage.
func CheckPages(ctx context.Context, path string, timeout time.Duration) (PageReport, error) {
	start := time.Now()
	var rep PageReport
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: timeout})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return rep, &LockedError{Path: path}
	case err != nil && errors.Is(err, ErrDamaged):
		return rep, err
	case err != nil:
		return rep, fmt.Errorf("store: page check %s: %w", path, err)
	}
	defer db.Close()
	err = guard(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			rep.Pages = int64(tx.Size()) / int64(db.Info().PageSize)
			errs := tx.Check()
			for {
				select {
				case <-ctx.Done():
					return fmt.Errorf("store: page check: %w", ctx.Err())
				case e, ok := <-errs:
					if !ok {
						return nil
					}
					if len(rep.Problems) < maxProblems {
						rep.Problems = append(rep.Problems, e.Error())
					} else {
						rep.Dropped++
					}
				}
			}
		})
	})
	rep.Elapsed = time.Since(start)
	return rep, err
}
