package store

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// releaseEvery is how often, at most, the store gives the kernel back the
// pages of its file that this process has mapped in (see releaseMapped).
// A sync or an import touches the file faster than that; an edit in the
// window touches a few pages and pays nothing.
const releaseEvery = 50 * time.Millisecond

// release unmaps the file's pages from this process when releaseEvery has
// passed since it last did. bbolt reads the file through a read-only shared
// memory map, and every page a call reads (with the neighbours the kernel
// maps in with it) stays counted in the process's resident memory until
// the map is dropped: a sync of 100,000 changes touched the whole file and
// ended with it all resident (docs/BENCHMARKS.md). The pages stay in the
// kernel's page cache, so reading one again costs a minor fault, not a
// disk read; nothing written is affected (bbolt writes with pwrite and
// fsync, never through the map).
func (s *Store) release() {
	now := time.Now().UnixNano()
	last := s.released.Load()
	if now-last < int64(releaseEvery) || !s.released.CompareAndSwap(last, now) {
		return
	}
	// In a read transaction: bbolt cannot remap the file (which would
	// move the map) while one is open.
	_ = s.db.View(func(tx *bolt.Tx) error {
		releaseMapped(tx)
		return nil
	})
}
