package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/store"
)

// Conflicts lists the open conflicts that pass the filter.
func (s *Service) Conflicts(ctx context.Context, f ConflictFilter) ([]store.Conflict, error) {
	if _, err := s.ready(); err != nil {
		return nil, err
	}
	all, err := s.store.Conflicts(ctx, f.Collection)
	if err != nil {
		return nil, err
	}
	now := s.now().UnixMilli()
	out := []store.Conflict{}
	for _, cf := range all {
		if f.Device != "" && !slices.ContainsFunc(cf.Leaves, func(c store.Change) bool { return c.Device == f.Device }) {
			continue
		}
		if f.OlderThanMS > 0 && now-cf.DetectedAt < f.OlderThanMS {
			continue
		}
		out = append(out, cf)
	}
	return out, nil
}

// Conflict returns one open conflict.
func (s *Service) Conflict(ctx context.Context, collection, id string) (store.Conflict, error) {
	if _, err := s.ready(); err != nil {
		return store.Conflict{}, err
	}
	return s.store.Conflict(ctx, collection, id)
}

// Resolve settles one conflict; an empty author means this device's author.
func (s *Service) Resolve(ctx context.Context, collection, id string, choice agent.Choice) (store.Change, error) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	p, err := s.ready()
	if err != nil {
		return store.Change{}, err
	}
	return s.resolve(ctx, p, collection, id, choice)
}

// resolve settles one conflict with p's agent; callers hold gate.
func (s *Service) resolve(ctx context.Context, p engine, collection, id string, choice agent.Choice) (store.Change, error) {
	if choice.Author == "" {
		choice.Author = p.cfg.Author
	}
	c, err := p.agent.Resolve(ctx, collection, id, choice)
	if err != nil {
		return c, err
	}
	s.saved(ctx, p.agent, "a resolution")
	return c, nil
}

// ErrNothingToCopy is returned by KeepBoth when no other version holds a
// document to keep as a copy (the other edits deleted the record).
var ErrNothingToCopy = errors.New("the other version deletes the record, so there is nothing to keep as a copy; choose one version instead")

// KeepBoth keeps the winner in the record and the newest other version
// that holds a document as a new record. The copy is checked before
// anything is written, so a copy that would be refused never costs the
// resolution.
func (s *Service) KeepBoth(ctx context.Context, collection, id string) (KeepBothResult, error) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	p, err := s.ready()
	if err != nil {
		return KeepBothResult{}, err
	}
	cf, err := s.store.Conflict(ctx, collection, id)
	if errors.Is(err, store.ErrNotFound) {
		return KeepBothResult{}, fmt.Errorf("keep both %s/%s: %w", collection, id, agent.ErrNoConflict)
	}
	if err != nil {
		return KeepBothResult{}, err
	}
	var other *store.Change
	for i := len(cf.Leaves) - 1; i >= 0; i-- {
		if l := cf.Leaves[i]; l.Version != cf.Winner && l.Op == store.OpPut {
			other = &cf.Leaves[i]
			break
		}
	}
	if other == nil {
		return KeepBothResult{}, fmt.Errorf("keep both %s/%s: %w", collection, id, ErrNothingToCopy)
	}
	cp, err := p.capture.Prepare(ctx, collection, "", store.OpPut, other.Doc)
	if err != nil {
		return KeepBothResult{}, fmt.Errorf("keep both %s/%s: the copy: %w", collection, id, err)
	}
	kept, err := s.resolve(ctx, p, collection, id, agent.Choice{Take: agent.TakeVersion, Version: cf.Winner})
	if err != nil {
		return KeepBothResult{}, err
	}
	res, err := p.capture.Accept(ctx, []store.Change{cp})
	if err == nil && res.Rejected > 0 {
		err = res.Results[0].Err
	}
	if err != nil {
		return KeepBothResult{Kept: kept}, fmt.Errorf("keep both %s/%s: the winner is kept but the copy of version %s was not saved: %w", collection, id, other.Version, err)
	}
	s.saved(ctx, p.agent, "keep both")
	return KeepBothResult{Kept: kept, Copy: cp}, nil
}

// ResolveMany applies one choice to each conflict in turn: "device" and
// "server" as in Resolve, "newest" keeps the winner (the highest version).
// A conflict that fails is reported and the others go on.
func (s *Service) ResolveMany(ctx context.Context, items []RecordRef, take string) (ResolveManyResult, error) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	p, err := s.ready()
	if err != nil {
		return ResolveManyResult{}, err
	}
	out := ResolveManyResult{Failed: []ResolveFailure{}}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		choice := agent.Choice{Take: agent.Take(take)}
		var err error
		if take == "newest" {
			var cf store.Conflict
			cf, err = s.store.Conflict(ctx, it.Collection, it.RecordID)
			if errors.Is(err, store.ErrNotFound) {
				err = agent.ErrNoConflict
			}
			choice = agent.Choice{Take: agent.TakeVersion, Version: cf.Winner}
		}
		if err == nil {
			_, err = s.resolve(ctx, p, it.Collection, it.RecordID, choice)
		}
		if err != nil {
			out.Failed = append(out.Failed, ResolveFailure{Collection: it.Collection, RecordID: it.RecordID, Error: resolveFailure(err)})
			continue
		}
		out.Resolved++
	}
	return out, nil
}

// resolveFailure words why one conflict of a ResolveMany was not settled.
func resolveFailure(err error) string {
	switch {
	case errors.Is(err, agent.ErrNoConflict):
		return "not in conflict any more"
	case errors.Is(err, store.ErrStaleResolution):
		return "changed meanwhile; look at it again"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); strings.HasPrefix(s, "agent: resolve ") && i > 0 {
		s = s[i+2:]
	}
	return s
}
