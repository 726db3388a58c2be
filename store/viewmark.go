package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ViewMark is what a device remembers of a set of analyst views it made in
// Drill, or found there with every column: the hash of their definition and
// when it last made or checked them. The agent skips the views while the
// mark matches and is recent (agent.ViewRecheck), so a sync runs no view
// query when nothing changed.
type ViewMark struct {
	Hash    string `json:"hash"`
	Checked int64  `json:"checked"` // epoch ms, this computer's clock
}

// ViewMark returns the mark kept under key; found is false when there is
// none.
func (s *Store) ViewMark(ctx context.Context, key string) (m ViewMark, found bool, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		found, err = getJSON(bucket(tx, bMeta), []byte(keyViewMark+key), &m)
		return err
	})
	if err != nil {
		return ViewMark{}, false, fmt.Errorf("store: view mark: %w", err)
	}
	return m, found, nil
}

// PutViewMark keeps a view mark under key.
func (s *Store) PutViewMark(ctx context.Context, key string, m ViewMark) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return putJSON(bucket(tx, bMeta), []byte(keyViewMark+key), m)
	})
	if err != nil {
		return fmt.Errorf("store: put view mark: %w", err)
	}
	return nil
}
