package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Info describes the device, the collections and the Drill settings.
func (s *Service) Info(ctx context.Context) (Info, error) {
	p, err := s.ready()
	if err != nil {
		return Info{}, err
	}
	v, err := s.store.NextVersion(ctx)
	if err != nil {
		return Info{}, err
	}
	colls := []schema.Collection{}
	if p.set != nil {
		colls = append(colls, p.set.Collections...)
	}
	urls := append([]string{}, p.cfg.Drill.URLs...)
	return Info{
		Device:       s.store.DeviceID(),
		Author:       p.cfg.Author,
		Version:      s.opts.Version,
		HLC:          v.String(),
		Collections:  colls,
		Drill:        DrillInfo{Configured: len(urls) > 0, URLs: urls, Workspace: p.cfg.Drill.Plugin + "." + p.cfg.Drill.Workspace},
		Schedule:     p.cfg.Schedule,
		ScheduleText: agent.DescribeSpec(p.cfg.Schedule),
		Demo:         IsDemo(p.cfg.DataDir),
	}, nil
}

// Accept journals the UI's changes through the capture checks and updates
// the pending count shown in the status.
func (s *Service) Accept(ctx context.Context, changes []store.Change) (store.AppendResult, error) {
	p, err := s.ready()
	if err != nil {
		return store.AppendResult{}, err
	}
	res, err := p.capture.Accept(ctx, changes)
	if err != nil {
		return res, err
	}
	if res.Accepted > 0 {
		s.saved(ctx, p.agent, "accepting changes")
	}
	return res, nil
}

// Prepare builds a valid change that puts doc into (nil doc: deletes) a
// record, edited from its current winner, without writing it; an empty id
// makes a new record. Accept writes it.
func (s *Service) Prepare(ctx context.Context, collection, id string, op store.Op, doc json.RawMessage) (store.Change, error) {
	p, err := s.ready()
	if err != nil {
		return store.Change{}, err
	}
	return p.capture.Prepare(ctx, collection, id, op, doc)
}

// MirrorSince returns the applied changes after a mirror sequence.
func (s *Service) MirrorSince(ctx context.Context, after uint64, limit int) (MirrorPage, error) {
	if _, err := s.ready(); err != nil {
		return MirrorPage{}, err
	}
	st := s.store
	stats, err := st.Stats(ctx)
	if err != nil {
		return MirrorPage{}, err
	}
	page := MirrorPage{Entries: []store.MirrorEntry{}, LastMSeq: stats.LastMSeq, FirstMSeq: stats.FirstMSeq}
	es, err := st.MirrorSince(ctx, after, limit)
	switch {
	case errors.Is(err, store.ErrMirrorTruncated):
		page.Truncated = true
		return page, nil
	case err != nil:
		return MirrorPage{}, err
	}
	if es != nil {
		page.Entries = es
	}
	if n := len(es); n > 0 && es[n-1].MSeq > page.LastMSeq {
		page.LastMSeq = es[n-1].MSeq
	}
	return page, nil
}

// Records returns one page of a collection's records, deleted ones too.
func (s *Service) Records(ctx context.Context, collection, after string, limit int) (RecordPage, error) {
	if _, err := s.ready(); err != nil {
		return RecordPage{}, err
	}
	st := s.store
	pg, err := st.Records(ctx, collection, store.Page{After: after, Limit: limit, IncludeDeleted: true})
	if err != nil {
		return RecordPage{}, err
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		return RecordPage{}, err
	}
	cs := stats.Collections[collection]
	out := RecordPage{Records: pg.Records, Next: pg.Next, Total: cs.Live + cs.Deleted}
	if out.Records == nil {
		out.Records = []store.Record{}
	}
	return out, nil
}

// Record returns one record.
func (s *Service) Record(ctx context.Context, collection, id string) (store.Record, error) {
	if _, err := s.ready(); err != nil {
		return store.Record{}, err
	}
	return s.store.Record(ctx, collection, id)
}

// auditPage is how many journal entries PendingIDs reads per call.
const auditPage = 1000

// History returns a record's changes and the resolutions of its conflicts.
// The resolutions come from the store's index of the audit log by record,
// so the cost follows the record's own entries, not the log's length.
func (s *Service) History(ctx context.Context, collection, id string) (History, error) {
	if _, err := s.ready(); err != nil {
		return History{}, err
	}
	st := s.store
	changes, err := st.History(ctx, collection, id)
	if err != nil {
		return History{}, err
	}
	h := History{Changes: changes, Audit: []Audit{}}
	if h.Changes == nil {
		h.Changes = []store.Change{}
	}
	byID := make(map[string]store.Change, len(changes))
	byVersion := make(map[string]store.Change, len(changes))
	for _, c := range changes {
		byID[c.ChangeID] = c
		byVersion[c.Version] = c
	}
	es, err := st.AuditOf(ctx, collection, id)
	if err != nil {
		return History{}, err
	}
	for _, e := range es {
		a := auditOf(e, byID, byVersion)
		a.Remote = a.Device != "" && a.Device != st.DeviceID()
		h.Audit = append(h.Audit, a)
	}
	if len(changes) == 0 && len(h.Audit) == 0 {
		return History{}, fmt.Errorf("history %s/%s: %w", collection, id, store.ErrNotFound)
	}
	return h, nil
}

// Bounds of SettledByRules.
const (
	// DefaultSettledLimit is how many resolutions SettledByRules returns
	// when the caller passes 0.
	DefaultSettledLimit = 20
	// MaxSettledLimit is the most it returns.
	MaxSettledLimit = 200
	// settledScan is how many of the newest audit entries it reads at
	// most: "recent" is the end of the log, never the whole of it.
	settledScan = 5000
)

// SettledByRules lists the most recent conflicts that merge rules settled
// by themselves (resolutions whose Take is "rules"), newest first, at most
// limit (0 means DefaultSettledLimit), each with its record, who and which
// device settled it, when, and the rule that decided each field. Such a
// conflict leaves the Conflicts list as soon as it is settled; this is how
// analysts still see what the rules did. Only the newest settledScan
// entries of the audit log are read.
func (s *Service) SettledByRules(ctx context.Context, limit int) ([]Audit, error) {
	if _, err := s.ready(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultSettledLimit
	}
	limit = min(limit, MaxSettledLimit)
	st := s.store
	out := []Audit{}
	before := uint64(0)
	for read := 0; read < settledScan && len(out) < limit; {
		es, err := st.AuditBefore(ctx, before, min(auditPage, settledScan-read))
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if len(out) == limit {
				break
			}
			if e.Action != "resolve" || e.RecordID == "" || !isRuleResolution(e.Detail) {
				continue
			}
			changes, err := st.History(ctx, e.Collection, e.RecordID)
			if err != nil {
				return nil, err
			}
			byID := make(map[string]store.Change, len(changes))
			byVersion := make(map[string]store.Change, len(changes))
			for _, c := range changes {
				byID[c.ChangeID], byVersion[c.Version] = c, c
			}
			a := auditOf(e, byID, byVersion)
			a.Remote = a.Device != "" && a.Device != st.DeviceID()
			out = append(out, a)
		}
		if len(es) == 0 {
			break
		}
		read += len(es)
		before = es[len(es)-1].Seq
	}
	return out, nil
}

// isRuleResolution reports whether an audit entry's detail is that of a
// resolution made by merge rules.
func isRuleResolution(detail json.RawMessage) bool {
	var d struct {
		How string `json:"how"`
	}
	return json.Unmarshal(detail, &d) == nil && d.How == "rules"
}

// auditOf turns an audit entry into what the UI shows. The chosen version
// is the leaf whose document the resolution kept, when there is one.
func auditOf(e store.AuditEntry, byID, byVersion map[string]store.Change) Audit {
	var d struct {
		How    string            `json:"how"`
		Leaves []string          `json:"leaves"`
		Note   string            `json:"note"`
		Chosen string            `json:"chosen"`
		Rules  map[string]string `json:"rules"`
	}
	_ = json.Unmarshal(e.Detail, &d)
	a := Audit{
		Seq: e.Seq, At: e.At, Collection: e.Collection, RecordID: e.RecordID,
		Author: e.Actor, Take: d.How, Leaves: d.Leaves, Note: d.Note, Rules: d.Rules,
	}
	if a.Take == "" {
		a.Take = e.Action
	}
	if a.Leaves == nil {
		a.Leaves = []string{}
	}
	if res, ok := byID[e.ChangeID]; ok {
		a.ResolutionVersion, a.Device = res.Version, res.Device
		for _, v := range d.Leaves {
			if l, ok := byVersion[v]; ok && l.Op == res.Op && bytes.Equal(l.Doc, res.Doc) {
				a.ChosenVersion = v
			}
		}
	}
	if d.Chosen != "" {
		a.ChosenVersion = d.Chosen // said by the resolution itself (since it travels)
	}
	return a
}

// PendingIDs lists the records with journal entries not yet in Drill.
func (s *Service) PendingIDs(ctx context.Context) ([]PendingRecords, error) {
	if _, err := s.ready(); err != nil {
		return nil, err
	}
	st := s.store
	after, err := st.PushCursor(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]map[string]bool{}
	for {
		es, err := st.Pending(ctx, after, auditPage)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			c := e.Change
			if c.Collection == "" || c.RecordID == "" {
				continue // a damaged entry: nothing to name
			}
			if ids[c.Collection] == nil {
				ids[c.Collection] = map[string]bool{}
			}
			ids[c.Collection][c.RecordID] = true
		}
		if len(es) < auditPage {
			break
		}
		after = es[len(es)-1].Seq
	}
	out := []PendingRecords{}
	for coll, set := range ids {
		pr := PendingRecords{Collection: coll}
		for id := range set {
			pr.RecordIDs = append(pr.RecordIDs, id)
		}
		sort.Strings(pr.RecordIDs)
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Collection < out[j].Collection })
	return out, nil
}

// Status returns the agent's status, counting every save made before
// the call (it waits for their recount).
func (s *Service) Status(ctx context.Context) (agent.Status, error) {
	p, err := s.ready()
	if err != nil {
		return agent.Status{}, err
	}
	s.refresh.wait(ctx) // a status read after a save counts that save
	return p.agent.Status(), nil
}

// SyncNow runs one sync now; a settings change waits for it.
func (s *Service) SyncNow(ctx context.Context) (agent.Report, error) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	p, err := s.ready()
	if err != nil {
		return agent.Report{}, err
	}
	return p.agent.SyncNow(ctx)
}
