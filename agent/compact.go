package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
)

// Compaction folds the closed hours of a change log into few large Parquet
// entries (see compactlayout.go), run by IT on a server as `fieldsync
// compact`. One pass, per log:
//
//  1. List the top of the log once. Every entry there (an hour partition, a
//     batch of the first layout, a compacted entry) covers a time range;
//     an entry whose range ended before Drill's clock minus the look-back
//     and the margin is closed, and closed entries are grouped by the UTC
//     month (when it is closed) or day they fall in.
//  2. For a group of more than one entry, or of one entry that is not yet
//     the group's compacted entry, write a new compacted entry with one
//     CTAS over the group (deduplicated by change_id), named by the range,
//     a generation one above the group's compacted entries and this
//     compactor's own writer id: no two compactors ever write one name.
//  3. Verify the new entry: every row once (count = distinct change ids),
//     every row's batch_rows its row count (complete), and no change id
//     of the sources missing from it.
//  4. Only then drop the sources, except a source whose directory changed
//     since the listing (a batch written late into it): it stays for the
//     next pass.
//
// Why this never loses or doubles a change, whatever is killed when: an
// entry is dropped only after a check that every change of it is in an
// entry that ranks above it (a compacted entry ranks above the hours and
// batches it folds, a longer range above a shorter, a higher generation
// above a lower), and a complete entry is never rewritten; so the
// highest-ranked entry holding a change is never dropped. A killed
// compactor leaves at most an extra entry, folded by the next pass; two
// compactors at once leave two entries of one generation, folded by the
// next pass. Readers deduplicate by change_id, so the same change in two
// entries meanwhile is harmless.

// Defaults of CompactOptions.
const (
	// DefaultCompactMargin is kept beyond the look-back before an hour
	// counts as closed: a batch named in an hour can be written until its
	// CTAS ends (the query time limit), and devices list an hour until
	// their watermark is a look-back past it.
	DefaultCompactMargin = time.Hour
	// DefaultCompactStale is how old an unreadable compacted entry must
	// be before a compactor drops it: older than any CTAS may run (the
	// query time limit), so its writer is gone, and never verified (it
	// could not be read), so nothing relies on it.
	DefaultCompactStale = 30 * time.Minute
)

// CompactOptions configures a Compactor. Drill and Schema are required.
type CompactOptions struct {
	Drill  Drill
	Schema *schema.Set
	// Workspace is "plugin.workspace" (default "dfs.fieldsync").
	Workspace string
	// LookBack is the devices' look-back (default DefaultLookBack) and
	// Margin what is kept beyond it (default DefaultCompactMargin): an
	// hour is closed once it ended more than both before Drill's clock.
	LookBack, Margin time.Duration
	// Stale is how old an unreadable compacted entry is dropped (default
	// DefaultCompactStale).
	Stale time.Duration
	// JSONSettle is how old a JSON batch's name must be before it is
	// rewritten as Parquet (default MaxBatchNameAge + MaxWriteTime, after
	// which no device writes it; tests lower it).
	JSONSettle time.Duration
	// Writer names this compactor's entries (default: random per
	// Compactor).
	Writer string
	// DrillClock, when set, replaces Drill's clock for the whole pass, the
	// snapshot refresh included, as Options.DrillClock does for a device:
	// for simulations and tests only.
	DrillClock func() time.Time
	// Now, when set, replaces Drill's clock (or DrillClock) only in deciding
	// which hours are closed (tests that fold the hours devices write now).
	Now func() time.Time
	// Logger receives the compactor's logs (nil: discard).
	Logger *slog.Logger
}

// Compactor compacts change logs; see the comment above CompactOptions.
type Compactor struct {
	dr                Drill
	schema            *schema.Set
	plugin, workspace string
	opts              CompactOptions
	log               *slog.Logger
	convSeq           atomic.Uint64 // numbers the batches convertJSON writes
}

// NewCompactor checks opts and returns a Compactor.
func NewCompactor(opts CompactOptions) (*Compactor, error) {
	if opts.Drill == nil || opts.Schema == nil {
		return nil, errors.New("compact: Drill and Schema are required")
	}
	plugin, ws, err := splitWorkspace(&opts.Workspace)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	if opts.LookBack <= 0 {
		opts.LookBack = DefaultLookBack
	}
	if opts.Margin <= 0 {
		opts.Margin = DefaultCompactMargin
	}
	if opts.Stale <= 0 {
		opts.Stale = DefaultCompactStale
	}
	if opts.Writer == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("compact: writer id: %w", err)
		}
		opts.Writer = hex.EncodeToString(b[:])
	}
	if strings.ContainsAny(opts.Writer, "_-/`") {
		return nil, fmt.Errorf("compact: writer id %q must not hold _ - / or `", opts.Writer)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Compactor{dr: opts.Drill, schema: opts.Schema, plugin: plugin, workspace: ws, opts: opts, log: log}, nil
}

// CompactReport is what one compaction pass did.
type CompactReport struct {
	// Logs are the change logs looked at, one per collection.
	Logs []LogCompaction `json:"logs"`
	// Snapshots are the collections' snapshots, refreshed as the pass's
	// last step.
	Snapshots []SnapshotInfo `json:"snapshots,omitempty"`
}

// LogCompaction is what a pass did to one log.
type LogCompaction struct {
	// Log is the collection (or the fleet table) the log belongs to.
	Log string `json:"log"`
	// EntriesBefore and EntriesAfter count the entries at the top of the
	// log before and after the pass.
	EntriesBefore int `json:"entries_before"`
	EntriesAfter  int `json:"entries_after"`
	// Written are the compacted entries written.
	Written []CompactedWrite `json:"written,omitempty"`
	// Skipped says why groups were left as they are (for the next pass).
	Skipped []string `json:"skipped,omitempty"`
	// Converted counts the JSON batches rewritten as Parquet (see
	// compactjson.go) and dropped.
	Converted int `json:"converted,omitempty"`
}

// CompactedWrite is one compacted entry written and verified.
type CompactedWrite struct {
	Name    string `json:"name"`
	Sources int    `json:"sources"`
	Rows    int64  `json:"rows"`
	Dropped int    `json:"dropped"`
	// Left says why sources of the group were left in place (hour
	// partitions holding files that are not Parquet batches).
	Left []string `json:"left,omitempty"`
}

// compactLog is one log to compact: where it is and what a row is.
type compactLog struct {
	name string   // collection (for reports)
	dir  string   // under the workspace: "<collection>/changes"
	cols []string // select expressions over the alias t, "… AS `name`", without batch_rows
	key  string   // the column rows are deduplicated by
	// keep orders the rows of one key: the first is kept (default: the
	// key itself, for rows that are copies of one another).
	keep string
}

// logEntry is an entry at the top of a log.
type logEntry struct {
	name       string
	start, end int64
	mtime      int64
	compacted  *compactedEntry
	// files, when set, is the glob read instead of the entry's Parquet
	// files (JSON batches being converted).
	files string
}

// glob returns the files of e that a pass reads.
func (e logEntry) glob() string {
	if e.files != "" {
		return e.files
	}
	return entryGlob(e.name)
}

// Compact runs one pass over the change logs of the named collections, or,
// when none is named, of every declared one and the fleet's heartbeat log
// (after moving an older release's fleet table into it).
func (c *Compactor) Compact(ctx context.Context, collections ...string) (CompactReport, error) {
	var rep CompactReport
	var logs []compactLog
	if len(collections) == 0 {
		collections = c.schema.LogNames()
		logs = append(logs, heartbeatLog())
	}
	for _, coll := range collections {
		lg, err := c.collectionLog(coll)
		if err != nil {
			return rep, err
		}
		logs = append(logs, lg)
	}
	now, err := c.now(ctx)
	if err != nil {
		return rep, err
	}
	closedBefore := now - (c.opts.LookBack + c.opts.Margin).Milliseconds()
	snap := c.snapshotter()
	for _, lg := range logs {
		var hold snapshotHold
		if lg.dir == HeartbeatDir {
			if err := c.migrateFleet(ctx, now); err != nil {
				return rep, err
			}
			c.createFleetView(ctx)
		} else {
			info, err := snap.Snapshot(ctx, lg.name)
			if err != nil {
				return rep, fmt.Errorf("compact: %w", err)
			}
			if info.Name != "" {
				hold = snapshotHold{cutoff: info.Cutoff.UnixMilli(), after: info.Taken.Add(-partitionSlack).UnixMilli()}
			}
		}
		var converted int
		var left []string
		if lg.dir != HeartbeatDir {
			if converted, left, err = c.convertLog(ctx, lg); err != nil {
				return rep, err
			}
		}
		lc, err := c.compactLog(ctx, lg, closedBefore, hold)
		lc.Converted, lc.Skipped = converted, append(left, lc.Skipped...)
		rep.Logs = append(rep.Logs, lc)
		if err != nil {
			return rep, err
		}
	}
	// Last step: the snapshots, over what the pass folded.
	for _, lg := range logs {
		if lg.dir == HeartbeatDir {
			continue
		}
		info, err := snap.RefreshSnapshot(ctx, lg.name, time.UnixMilli(now))
		if err != nil {
			return rep, fmt.Errorf("compact: %w", err)
		}
		rep.Snapshots = append(rep.Snapshots, info)
	}
	return rep, nil
}

// snapshotter is the agent, without a store, that reads and refreshes the
// collections' snapshots for the pass: those read and write Drill only.
func (c *Compactor) snapshotter() *Agent {
	opts := Options{Drill: c.dr, Schema: c.schema, Workspace: c.plugin + "." + c.workspace,
		LookBack: c.opts.LookBack, Logger: c.log, DrillClock: c.opts.DrillClock}.withDefaults()
	return &Agent{dr: c.dr, schema: c.schema, plugin: c.plugin, workspace: c.workspace, opts: opts,
		log: c.log, events: discardEvents{}, now: time.Now}
}

// now is Drill's clock (the clock batch names use), or Now, or DrillClock.
func (c *Compactor) now(ctx context.Context) (int64, error) {
	if c.opts.Now != nil {
		return c.opts.Now().UnixMilli(), nil
	}
	return c.drillNow(ctx)
}

// collectionLog describes a collection's change log: its columns as the
// declarations give them, each field cast to its type (a batch written
// before a field was declared lacks its column).
func (c *Compactor) collectionLog(coll string) (compactLog, error) {
	cols := append(schema.MetaColumns(), schema.Column{Name: schema.DocColumn, Type: schema.SQLVarchar})
	if decl, err := c.schema.Collection(coll); err == nil {
		cols = decl.Columns()
	}
	lg := compactLog{name: coll, dir: coll + "/changes", key: "change_id"}
	for _, col := range cols {
		if col.Name == "batch_rows" {
			continue
		}
		id, err := drill.Ident(col.Name)
		if err != nil {
			return lg, fmt.Errorf("compact: %s: %w", coll, err)
		}
		switch {
		case col.Field == "" && col.Type == schema.SQLVarchar:
			lg.cols = append(lg.cols, fmt.Sprintf("CAST(t.%s AS VARCHAR(%d)) AS %s", id, maxTextCast, id))
		case col.Field == "":
			lg.cols = append(lg.cols, fmt.Sprintf("CAST(t.%s AS %s) AS %s", id, col.Type, id))
		case col.Type == schema.SQLVarchar:
			lg.cols = append(lg.cols, fmt.Sprintf("CAST(t.%s AS VARCHAR(%d)) AS %s", id, MaxTypedText, id))
		default:
			lg.cols = append(lg.cols, fmt.Sprintf("CAST(t.%s AS %s) AS %s", id, col.Type, id))
		}
	}
	return lg, nil
}

// maxTextCast is the VARCHAR length metadata and doc columns are cast to:
// Drill's longest.
const maxTextCast = 2147483647

// table returns the Drill path of an entry of a log ("" for the top).
func (c *Compactor) table(lg compactLog, entry string) (string, error) {
	p := lg.dir
	if entry != "" {
		p += "/" + entry
	}
	t, err := drill.TablePath(c.plugin, c.workspace, p)
	if err != nil {
		return "", fmt.Errorf("compact: %w", err)
	}
	return t, nil
}

// list returns the entries at the top of a log (nil when it does not
// exist yet).
func (c *Compactor) list(ctx context.Context, lg compactLog) ([]logEntry, error) {
	top, err := c.table(lg, "")
	if err != nil {
		return nil, err
	}
	rows, err := showFiles(ctx, c.dr, top)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("compact: list %s: %w", lg.dir, err)
	}
	var out []logEntry
	for _, r := range rows {
		if isDir, ok := firstValue(r, "isDirectory", "IS_DIRECTORY", "is_directory").(bool); ok && !isDir {
			continue
		}
		name := firstString(r, "name", "FILE_NAME", "file_name")
		e := logEntry{name: name}
		e.mtime, _ = asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time"))
		hour := time.Hour.Milliseconds()
		if start, ok := parsePartition(name); ok {
			e.start, e.end = start, landedEnd(start+hour, e.mtime)
		} else if ce, ok := parseCompacted(name); ok {
			e.start, e.end, e.compacted = ce.start, ce.end, &ce
		} else if ms, _, ok := parseBatchName(name); ok {
			e.start = ms - ms%hour
			e.end = landedEnd(e.start+hour, e.mtime)
		} else {
			continue // not ours: left alone
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// compactLog runs one pass over one log.
// snapshotHold says which entries a pass leaves for the next: a batch
// written, after the newest snapshot generation was taken (less
// partitionSlack), into an hour that generation already covers (before its
// cutoff) is read by the next refresh as a late batch, so it must still be
// a batch then; the refresh at the end of this pass reads it, the next
// pass folds it. The zero value holds nothing.
type snapshotHold struct{ cutoff, after int64 }

// holds reports whether e waits for the next pass.
func (h snapshotHold) holds(e logEntry) bool {
	return h.after > 0 && e.compacted == nil && e.start < h.cutoff && e.mtime > h.after
}

func (c *Compactor) compactLog(ctx context.Context, lg compactLog, closedBefore int64, hold snapshotHold) (LogCompaction, error) {
	lc := LogCompaction{Log: lg.name}
	entries, err := c.list(ctx, lg)
	if err != nil {
		return lc, err
	}
	lc.EntriesBefore = len(entries)
	type span struct{ from, to int64 }
	groups := map[span][]logEntry{}
	var order []span
	for _, e := range entries {
		from, to, ok := foldRange(e.start, e.end, closedBefore)
		if !ok {
			continue
		}
		if hold.holds(e) {
			lc.Skipped = append(lc.Skipped, e.name+": written into an hour the snapshot holds, after it was taken; folded after the refresh at the end of this pass")
			continue
		}
		k := span{from, to}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	for _, g := range order {
		srcs := groups[g]
		if len(srcs) == 1 && srcs[0].compacted != nil && srcs[0].start == g.from && srcs[0].end == g.to {
			continue // already one compacted entry
		}
		w, why, err := c.compactGroup(ctx, lg, g.from, g.to, srcs)
		if err != nil {
			return lc, err
		}
		if why != "" {
			lc.Skipped = append(lc.Skipped, why)
			c.log.Warn("compaction group left for the next pass", "log", lg.name, "range", partitionOf(g.from), "why", why)
			continue
		}
		lc.Written = append(lc.Written, w)
		lc.Skipped = append(lc.Skipped, w.Left...)
	}
	after, err := c.list(ctx, lg)
	if err != nil {
		return lc, err
	}
	lc.EntriesAfter = len(after)
	return lc, nil
}

// compactGroup writes, verifies and then drops the sources of one group.
// It returns why it left the group as it was ("" when it compacted it);
// errors are those that end the pass (Drill unreachable, cancelled).
func (c *Compactor) compactGroup(ctx context.Context, lg compactLog, from, to int64, srcs []logEntry) (CompactedWrite, string, error) {
	// The new entry ranks above every source (the rule that makes dropping
	// them safe): the sources are hours, batches, shorter ranges and this
	// range's entries of lower generations.
	gen := 1
	for _, s := range srcs {
		if s.compacted != nil && s.start == from && s.end == to {
			gen = max(gen, s.compacted.gen+1)
		}
	}
	name := compactedName(from, to, gen, c.opts.Writer)
	target, err := c.table(lg, name)
	if err != nil {
		return CompactedWrite{}, "", err
	}
	w := CompactedWrite{Name: name, Sources: len(srcs)}
	var rows int64
	for {
		var why string
		var foreign map[string]string
		srcs, why, err = c.write(ctx, lg, target, srcs)
		if err != nil || why != "" {
			return w, why, err
		}
		w.Sources = len(srcs)
		rows, why, foreign, err = c.verify(ctx, lg, target, srcs)
		if err != nil || why != "" {
			return w, why, err
		}
		if len(foreign) == 0 {
			break
		}
		// Written with partitions that must stay: this compactor's own
		// entry, never verified, so dropping it is safe; the group is
		// written again without them.
		if _, err := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+target); err != nil && !batchUnreadable(ctx, err) {
			return w, "", fmt.Errorf("compact: drop %s: %w", target, err)
		}
		var keep []logEntry
		for _, s := range srcs {
			if why, ok := foreign[s.name]; ok {
				w.Left = append(w.Left, why)
				c.log.Warn("partition left in place: it holds files that are not Parquet batches", "log", lg.name, "why", why)
				continue
			}
			keep = append(keep, s)
		}
		srcs = keep
		if len(srcs) == 0 || len(srcs) == 1 && srcs[0].compacted != nil && srcs[0].start == from && srcs[0].end == to {
			return w, strings.Join(w.Left, "; "), nil
		}
	}
	w.Rows = rows
	c.log.Info("compacted", "log", lg.name, "entry", name, "sources", len(srcs), "rows", rows)
	// Drop the sources, but not one that changed since it was listed: a
	// batch may have been written into it after the verification.
	now, err := c.list(ctx, lg)
	if err != nil {
		return w, "", err
	}
	mtimes := make(map[string]int64, len(now))
	for _, e := range now {
		mtimes[e.name] = e.mtime
	}
	for _, s := range srcs {
		mt, ok := mtimes[s.name]
		if !ok {
			continue // dropped by another compactor
		}
		if s.compacted == nil && mt != s.mtime {
			c.log.Info("source changed during compaction; left for the next pass", "log", lg.name, "entry", s.name)
			continue
		}
		t, err := c.table(lg, s.name)
		if err != nil {
			return w, "", err
		}
		if _, err := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			if batchUnreadable(ctx, err) {
				c.log.Warn("source not dropped; the next pass will", "log", lg.name, "entry", s.name, "err", err)
				continue
			}
			return w, "", fmt.Errorf("compact: drop %s: %w", s.name, err)
		}
		w.Dropped++
	}
	return w, "", nil
}
