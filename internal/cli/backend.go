package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/app"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Backend is the app.Backend of a running fieldsync process (window or
// serve): it answers the UI from the Runtime's store, capture path and
// settings, and owns the sync agent. Saving settings builds a new agent
// (and Drill client) over the same store and event hub and swaps it in;
// the schedule keeps running across the swap when it was started.
//
// Use Start/Stop for the schedule instead of the Runtime's Agent, which is
// stale after the first swap.
type Backend struct {
	rt  *Runtime
	log *slog.Logger
	now func() time.Time

	// gate is held for reading by calls that use the agent for a whole
	// sync or resolution, and for writing by a swap, so a swap waits for
	// them and two agents never sync at once. Calls that only read the
	// store do not take it: they answer while a sync runs.
	gate sync.RWMutex
	// mu guards cur and openErr; it is held only briefly.
	mu      sync.RWMutex
	cur     parts
	openErr error // why Open failed

	runMu    sync.Mutex
	cancel   context.CancelFunc // nil while the schedule is stopped
	loopDone chan struct{}
	swaps    chan swapRequest
	wg       sync.WaitGroup
}

// parts is what a settings change replaces as one.
type parts struct {
	cfg     config.Config
	set     *schema.Set
	agent   *agent.Agent
	capture *agent.Capture
}

type swapRequest struct {
	next *agent.Agent
	done chan struct{}
}

var _ app.Backend = (*Backend)(nil)

// errStarting is answered by a deferred Backend's calls before Open.
var errStarting = errors.New("fieldsync is still starting: try again in a moment")

// NewBackend returns the Backend of rt, opening its store and sync parts
// first when they are not open yet. The Runtime keeps owning (and closing)
// the store.
func NewBackend(ctx context.Context, rt *Runtime) (*Backend, error) {
	b := NewDeferredBackend(rt)
	if err := b.Open(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// NewDeferredBackend returns a Backend whose parts open later, with Open:
// the window binds it before Wails' single-instance check and opens the
// store only once it knows it is the one instance. Until Open its calls
// fail with a sentence saying fieldsync is starting; after a failed Open
// they fail with that error.
func NewDeferredBackend(rt *Runtime) *Backend {
	log := rt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backend{rt: rt, log: log.With("component", "backend"), now: time.Now, swaps: make(chan swapRequest)}
}

// Open opens rt's store and sync parts unless they are open.
func (b *Backend) Open(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur.agent != nil {
		return nil
	}
	if b.rt.Store == nil {
		if err := openParts(ctx, b.rt); err != nil {
			b.openErr = err
			return err
		}
	}
	b.cur = parts{cfg: b.rt.Config, set: b.rt.Schema, agent: b.rt.Agent, capture: b.rt.Capture}
	b.openErr = nil
	return nil
}

// readyLocked is ready for callers holding mu.
func (b *Backend) readyLocked() error {
	if b.cur.agent != nil {
		return nil
	}
	if b.openErr != nil {
		return b.openErr
	}
	return errStarting
}

// ready returns the parts in use, or why there are none.
func (b *Backend) ready() (parts, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.readyLocked(); err != nil {
		return parts{}, err
	}
	return b.cur, nil
}

// AddEvents makes s receive the agent's events (the window or the bridge).
// Call it after Open and before Start.
func (b *Backend) AddEvents(s agent.Events) { b.rt.Events.add(s) }

// Agent returns the agent in use now.
func (b *Backend) Agent() *agent.Agent {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.cur.agent
}

// Start runs the sync schedule until ctx ends or Stop is called, across
// settings changes.
func (b *Backend) Start(ctx context.Context) error {
	// mu (read) is held so that a swap cannot slip between reading the
	// agent and marking the schedule as running; nothing takes mu while
	// holding runMu.
	b.mu.RLock()
	defer b.mu.RUnlock()
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if b.cancel != nil {
		return errors.New("backend: already started")
	}
	ag := b.cur.agent
	if ag == nil {
		return fmt.Errorf("backend: start: %w", errStarting)
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := ag.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("backend: %w", err)
	}
	b.cancel = cancel
	b.loopDone = make(chan struct{})
	b.wg.Add(1)
	go func(done chan struct{}) {
		defer b.wg.Done()
		defer close(done)
		b.loop(ctx, ag)
	}(b.loopDone)
	return nil
}

// loop keeps the current agent's schedule running and swaps agents.
func (b *Backend) loop(ctx context.Context, ag *agent.Agent) {
	for {
		select {
		case <-ctx.Done():
			ag.Stop()
			return
		case req := <-b.swaps:
			ag.Stop()
			ag = req.next
			if err := ag.Start(ctx); err != nil {
				b.log.Error("the new sync schedule did not start", "err", err)
			}
			close(req.done)
		}
	}
}

// Stop stops the schedule and waits for a running sync to end. The UI keeps
// working; SyncNow still syncs.
func (b *Backend) Stop() {
	b.runMu.Lock()
	cancel := b.cancel
	b.cancel = nil
	b.runMu.Unlock()
	if cancel != nil {
		cancel()
	}
	b.wg.Wait()
}

// Info describes the device, the collections and the Drill settings.
func (b *Backend) Info(ctx context.Context) (app.Info, error) {
	p, err := b.ready()
	if err != nil {
		return app.Info{}, err
	}
	v, err := b.rt.Store.NextVersion(ctx)
	if err != nil {
		return app.Info{}, err
	}
	colls := []schema.Collection{}
	if p.set != nil {
		colls = append(colls, p.set.Collections...)
	}
	urls := append([]string{}, p.cfg.Drill.URLs...)
	return app.Info{
		Device:       b.rt.Store.DeviceID(),
		Author:       p.cfg.Author,
		Version:      Version(),
		HLC:          v.String(),
		Collections:  colls,
		Drill:        app.DrillInfo{Configured: len(urls) > 0, URLs: urls, Workspace: p.cfg.Drill.Plugin + "." + p.cfg.Drill.Workspace},
		Schedule:     p.cfg.Schedule,
		ScheduleText: agent.DescribeSpec(p.cfg.Schedule),
	}, nil
}

// Accept journals the UI's changes through the capture checks and updates
// the pending count shown in the status.
func (b *Backend) Accept(ctx context.Context, changes []store.Change) (store.AppendResult, error) {
	p, err := b.ready()
	if err != nil {
		return store.AppendResult{}, err
	}
	res, err := p.capture.Accept(ctx, changes)
	if err != nil {
		return res, err
	}
	if res.Accepted > 0 {
		if _, err := p.agent.RefreshStatus(ctx); err != nil {
			b.log.Warn("status not refreshed after accepting changes", "err", err)
		}
	}
	return res, nil
}

// MirrorSince returns the applied changes after a mirror sequence.
func (b *Backend) MirrorSince(ctx context.Context, after uint64, limit int) (app.MirrorPage, error) {
	if _, err := b.ready(); err != nil {
		return app.MirrorPage{}, err
	}
	st := b.rt.Store
	stats, err := st.Stats(ctx)
	if err != nil {
		return app.MirrorPage{}, err
	}
	page := app.MirrorPage{Entries: []store.MirrorEntry{}, LastMSeq: stats.LastMSeq, FirstMSeq: stats.FirstMSeq}
	es, err := st.MirrorSince(ctx, after, limit)
	switch {
	case errors.Is(err, store.ErrMirrorTruncated):
		page.Truncated = true
		return page, nil
	case err != nil:
		return app.MirrorPage{}, err
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
func (b *Backend) Records(ctx context.Context, collection, after string, limit int) (app.RecordPage, error) {
	if _, err := b.ready(); err != nil {
		return app.RecordPage{}, err
	}
	st := b.rt.Store
	pg, err := st.Records(ctx, collection, store.Page{After: after, Limit: limit, IncludeDeleted: true})
	if err != nil {
		return app.RecordPage{}, err
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		return app.RecordPage{}, err
	}
	cs := stats.Collections[collection]
	out := app.RecordPage{Records: pg.Records, Next: pg.Next, Total: cs.Live + cs.Deleted}
	if out.Records == nil {
		out.Records = []store.Record{}
	}
	return out, nil
}

// Record returns one record.
func (b *Backend) Record(ctx context.Context, collection, id string) (store.Record, error) {
	if _, err := b.ready(); err != nil {
		return store.Record{}, err
	}
	return b.rt.Store.Record(ctx, collection, id)
}

// auditPage is how many journal entries PendingIDs reads per call.
const auditPage = 1000

// History returns a record's changes and the resolutions of its conflicts.
// The resolutions come from the store's index of the audit log by record,
// so the cost follows the record's own entries, not the log's length.
func (b *Backend) History(ctx context.Context, collection, id string) (app.History, error) {
	if _, err := b.ready(); err != nil {
		return app.History{}, err
	}
	st := b.rt.Store
	changes, err := st.History(ctx, collection, id)
	if err != nil {
		return app.History{}, err
	}
	h := app.History{Changes: changes, Audit: []app.Audit{}}
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
		return app.History{}, err
	}
	for _, e := range es {
		h.Audit = append(h.Audit, auditOf(e, byID, byVersion))
	}
	if len(changes) == 0 && len(h.Audit) == 0 {
		return app.History{}, fmt.Errorf("history %s/%s: %w", collection, id, store.ErrNotFound)
	}
	return h, nil
}

// auditOf turns an audit entry into what the UI shows. The chosen version
// is the leaf whose document the resolution kept, when there is one.
func auditOf(e store.AuditEntry, byID, byVersion map[string]store.Change) app.Audit {
	var d struct {
		How    string   `json:"how"`
		Leaves []string `json:"leaves"`
		Note   string   `json:"note"`
	}
	_ = json.Unmarshal(e.Detail, &d)
	a := app.Audit{
		Seq: e.Seq, At: e.At, Collection: e.Collection, RecordID: e.RecordID,
		Author: e.Actor, Take: d.How, Leaves: d.Leaves, Note: d.Note,
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
	return a
}

// PendingIDs lists the records with journal entries not yet in Drill.
func (b *Backend) PendingIDs(ctx context.Context) ([]app.PendingRecords, error) {
	if _, err := b.ready(); err != nil {
		return nil, err
	}
	st := b.rt.Store
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
	out := []app.PendingRecords{}
	for coll, set := range ids {
		pr := app.PendingRecords{Collection: coll}
		for id := range set {
			pr.RecordIDs = append(pr.RecordIDs, id)
		}
		sort.Strings(pr.RecordIDs)
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Collection < out[j].Collection })
	return out, nil
}

// Status returns the agent's status.
func (b *Backend) Status(context.Context) (agent.Status, error) {
	p, err := b.ready()
	if err != nil {
		return agent.Status{}, err
	}
	return p.agent.Status(), nil
}

// SyncNow runs one sync now; a settings change waits for it.
func (b *Backend) SyncNow(ctx context.Context) (agent.Report, error) {
	b.gate.RLock()
	defer b.gate.RUnlock()
	p, err := b.ready()
	if err != nil {
		return agent.Report{}, err
	}
	return p.agent.SyncNow(ctx)
}

// Conflicts lists the open conflicts that pass the filter.
func (b *Backend) Conflicts(ctx context.Context, f app.ConflictFilter) ([]store.Conflict, error) {
	if _, err := b.ready(); err != nil {
		return nil, err
	}
	all, err := b.rt.Store.Conflicts(ctx, f.Collection)
	if err != nil {
		return nil, err
	}
	now := b.now().UnixMilli()
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
func (b *Backend) Conflict(ctx context.Context, collection, id string) (store.Conflict, error) {
	if _, err := b.ready(); err != nil {
		return store.Conflict{}, err
	}
	return b.rt.Store.Conflict(ctx, collection, id)
}

// Resolve settles one conflict; an empty author means this device's author.
func (b *Backend) Resolve(ctx context.Context, collection, id string, choice agent.Choice) (store.Change, error) {
	b.gate.RLock()
	defer b.gate.RUnlock()
	p, err := b.ready()
	if err != nil {
		return store.Change{}, err
	}
	return b.resolve(ctx, p, collection, id, choice)
}

// resolve settles one conflict with p's agent; callers hold gate.
func (b *Backend) resolve(ctx context.Context, p parts, collection, id string, choice agent.Choice) (store.Change, error) {
	if choice.Author == "" {
		choice.Author = p.cfg.Author
	}
	c, err := p.agent.Resolve(ctx, collection, id, choice)
	if err != nil {
		return c, err
	}
	if _, err := p.agent.RefreshStatus(ctx); err != nil {
		b.log.Warn("status not refreshed after a resolution", "err", err)
	}
	return c, nil
}

// ErrNothingToCopy is returned by KeepBoth when no other version holds a
// document to keep as a copy (the other edits deleted the record).
var ErrNothingToCopy = errors.New("the other version deletes the record, so there is nothing to keep as a copy; choose one version instead")

// KeepBoth keeps the winner in the record and the newest other version
// that holds a document as a new record. The copy is checked before
// anything is written, so a copy that would be refused never costs the
// resolution.
func (b *Backend) KeepBoth(ctx context.Context, collection, id string) (app.KeepBothResult, error) {
	b.gate.RLock()
	defer b.gate.RUnlock()
	p, err := b.ready()
	if err != nil {
		return app.KeepBothResult{}, err
	}
	cf, err := b.rt.Store.Conflict(ctx, collection, id)
	if errors.Is(err, store.ErrNotFound) {
		return app.KeepBothResult{}, fmt.Errorf("keep both %s/%s: %w", collection, id, agent.ErrNoConflict)
	}
	if err != nil {
		return app.KeepBothResult{}, err
	}
	var other *store.Change
	for i := len(cf.Leaves) - 1; i >= 0; i-- {
		if l := cf.Leaves[i]; l.Version != cf.Winner && l.Op == store.OpPut {
			other = &cf.Leaves[i]
			break
		}
	}
	if other == nil {
		return app.KeepBothResult{}, fmt.Errorf("keep both %s/%s: %w", collection, id, ErrNothingToCopy)
	}
	cp, err := p.capture.Prepare(ctx, collection, "", store.OpPut, other.Doc)
	if err != nil {
		return app.KeepBothResult{}, fmt.Errorf("keep both %s/%s: the copy: %w", collection, id, err)
	}
	kept, err := b.resolve(ctx, p, collection, id, agent.Choice{Take: agent.TakeVersion, Version: cf.Winner})
	if err != nil {
		return app.KeepBothResult{}, err
	}
	res, err := p.capture.Accept(ctx, []store.Change{cp})
	if err == nil && res.Rejected > 0 {
		err = res.Results[0].Err
	}
	if err != nil {
		return app.KeepBothResult{Kept: kept}, fmt.Errorf("keep both %s/%s: the winner is kept but the copy of version %s was not saved: %w", collection, id, other.Version, err)
	}
	if _, err := p.agent.RefreshStatus(ctx); err != nil {
		b.log.Warn("status not refreshed after keep both", "err", err)
	}
	return app.KeepBothResult{Kept: kept, Copy: cp}, nil
}

// ResolveMany applies one choice to each conflict in turn: "device" and
// "server" as in Resolve, "newest" keeps the winner (the highest version).
// A conflict that fails is reported and the others go on.
func (b *Backend) ResolveMany(ctx context.Context, items []app.RecordRef, take string) (app.ResolveManyResult, error) {
	b.gate.RLock()
	defer b.gate.RUnlock()
	p, err := b.ready()
	if err != nil {
		return app.ResolveManyResult{}, err
	}
	out := app.ResolveManyResult{Failed: []app.ResolveFailure{}}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		choice := agent.Choice{Take: agent.Take(take)}
		var err error
		if take == "newest" {
			var cf store.Conflict
			cf, err = b.rt.Store.Conflict(ctx, it.Collection, it.RecordID)
			if errors.Is(err, store.ErrNotFound) {
				err = agent.ErrNoConflict
			}
			choice = agent.Choice{Take: agent.TakeVersion, Version: cf.Winner}
		}
		if err == nil {
			_, err = b.resolve(ctx, p, it.Collection, it.RecordID, choice)
		}
		if err != nil {
			out.Failed = append(out.Failed, app.ResolveFailure{Collection: it.Collection, RecordID: it.RecordID, Error: resolveFailure(err)})
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

// settingKeys maps the UI's settings to the keys of the settings file.
// It is a read-only table.
var settingKeys = []struct {
	name, key string
	get       func(config.Config) any
	set       func(*config.Config, app.Settings)
}{
	{"drill_urls", "drill.urls", func(c config.Config) any { return c.Drill.URLs }, func(c *config.Config, s app.Settings) { c.Drill.URLs = s.DrillURLs }},
	{"workspace", "drill.workspace", func(c config.Config) any { return c.Drill.Workspace }, func(c *config.Config, s app.Settings) { c.Drill.Workspace = s.Workspace }},
	{"auth", "drill.auth", func(c config.Config) any { return c.Drill.Auth }, func(c *config.Config, s app.Settings) { c.Drill.Auth = s.Auth }},
	{"user", "drill.user", func(c config.Config) any { return c.Drill.User }, func(c *config.Config, s app.Settings) { c.Drill.User = s.User }},
	{"ca_file", "drill.ca_file", func(c config.Config) any { return c.Drill.CAFile }, func(c *config.Config, s app.Settings) { c.Drill.CAFile = s.CAFile }},
	{"schedule", "schedule", func(c config.Config) any { return c.Schedule }, func(c *config.Config, s app.Settings) { c.Schedule = s.Schedule }},
	{"collections", "collections", func(c config.Config) any { return c.Collections }, func(c *config.Config, s app.Settings) { c.Collections = s.Collections }},
}

// envOf names the environment variable that sets a settings key, if any.
func envOf(key string) string {
	return "FIELDSYNC_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func settingsOf(c config.Config) app.Settings {
	s := app.Settings{
		DrillURLs: append([]string{}, c.Drill.URLs...), Workspace: c.Drill.Workspace, Auth: c.Drill.Auth,
		User: c.Drill.User, CAFile: c.Drill.CAFile, Schedule: c.Schedule, Collections: c.Collections,
	}
	return s
}

// locked returns the settings (by UI name) set by the managed file or the
// environment, which win over the user's file, with where each comes from.
func (b *Backend) locked() (map[string]string, error) {
	out := map[string]string{}
	src := b.rt.Sources
	if src.Managed != "" {
		keys, err := config.FileKeys(src.Managed)
		if err != nil {
			return nil, err
		}
		for _, k := range settingKeys {
			for _, fk := range keys {
				if fk == k.key || strings.HasPrefix(k.key, fk+".") {
					out[k.name] = "your organisation's managed settings (" + src.Managed + ")"
				}
			}
		}
	}
	names := config.EnvNames()
	for _, k := range settingKeys {
		env := envOf(k.key)
		if _, ok := lookupEnv(src.Env, env); ok && slices.Contains(names, env) {
			out[k.name] = "the environment variable " + env
		}
	}
	return out, nil
}

// Settings returns the settings in force, the locked ones and where the
// password is.
func (b *Backend) Settings(context.Context) (app.SettingsView, error) {
	p, err := b.ready()
	if err != nil {
		return app.SettingsView{}, err
	}
	return b.view(p.cfg)
}

func (b *Backend) view(c config.Config) (app.SettingsView, error) {
	lk, err := b.locked()
	if err != nil {
		return app.SettingsView{}, err
	}
	v := app.SettingsView{
		Settings:     settingsOf(c),
		Locked:       []string{},
		Password:     "none",
		ScheduleText: agent.DescribeSpec(c.Schedule),
		File:         b.rt.Sources.User,
	}
	for name := range lk {
		v.Locked = append(v.Locked, name)
	}
	sort.Strings(v.Locked)
	if c.Drill.Auth != "none" && c.Drill.User != "" {
		if _, from, err := secretsFor(b.rt.Env, c).DrillPassword(c.Drill); err == nil {
			v.Password = from
		}
	}
	return v, nil
}

// apply returns c with the UI's settings in place, checked.
func (b *Backend) apply(c config.Config, s app.Settings) (config.Config, error) {
	for _, k := range settingKeys {
		k.set(&c, s)
	}
	if c.Drill.Auth == "" {
		c.Drill.Auth = "none"
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", strings.TrimPrefix(err.Error(), "config: "), app.ErrInvalidInput)
	}
	if err := agent.CheckSpec(c.Schedule); err != nil {
		return c, fmt.Errorf("schedule: %v: %w", err, app.ErrInvalidInput)
	}
	return c, nil
}

// SaveSettings checks s, refuses changes to locked settings, writes the
// user's settings file and swaps in an agent built with the new settings.
func (b *Backend) SaveSettings(ctx context.Context, s app.Settings) (app.SettingsView, error) {
	cur, err := b.ready()
	if err != nil {
		return app.SettingsView{}, err
	}
	next, err := b.apply(cur.cfg, s)
	if err != nil {
		return app.SettingsView{}, err
	}
	lk, err := b.locked()
	if err != nil {
		return app.SettingsView{}, err
	}
	set := map[string]any{}
	for _, k := range settingKeys {
		was, now := k.get(cur.cfg), k.get(next)
		if from, ok := lk[k.name]; ok {
			if !equalSetting(was, now) {
				return app.SettingsView{}, fmt.Errorf("%s is set by %s and cannot be changed here: %w", k.name, from, app.ErrInvalidInput)
			}
			continue
		}
		set[k.key] = now
	}
	newSet := cur.set
	if next.Collections != cur.cfg.Collections {
		newSet = &schema.Set{}
		if next.Collections != "" {
			if newSet, err = schema.Load(next.Collections); err != nil {
				return app.SettingsView{}, fmt.Errorf("collections: %v: %w", err, app.ErrInvalidInput)
			}
		}
	}
	if b.rt.Sources.User == "" {
		return app.SettingsView{}, errors.New("there is no settings file to write: start fieldsync with --config FILE")
	}
	if err := config.UpdateFile(b.rt.Sources.User, set); err != nil {
		return app.SettingsView{}, err
	}
	b.log.Info("settings saved", "file", b.rt.Sources.User, "drill", next.Drill.URLs, "schedule", next.Schedule)
	if err := b.reconfigure(ctx, next, newSet); err != nil {
		return app.SettingsView{}, fmt.Errorf("the settings are saved but not in use yet: %w", err)
	}
	return b.view(next)
}

func equalSetting(a, b any) bool {
	as, aok := a.([]string)
	bs, bok := b.([]string)
	if aok && bok {
		return slices.Equal(as, bs)
	}
	return a == b
}

// reconfigure builds an agent for c and swaps it in, stopping the old one
// (after its running sync) and starting the new one's schedule when the
// schedule runs.
func (b *Backend) reconfigure(ctx context.Context, c config.Config, set *schema.Set) error {
	ag, _, err := newAgent(b.rt, c, set)
	if err != nil {
		return err
	}
	b.gate.Lock()
	defer b.gate.Unlock()
	b.mu.Lock()
	old := b.cur
	b.cur = parts{cfg: c, set: set, agent: ag, capture: &agent.Capture{Journal: b.rt.Store, Schema: set, Author: c.Author}}
	b.mu.Unlock()
	b.runMu.Lock()
	running, loopDone := b.cancel != nil, b.loopDone
	b.runMu.Unlock()
	if running {
		req := swapRequest{next: ag, done: make(chan struct{})}
		select {
		case b.swaps <- req:
			<-req.done
		case <-loopDone:
		}
	} else {
		old.agent.Stop()
	}
	if _, err := ag.RefreshStatus(ctx); err != nil {
		b.log.Warn("status not refreshed after a settings change", "err", err)
	}
	return nil
}

// SetPassword stores the Drill password of the configured user and
// rebuilds the agent so the next sync uses it.
func (b *Backend) SetPassword(ctx context.Context, password string) (app.PasswordResult, error) {
	cur, err := b.ready()
	if err != nil {
		return app.PasswordResult{}, err
	}
	if cur.cfg.Drill.Auth == "none" || cur.cfg.Drill.User == "" {
		return app.PasswordResult{}, fmt.Errorf("set the authentication to basic or form and a Drill user first, then store the password: %w", app.ErrInvalidInput)
	}
	where, err := secretsFor(b.rt.Env, cur.cfg).SetDrillPassword(cur.cfg.Drill, password)
	if err != nil {
		return app.PasswordResult{}, err
	}
	b.log.Info("Drill password stored", "user", cur.cfg.Drill.User, "in", where)
	if err := b.reconfigure(ctx, cur.cfg, cur.set); err != nil {
		return app.PasswordResult{StoredIn: where}, fmt.Errorf("the password is stored but not in use yet: %w", err)
	}
	return app.PasswordResult{StoredIn: where}, nil
}

// TestConnection checks s against every Drillbit without saving it: reach,
// version, auth, query, then the workspace through the fail-over client.
func (b *Backend) TestConnection(ctx context.Context, s app.Settings) ([]app.Check, error) {
	cur, err := b.ready()
	if err != nil {
		return nil, err
	}
	c, err := b.apply(cur.cfg, s)
	if err != nil {
		return nil, err
	}
	var out []app.Check
	add := func(name, status, detail, hint string) {
		out = append(out, app.Check{Name: name, Status: status, Detail: detail, Hint: hint})
	}
	if len(c.Drill.URLs) == 0 {
		add("reach", statusFail, "no Drillbit URL is set: changes stay on this computer", "enter the Drillbit URL, e.g. http://drill.example.org:8047")
		return out, nil
	}
	if c.Drill.Auth != "none" {
		_, from, err := secretsFor(b.rt.Env, c).DrillPassword(c.Drill)
		if err != nil {
			add("auth", statusFail, trimErr(err), "store the password with \"Set password\"")
			return out, nil
		}
		add("auth", statusOK, fmt.Sprintf("password for %s found in the %s", c.Drill.User, from), "")
	}
	up := 0
	for _, u := range c.Drill.URLs {
		one := c
		one.Drill.URLs = []string{u}
		cl, err := newDrillClient(b.rt.Env, one, nil)
		if err != nil {
			add("reach "+u, statusFail, trimErr(err), "fix the Drill settings")
			continue
		}
		cluster, err := cl.Cluster(ctx)
		if err != nil {
			name := "reach " + u
			if drill.IsAuthError(err) {
				name = "auth " + u
			}
			add(name, statusFail, trimErr(err), drillHint(err))
			continue
		}
		add("reach "+u, statusOK, fmt.Sprintf("%d Drillbit(s) in the cluster", len(cluster.Drillbits)), "")
		if strings.HasPrefix(cluster.CurrentVersion, supportedDrill) {
			add("version "+u, statusOK, "Drill "+cluster.CurrentVersion, "")
		} else {
			add("version "+u, statusWarn, fmt.Sprintf("Drill %s; fieldsync is tested with %sx", cluster.CurrentVersion, supportedDrill), "upgrade Drill or test this version first")
		}
		if _, err := cl.Query(ctx, "SELECT 1 AS ok FROM (VALUES(1))"); err != nil {
			name := "query " + u
			if drill.IsAuthError(err) {
				name = "auth " + u
			}
			add(name, statusFail, trimErr(err), drillHint(err))
			continue
		}
		if c.Drill.Auth != "none" {
			add("auth "+u, statusOK, "signed in as "+c.Drill.User, "")
		}
		add("query "+u, statusOK, "Drill answers queries", "")
		up++
	}
	if up == 0 {
		return out, nil
	}
	cl, err := newDrillClient(b.rt.Env, c, nil)
	if err != nil {
		add("workspace", statusFail, trimErr(err), "fix the Drill settings")
		return out, nil
	}
	ws := c.Drill.Plugin + "." + c.Drill.Workspace
	res, err := cl.Query(ctx, "SHOW FILES IN "+ws)
	if err != nil {
		add("workspace", statusFail, trimErr(err), fmt.Sprintf("create the writable workspace %s in Drill's storage settings, or ask IT to set drill.location", ws))
		return out, nil
	}
	add("workspace", statusOK, fmt.Sprintf("%s answers (%d entries)", ws, len(res.Rows)), "")
	return out, nil
}
