package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	bolt "go.etcd.io/bbolt"
)

// Compaction: bbolt never gives pages back to the file system, so a store
// that once held a large journal (a big import before its first sync) keeps
// its size after the journal is pushed and truncated. Compact copies every
// bucket into a new file with full pages and puts it in the old one's place.
//
// Crash safety, step by step (the old file is O, the copy N, at
// "<path>.compact"; the process holds O's lock throughout):
//
//  1. N is written and synced to disk. A crash here leaves O untouched and
//     N half written; the next Open or Compact removes N.
//  2. A marker naming a random token is committed into O, outside the v1
//     tree (bucket "replaced"). N was copied before, so it lacks the marker.
//  3. N is renamed over the path and the directory synced (on Windows, where
//     an open file cannot be replaced, O is closed first). A crash before
//     the rename leaves O at the path with a marker but nothing replaced it:
//     Open finds the marker again after reopening the path, so it knows the
//     rename never happened and removes it.
//  4. O is closed. A process that opened O before the rename and waited for
//     its lock finds the marker: it closes O and opens the path again, which
//     is N. So no process ever writes into a file that is no longer the
//     store.
//
// Every step either leaves O complete at the path or N complete at the path;
// TestCompactCrash kills a process at random points of it and checks that
// every record and journal entry is still there.

const (
	bReplaced = "replaced" // top-level bucket of the compaction marker
	keyInto   = "token"
)

// compactSuffix names the copy being written beside the store.
const compactSuffix = ".compact"

// DefaultCompactFree is the share of the file that must be free pages or
// room in partly filled pages before Options.AutoCompact compacts it at
// Open.
const DefaultCompactFree = 0.5

// compactProbeFree is the share of the file in free pages above which
// Options.AutoCompact counts the room in the pages (reading the file).
const compactProbeFree = 0.15

// minCompactBytes is the smallest file Options.AutoCompact compacts: below
// it the space won back is not worth the work.
const minCompactBytes = 16 << 20

// compactTxBytes bounds the bytes copied per transaction of the new file.
const compactTxBytes = 32 << 20

// CompactReport tells what a compaction did.
type CompactReport struct {
	Path        string `json:"path"`
	BytesBefore int64  `json:"bytes_before"`
	BytesAfter  int64  `json:"bytes_after"`
	// Compacted is false when the file was left as it was (too little free
	// space for an automatic compaction).
	Compacted bool `json:"compacted"`
}

// Compact compacts the store file at path (see the steps above) and
// reports the file's size before and after. The store must not be open in
// this process; another process holding it makes Compact fail with a
// *LockedError.
func Compact(ctx context.Context, path string, opts *Options) (CompactReport, error) {
	s, err := Open(ctx, path, opts)
	if err != nil {
		return CompactReport{}, err
	}
	rep, err := s.compact(ctx, nil)
	if cerr := s.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return rep, err
}

// compactStep is called after each step of a compaction (tests simulate a
// crash by returning an error: the compaction then stops as it is).
type compactStep func(step string) error

// compact copies s's file into a new one and puts it in place, then reopens
// s on it. after, when set, runs after each step (tests).
func (s *Store) compact(ctx context.Context, after compactStep) (CompactReport, error) {
	rep := CompactReport{Path: s.path}
	if fi, err := os.Stat(s.path); err == nil {
		rep.BytesBefore = fi.Size()
	}
	if after == nil {
		after = func(string) error { return nil }
	}
	tmp := s.path + compactSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("store: compact: remove an old copy: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("store: compact: %w", err)
	}
	// 1. The copy, synced once at the end.
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: false})
	if err != nil {
		return rep, fmt.Errorf("store: compact: create %s: %w", tmp, err)
	}
	err = guard(s.path, func() error { return bolt.Compact(dst, s.db, compactTxBytes) })
	if err == nil {
		err = dst.Sync()
	}
	var used int64 // the copy's pages; bbolt grew the file in steps of 16 MiB
	if err == nil {
		err = dst.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = truncateSynced(tmp, used)
	}
	if err == nil {
		err = after("copied")
	}
	if err != nil {
		_ = os.Remove(tmp)
		return rep, fmt.Errorf("store: compact: copy: %w", err)
	}
	// 2. The marker in the old file.
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		_ = os.Remove(tmp)
		return rep, fmt.Errorf("store: compact: %w", err)
	}
	token := hex.EncodeToString(tok[:])
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bReplaced))
		if err != nil {
			return err
		}
		return b.Put([]byte(keyInto), []byte(token))
	})
	if err == nil {
		err = after("marked")
	}
	if err != nil {
		_ = os.Remove(tmp)
		return rep, fmt.Errorf("store: compact: mark the old file: %w", err)
	}
	// 3. and 4. The copy takes the old file's place; the old one is closed.
	if runtime.GOOS == "windows" {
		if err := s.db.Close(); err != nil {
			return rep, fmt.Errorf("store: compact: close the old file: %w", err)
		}
	}
	if err := os.Rename(tmp, s.path); err != nil {
		_ = os.Remove(tmp)
		err = fmt.Errorf("store: compact: put the copy in place: %w", err)
		if runtime.GOOS != "windows" {
			// The old file stays the store: take its marker away.
			if derr := s.update(ctx, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(bReplaced)) }); derr != nil {
				s.log.Warn("cannot remove the compaction marker; the next open will", "err", derr)
			}
		}
		return rep, s.reopenAfter(err)
	}
	syncDir(filepath.Dir(s.path))
	if err := after("renamed"); err != nil {
		return rep, err
	}
	if runtime.GOOS != "windows" {
		if err := s.db.Close(); err != nil {
			return rep, fmt.Errorf("store: compact: close the old file: %w", err)
		}
	}
	if err := s.reopenAfter(nil); err != nil {
		return rep, err
	}
	if fi, err := os.Stat(s.path); err == nil {
		rep.BytesAfter = fi.Size()
	}
	rep.Compacted = true
	s.log.Info("store compacted", "path", s.path, "bytes_before", rep.BytesBefore, "bytes_after", rep.BytesAfter)
	return rep, nil
}

// reopenAfter opens s's path again after a compaction closed (or replaced)
// its file, and returns cause, or the reopen's failure.
func (s *Store) reopenAfter(cause error) error {
	if runtime.GOOS != "windows" && cause != nil {
		return cause // the old file is still open and still the store
	}
	db, err := openCurrent(s.path, &bolt.Options{Timeout: DefaultTimeout})
	if err != nil {
		return errors.Join(cause, fmt.Errorf("store: reopen after compaction: %w", err))
	}
	s.db = db
	return cause
}

// openCurrent opens the bbolt file at path and makes sure it is the store
// and not a file a compaction replaced while this process waited for its
// lock (see the steps above). A marker left by a compaction that crashed
// before its rename is removed.
func openCurrent(path string, opts *bolt.Options) (*bolt.DB, error) {
	seen := ""
	for range 8 {
		before, _ := os.Stat(path)
		db, err := openBolt(path, opts)
		if now, _ := os.Stat(path); before != nil && now != nil && !os.SameFile(before, now) {
			// A compaction put a new file at the path while this open
			// waited for the lock: what was opened (and maybe judged
			// truncated against the new file's length) is the old one.
			if err == nil {
				_ = db.Close()
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		token, err := replacedToken(db)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		switch {
		case token == "":
			removeStaleCopy(path)
			return db, nil
		case token == seen:
			// The same file again: its compaction never put a copy in
			// place. The marker is stale.
			err := guard(path, func() error {
				return db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte(bReplaced)) })
			})
			if err != nil {
				_ = db.Close()
				return nil, fmt.Errorf("store: remove a stale compaction marker: %w", err)
			}
			removeStaleCopy(path)
			return db, nil
		}
		// Replaced while this process waited: open what is at the path now.
		seen = token
		if err := db.Close(); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	return nil, fmt.Errorf("store: %s was replaced by compactions over and over while opening it", path)
}

// replacedToken returns the compaction marker of db, "" when it has none.
func replacedToken(db *bolt.DB) (string, error) {
	token := ""
	err := guard(db.Path(), func() error {
		return db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket([]byte(bReplaced)); b != nil {
				token = string(b.Get([]byte(keyInto)))
				if token == "" {
					token = "?" // a marker without a token is a marker still
				}
			}
			return nil
		})
	})
	return token, err
}

// removeStaleCopy removes the copy a compaction that did not finish left
// beside the store. The caller holds the store's lock, so no compaction is
// writing it.
func removeStaleCopy(path string) {
	_ = os.Remove(path + compactSuffix)
}

// truncateSynced cuts the file at path to size and syncs it.
func truncateSynced(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// compactWorth reports whether a file of at least minCompactBytes would
// shrink by at least ratio of its size: free pages, and the room left in
// partly filled pages (bbolt splits pages half full, so a store filled by
// appends is about half empty).
func (s *Store) compactWorth(ctx context.Context, ratio float64) bool {
	fi, err := os.Stat(s.path)
	if err != nil || fi.Size() < minCompactBytes {
		return false
	}
	// Counting the room in every page reads the whole file (and maps it
	// into memory): only when the free list, known without reading, says a
	// large journal or mirror was given up (a large sync).
	st := s.db.Stats()
	if free := int64(st.FreePageN+st.PendingPageN) * int64(s.db.Info().PageSize); float64(free) < compactProbeFree*float64(fi.Size()) {
		return false
	}
	sp, err := s.Space(ctx)
	if err != nil {
		return false
	}
	var used int64
	for _, b := range sp.Buckets {
		used += b.UsedBytes
	}
	return float64(sp.FileBytes-used) >= ratio*float64(sp.FileBytes)
}
