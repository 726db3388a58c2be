package service

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/agent"
)

// Compact runs one compaction pass over the change logs of the named
// collections, or, when none is named, of every declared one and the
// fleet's heartbeat log, with the settings in force. It needs no local store: it is IT's job on a
// server, beside (or instead of) any device.
func (s *Service) Compact(ctx context.Context, collections ...string) (agent.CompactReport, error) {
	comp, err := s.compactor(collections)
	if err != nil {
		return agent.CompactReport{}, err
	}
	return comp.Compact(ctx, collections...)
}

// CompactJSON runs one light pass (fieldsync compact --json-only): the
// settled JSON batches of the named collections' logs, or of every
// declared one, are rewritten as Parquet; nothing is folded.
func (s *Service) CompactJSON(ctx context.Context, collections ...string) (agent.CompactReport, error) {
	comp, err := s.compactor(collections)
	if err != nil {
		return agent.CompactReport{}, err
	}
	return comp.Convert(ctx, collections...)
}

// compactor is a compactor with the settings in force, for the named
// collections (checked against the declarations).
func (s *Service) compactor(collections []string) (*agent.Compactor, error) {
	c := s.Config()
	if len(c.Drill.URLs) == 0 {
		return nil, fmt.Errorf("compact: no Drillbit is configured (set drill.urls in the settings or pass --drill URL)")
	}
	set, err := loadSchema(c.Collections)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	for _, name := range collections {
		if _, err := set.Collection(name); err != nil {
			return nil, fmt.Errorf("compact: %w", err)
		}
	}
	dc, err := NewDrillClient(c, s.Secrets(c), s.opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	return agent.NewCompactor(agent.CompactOptions{
		Drill:     agent.DrillClient(dc),
		Schema:    set,
		Workspace: c.Drill.Plugin + "." + c.Drill.Workspace,
		// An unreadable compacted entry is dropped only when no CTAS can
		// still be writing it: past the query time limit, with room.
		Stale:      max(agent.DefaultCompactStale, 3*time.Duration(c.Drill.QueryTimeout)),
		JSONSettle: time.Duration(c.Compact.JSONSettle),
		Logger:     s.opts.Logger,
	})
}
