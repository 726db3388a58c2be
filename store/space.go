package store

import (
	"context"
	"fmt"
	"os"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// SpaceReport tells where the bytes of the store file are: per bucket of
// the v1 tree, and in free pages that a compaction gives back.
type SpaceReport struct {
	Path      string `json:"path"`
	FileBytes int64  `json:"file_bytes"`
	PageSize  int    `json:"page_size"`
	// FreeBytes are pages bbolt keeps for reuse; the file only shrinks by
	// them when it is compacted (store compact, or at start past
	// DefaultCompactFree of the file).
	FreeBytes int64 `json:"free_bytes"`
	// Buckets are the top-level buckets, largest first.
	Buckets []BucketSpace `json:"buckets"`
}

// BucketSpace is the size of one top-level bucket with everything below it.
type BucketSpace struct {
	Name string `json:"name"`
	Keys int    `json:"keys"`
	// Bytes are the pages the bucket holds (its share of the file).
	Bytes int64 `json:"bytes"`
	// UsedBytes are the bytes of keys, values and page headers inside
	// those pages; the rest is room left in partly filled pages.
	UsedBytes int64 `json:"used_bytes"`
}

// Space reports the file's size and where its bytes are.
func (s *Store) Space(ctx context.Context) (SpaceReport, error) {
	rep := SpaceReport{Path: s.path, PageSize: s.db.Info().PageSize}
	fi, err := os.Stat(s.path)
	if err != nil {
		return SpaceReport{}, fmt.Errorf("store: space: %w", err)
	}
	rep.FileBytes = fi.Size()
	st := s.db.Stats()
	rep.FreeBytes = int64(st.FreePageN+st.PendingPageN) * int64(rep.PageSize)
	err = s.view(ctx, func(tx *bolt.Tx) error {
		root := tx.Bucket([]byte(bRoot))
		if root == nil {
			return nil
		}
		return root.ForEach(func(k, v []byte) error {
			if v != nil {
				return nil
			}
			bs := root.Bucket(k).Stats()
			rep.Buckets = append(rep.Buckets, BucketSpace{
				Name:      string(k),
				Keys:      bs.KeyN,
				Bytes:     int64(bs.BranchAlloc + bs.LeafAlloc),
				UsedBytes: int64(bs.BranchInuse + bs.LeafInuse),
			})
			return nil
		})
	})
	if err != nil {
		return SpaceReport{}, fmt.Errorf("store: space: %w", err)
	}
	sort.SliceStable(rep.Buckets, func(i, j int) bool { return rep.Buckets[i].Bytes > rep.Buckets[j].Bytes })
	return rep, nil
}
