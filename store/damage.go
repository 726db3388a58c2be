package store

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// salvageHint is what a person is told to do with a damaged store file.
const salvageHint = "stop fieldsync and run 'fieldsync store salvage' to copy what can still be read into a new file " +
	"(the damaged one is kept aside); see docs/OPERATIONS.md#salvage"

// DamagedError reports a store file that cannot be read as it should: not
// a bbolt file, a damaged header, a file shorter than its pages say, or a
// page that makes bbolt panic or fault while it is read.
type DamagedError struct {
	Path  string
	Cause string // what was found, for people
	// Hint says what to do; empty means salvage the file.
	Hint string
}

// Error names the file, what is wrong and what to do.
func (e *DamagedError) Error() string {
	hint := e.Hint
	if hint == "" {
		hint = salvageHint
	}
	return fmt.Sprintf("store: %s is damaged (%s); %s", e.Path, e.Cause, hint)
}

// freshHint is what to do with a file in which nothing can be found.
const freshHint = "restore it from a backup, or move it aside to start afresh (changes already pushed come back from Drill)"

// Unwrap makes errors.Is(err, ErrDamaged) true.
func (e *DamagedError) Unwrap() error { return ErrDamaged }

// guard runs fn, which reads or writes the bbolt file at path, and turns a
// panic or a memory fault inside it (bbolt panics on some damaged pages, and
// reading a page past the end of a truncated file faults) into a
// *DamagedError, so that damage is told and never crashes the process.
// bbolt rolls the transaction back while the panic unwinds.
func guard(path string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = &DamagedError{Path: path, Cause: fmt.Sprintf("reading it failed: %v", r)}
		}
	}()
	return fn()
}

// openBolt opens the bbolt file at path, turning every sign of damage into
// a *DamagedError: a header bbolt refuses, a panic while it loads the free
// list, or a file shorter than the pages its header counts (truncated).
func openBolt(path string, opts *bolt.Options) (*bolt.DB, error) {
	// bbolt loads the free list when it opens a file for writing, and
	// panics (holding the file lock it never releases) when the list lies
	// past the end of a truncated file. A read-only open loads nothing but
	// the header, so the length is checked that way first.
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		ro := *opts
		ro.ReadOnly = true
		db, err := openBolt1(path, &ro)
		if err != nil {
			return nil, err
		}
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return openBolt1(path, opts)
}

// openBolt1 is one bbolt open with damage told as a *DamagedError.
func openBolt1(path string, opts *bolt.Options) (*bolt.DB, error) {
	var db *bolt.DB
	err := guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
		return nil, &DamagedError{Path: path, Cause: "not a readable fieldsync store, both headers are unreadable: " + err.Error(), Hint: freshHint}
	}
	if err != nil {
		return nil, err
	}
	if err := checkLength(db); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

// checkLength fails with a *DamagedError when the file is shorter than the
// pages its header counts: reading those pages would fault.
func checkLength(db *bolt.DB) error {
	fi, err := os.Stat(db.Path())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var want int64
	err = guard(db.Path(), func() error {
		return db.View(func(tx *bolt.Tx) error { want = tx.Size(); return nil })
	})
	if err != nil {
		return err
	}
	if fi.Size() < want {
		return &DamagedError{Path: db.Path(), Cause: fmt.Sprintf("truncated: %d bytes long, its pages need %d", fi.Size(), want)}
	}
	return nil
}
