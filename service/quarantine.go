package service

import (
	"context"

	"github.com/fieldsync/fieldsync/store"
)

// Quarantine lists the pulled rows and batches kept out of the store,
// newest first.
func (s *Service) Quarantine(ctx context.Context) ([]store.Quarantined, error) {
	if _, err := s.ready(); err != nil {
		return nil, err
	}
	return s.store.QuarantineList(ctx)
}

// QuarantineItem returns one quarantined item (store.ErrNotFound if none).
func (s *Service) QuarantineItem(ctx context.Context, id uint64) (store.Quarantined, error) {
	if _, err := s.ready(); err != nil {
		return store.Quarantined{}, err
	}
	return s.store.QuarantineItem(ctx, id)
}

// RetryQuarantine releases quarantined items (all of them when ids is
// empty): their batches are read again at the next sync, after IT fixed
// them in Drill. A row still bad is quarantined again. The status is
// refreshed for the UI.
func (s *Service) RetryQuarantine(ctx context.Context, ids []uint64) ([]store.Quarantined, error) {
	p, err := s.ready()
	if err != nil {
		return nil, err
	}
	out, err := s.store.ReleaseQuarantine(ctx, ids)
	if err != nil {
		return nil, err
	}
	s.refreshStatus(ctx, p.agent, "quarantine retry")
	return out, nil
}
