package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Edits made in Drill: analysts and pipelines write rows into a
// collection's inbox with plain CTAS, and the ingester turns each row into
// a change exactly once, pushed as a batch that devices pull like any
// other.
//
//	<collection>/inbox/<any name>     tables analysts write (read only here)
//	<collection>/inbox_log/<name>/<n> the ledger: one row per inbox row of an
//	                                  ingested table (applied or rejected, why)
//	<collection>/ingested/<name>      marker written last: the table is done
//	<collection>_inbox_rejected       view of the ledger's rejected rows
//
// Exactly once, without locks (Drill has none): a row's change id is a
// digest of the collection, the table's name and the row; its version
// derives from the table's modification time and the record's leaves;
// the rows of a table, sorted, are cut into fixed chunks of BatchRows and
// chunk k is written as the batch "<table ms>_server_<seq>", where seq
// holds a hash of the table's name and the chunk's first row. So a second
// ingester, or a pass after a killed one, computes the same ids and batch
// names: a row whose change id is already in the log is not written again,
// a CTAS of a batch that exists fails or finds it (Drill writes each batch
// under fixed file names, so two CTAS of one batch never both land), and a
// batch still being written is left to its writer. The marker is written
// last: a table with a marker is never read again.

// ServerDevice is the device of every change made in Drill (inbox rows
// that the ingester turned into changes). Devices may not take this name,
// so a side of a conflict made by it is the server's: "server (author)".
const ServerDevice = "server"

// MaxInboxRows bounds the rows of one inbox table; a larger one is
// rejected whole (split it).
const MaxInboxRows = 100_000

// DefaultIngestStale is how long after its directory was made a batch of
// the ingester that Drill holds incomplete is left to the writer that may
// still be writing it; past it the batch is dropped and written again.
const DefaultIngestStale = 10 * time.Minute

// DefaultIngestSettle is the default of IngestOptions.Settle.
const DefaultIngestSettle = 10 * time.Second

// IngestOptions configures an Ingester. Drill and Schema are required.
type IngestOptions struct {
	Drill  Drill
	Schema *schema.Set
	// Workspace is the Drill workspace of the change log (default
	// "dfs.fieldsync").
	Workspace string
	// BatchRows is the most changes in one batch (default DefaultBatchRows).
	// Every ingester of a fleet must use the same value: it fixes the
	// batches' names.
	BatchRows int
	// MaxClockAhead bounds versions as for devices (default
	// DefaultMaxClockAhead).
	MaxClockAhead time.Duration
	// Stale is DefaultIngestStale when zero.
	Stale time.Duration
	// Settle is how long after its last change (Drill's clock) an inbox
	// table is left alone, so a CTAS still writing it is never read half
	// done (default DefaultIngestSettle).
	Settle time.Duration
	// Logger receives the ingester's logs (nil: discard).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Ingester turns inbox rows into changes. Its methods are safe for
// concurrent use; any number of ingesters, in any processes, may run at
// once against one workspace.
type Ingester struct {
	a      *Agent
	stale  time.Duration
	settle time.Duration
	mu     sync.Mutex
	views  map[string]bool // collections whose rejected view exists
}

// IngestReport summarises one pass.
type IngestReport struct {
	StartedAt  int64 `json:"started_at"`  // epoch ms
	FinishedAt int64 `json:"finished_at"` // epoch ms
	// Tables are the inbox tables this pass ingested (or found in Drill
	// already, written by another ingester).
	Tables []IngestedTable `json:"tables"`
	// Applied and Rejected count inbox rows over Tables.
	Applied  int `json:"applied"`
	Rejected int `json:"rejected"`
	// Waiting names tables left for the next pass, with why (a batch of it
	// still being written, a table Drill cannot read).
	Waiting []string `json:"waiting,omitempty"`
	// Changed names ingested tables whose directory changed after they
	// were ingested: rows added later are never read.
	Changed []string `json:"changed,omitempty"`
}

// IngestedTable is one inbox table a pass ingested.
type IngestedTable struct {
	Collection string `json:"collection"`
	Table      string `json:"table"`
	Rows       int    `json:"rows"`
	Applied    int    `json:"applied"`  // changes written (or found written) for its rows
	Rejected   int    `json:"rejected"` // rows in <collection>_inbox_rejected
	Batches    int    `json:"batches"`  // batches this pass wrote
}

// NewIngester checks o and returns an Ingester.
func NewIngester(o IngestOptions) (*Ingester, error) {
	if o.Drill == nil || o.Schema == nil {
		return nil, errors.New("ingest: Drill and Schema are required")
	}
	plugin, ws, err := splitWorkspace(&o.Workspace)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	opts := Options{Drill: o.Drill, Schema: o.Schema, Workspace: o.Workspace, BatchRows: o.BatchRows,
		MaxClockAhead: o.MaxClockAhead, Logger: o.Logger, Now: o.Now}.withDefaults()
	// The engine's batch writing and checks over Drill alone: the
	// ingester has no store, Drill holds all it knows.
	a := &Agent{dr: o.Drill, schema: o.Schema, plugin: plugin, workspace: ws, opts: opts,
		log: o.Logger, events: discardEvents{}, now: o.Now, device: ServerDevice, views: map[string]string{}}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	stale := o.Stale
	if stale <= 0 {
		stale = DefaultIngestStale
	}
	settle := o.Settle
	if settle <= 0 {
		settle = DefaultIngestSettle
	}
	return &Ingester{a: a, stale: stale, settle: settle, views: map[string]bool{}}, nil
}

// fileEntry is one entry of SHOW FILES.
type fileEntry struct {
	name  string
	mtime int64 // epoch ms on the Drillbit's file system
}

// Run makes one pass: every inbox table of every declared collection that
// has no ledger yet is ingested. An error that is one table's (Drill
// cannot read it, a batch of it still being written) leaves that table
// for the next pass and is reported in Waiting; errors that are not
// (Drill unreachable, the pass cancelled) end the pass.
func (in *Ingester) Run(ctx context.Context) (IngestReport, error) {
	a := in.a
	rep := IngestReport{StartedAt: a.now().UnixMilli()}
	defer func() { rep.FinishedAt = a.now().UnixMilli() }()
	// Table and batch times are the Drillbit's file system's: compare
	// them with Drill's clock, not this computer's.
	drillNow, err := a.serverMS(ctx)
	if err != nil {
		return rep, fmt.Errorf("ingest: %w", err)
	}
	for _, coll := range a.schema.LogNames() {
		inbox, err := in.list(ctx, coll, "/inbox")
		if err != nil {
			return rep, err
		}
		if len(inbox) == 0 {
			continue
		}
		ledger, err := in.list(ctx, coll, "/ingested")
		if err != nil {
			return rep, err
		}
		done := make(map[string]int64, len(ledger))
		for _, e := range ledger {
			done[e.name] = e.mtime
		}
		for _, t := range inbox {
			if at, ok := done[t.name]; ok {
				if t.mtime > at {
					rep.Changed = append(rep.Changed, fmt.Sprintf("%s/inbox/%s changed after it was ingested: its new rows are never read; write them under a new table name", coll, t.name))
				}
				continue
			}
			if t.mtime > drillNow-in.settle.Milliseconds() {
				rep.Waiting = append(rep.Waiting, fmt.Sprintf("%s/inbox/%s: written less than %s ago", coll, t.name, in.settle))
				continue
			}
			res, why, err := in.ingestTable(ctx, coll, t, drillNow)
			if err != nil {
				return rep, err
			}
			if why != "" {
				rep.Waiting = append(rep.Waiting, fmt.Sprintf("%s/inbox/%s: %s", coll, t.name, why))
				a.log.Warn("inbox table left for the next pass", "collection", coll, "table", t.name, "why", why)
				continue
			}
			rep.Tables = append(rep.Tables, res)
			rep.Applied += res.Applied
			rep.Rejected += res.Rejected
			done[t.name] = a.now().UnixMilli()
		}
		if len(done) > 0 {
			if err := in.ensureRejectedView(ctx, coll); err != nil {
				return rep, err
			}
		}
	}
	for _, c := range rep.Changed {
		a.log.Warn("inbox table changed after it was ingested", "what", c)
	}
	return rep, nil
}

// list returns the entries of a directory under a collection, oldest
// first, leaving out hidden ones; none when it does not exist.
func (in *Ingester) list(ctx context.Context, coll, sub string) ([]fileEntry, error) {
	dir, err := in.a.table(coll, sub)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	rows, err := in.a.dr.Query(ctx, "SHOW FILES IN "+dir)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("ingest: list %s%s: %w", coll, sub, err)
	}
	out := make([]fileEntry, 0, len(rows))
	for _, r := range rows {
		name := firstString(r, "name", "FILE_NAME", "file_name")
		if name == "" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		mt, _ := asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time"))
		out = append(out, fileEntry{name: name, mtime: mt})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].mtime != out[j].mtime {
			return out[i].mtime < out[j].mtime
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

// ingestTable ingests one inbox table: it reads its rows, the states of
// the records they name, writes the changes of the rows that apply in
// fixed chunks, then the ledger. It returns why the table waits for the
// next pass when that is the table's own problem.
func (in *Ingester) ingestTable(ctx context.Context, coll string, t fileEntry, drillNow int64) (IngestedTable, string, error) {
	a := in.a
	res := IngestedTable{Collection: coll, Table: t.name}
	decl, err := a.schema.Collection(coll)
	if err != nil {
		return res, "", fmt.Errorf("ingest: %w", err)
	}
	table, err := a.table(coll, "/inbox/"+t.name)
	if err != nil {
		return res, err.Error(), nil
	}
	started := time.Now()
	var phases []any // how long each step took, for the log
	phase := func(name string) {
		phases = append(phases, name, time.Since(started).Round(time.Millisecond))
		started = time.Now()
	}
	raw, err := a.dr.Query(ctx, fmt.Sprintf("SELECT * FROM %s LIMIT %d", table, MaxInboxRows+1))
	if err != nil {
		if batchUnreadable(ctx, err) {
			return res, "Drill could not read it: " + cutText(drillMessage(err), 400), nil
		}
		return res, "", fmt.Errorf("ingest: read %s/inbox/%s: %w", coll, t.name, err)
	}
	var rows []inboxRow
	if len(raw) > MaxInboxRows {
		rows = []inboxRow{{index: -1, reject: fmt.Sprintf("the table has more than %d rows: split it into several tables", MaxInboxRows)}}
	} else {
		rows = readInboxRows(decl, coll, t.name, raw)
	}
	res.Rows = len(raw)
	phase("read_table")
	states, err := in.records(ctx, coll, rows)
	if err != nil {
		return res, "", err
	}
	changes := make([]*store.Change, len(rows))
	bound := a.now().UnixMilli() + a.opts.MaxClockAhead.Milliseconds()
	for i := range rows {
		ir := &rows[i]
		if ir.reject != "" {
			continue
		}
		rs := states[ir.record]
		if rs != nil {
			if _, ok := rs.changes[ir.changeID]; ok {
				continue // applied by an earlier pass
			}
		}
		c, why := rs.change(decl, *ir, t.mtime)
		if why == "" {
			why = in.checkWritable(c, bound)
		}
		if why != "" {
			ir.reject = why
			continue
		}
		rs.add(c)
		changes[i] = &c
	}
	phase("read_records")
	n := a.opts.BatchRows
	for start := 0; start < len(rows); start += n {
		end := min(start+n, len(rows))
		wrote, why, err := in.writeChunk(ctx, coll, t, rows[start:end], changes[start:end], drillNow)
		if err != nil || why != "" {
			return res, why, err
		}
		if wrote {
			res.Batches++
		}
	}
	for _, ir := range rows {
		if ir.reject != "" {
			res.Rejected++
		} else {
			res.Applied++
		}
	}
	phase("write_batches")
	if err := in.writeLedger(ctx, coll, t.name, rows, res); err != nil {
		return res, "", err
	}
	phase("write_ledger")
	a.log.Debug("inbox table timings", phases...)
	a.log.Info("inbox table ingested", "collection", coll, "table", t.name, "rows", res.Rows,
		"applied", res.Applied, "rejected", res.Rejected, "batches", res.Batches)
	for i, ir := range rejectedRows(rows) {
		if i == 10 {
			a.log.Warn("more inbox rows rejected", "collection", coll, "table", t.name, "count", res.Rejected-10, "see", coll+"_inbox_rejected")
			break
		}
		a.log.Warn("inbox row rejected", "collection", coll, "table", t.name, "row", ir.index, "record_id", ir.record, "why", ir.reject)
	}
	return res, "", nil
}

// checkWritable is what the push side checks of every change (it must be
// one a pull accepts), in words for the analyst.
func (in *Ingester) checkWritable(c store.Change, bound int64) string {
	if _, err := in.a.checkEncodable(c); err != nil {
		return err.Error()
	}
	if err := in.a.checkChange(c, bound); err != nil {
		return err.Error()
	}
	return ""
}

// records reads what Drill knows of the records the rows name: every
// change of them in the collection's log, checked as a pull checks them
// (a row a device would quarantine is not part of the record).
//
// It reads in two steps because a batch of deletes only has no text in
// doc, which Drill then writes as an INT column: a scan over such a batch
// and others returns doc as NULL for rows of the others, silently (and a
// CAST to VARCHAR cuts it at 65,535 characters). So the first read takes
// every column but doc, with the batch directory of each change; the
// second reads doc only from the batches that hold a current version
// that is not a delete, which all hold text in doc.
func (in *Ingester) records(ctx context.Context, coll string, rows []inboxRow) (map[string]*recordState, error) {
	a := in.a
	var ids []string
	seen := map[string]bool{}
	for _, r := range rows {
		if r.reject == "" && !seen[r.record] {
			seen[r.record] = true
			ids = append(ids, r.record)
		}
	}
	out := make(map[string]*recordState, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	logTable, err := a.table(coll, "/changes")
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	bound := a.now().UnixMilli() + a.opts.MaxClockAhead.Milliseconds()
	where := map[string]string{} // change id -> its batch's filter
	// Every column but doc and the resolution's audit entry (text in a few
	// batches, INT in the others: the same trap as doc; leaves do not need
	// it).
	var meta []string
	for _, c := range readColumns {
		if c != schema.DocColumn && c != schema.ResolutionColumn {
			meta = append(meta, "`"+c+"`")
		}
	}
	// One query per 5,000 records: each scans the log, so fewer is faster
	// (measured at 2,000 records: 4 queries of 500 took 5 s).
	const perQuery = 5000
	for start := 0; start < len(ids); start += perQuery {
		filter, err := recordFilter(ids[start:min(start+perQuery, len(ids))])
		if err != nil {
			return nil, fmt.Errorf("ingest: %w", err)
		}
		q := fmt.Sprintf("SELECT `dir0`, `dir1`, %s FROM %s WHERE %s", strings.Join(meta, ", "), logTable, filter)
		got, err := a.dr.Query(ctx, q)
		if err != nil {
			if isNotFound(err) {
				return out, nil // nothing pushed to the collection yet
			}
			return nil, fmt.Errorf("ingest: read the records of %s: %w", coll, err)
		}
		for _, r := range got {
			c, _, err := decodeRow(coll, r)
			if !seen[c.RecordID] {
				continue // in the range, not asked for
			}
			if c.Op == store.OpPut {
				c.Doc = []byte("{}") // read below, for current versions
			}
			if err == nil {
				err = a.checkChange(c, bound)
			}
			if err != nil {
				continue
			}
			rs := out[c.RecordID]
			if rs == nil {
				rs = &recordState{changes: map[string]store.Change{}}
				out[c.RecordID] = rs
			}
			rs.add(c)
			where[c.ChangeID] = batchFilter(firstString(r, "dir0"), firstString(r, "dir1"))
		}
	}
	phase := time.Now()
	err = in.readDocs(ctx, coll, out, where, bound)
	a.log.Debug("read records", "records", len(ids), "docs", time.Since(phase).Round(time.Millisecond))
	return out, err
}

// inListMax is the most record ids read with an IN list; more are read by
// their range (and the others in it dropped in Go): Drill plans a long IN
// list as a join, which took seconds at 500 ids and more at 2,000.
const inListMax = 50

// recordFilter is the WHERE condition that reads the records ids (sorted).
func recordFilter(ids []string) (string, error) {
	if len(ids) <= inListMax {
		list, err := literalList(ids)
		if err != nil {
			return "", err
		}
		return "`record_id` IN (" + list + ")", nil
	}
	lo, err := drill.String(ids[0])
	if err != nil {
		return "", err
	}
	hi, err := drill.String(ids[len(ids)-1])
	if err != nil {
		return "", err
	}
	return "`record_id` BETWEEN " + lo + " AND " + hi, nil
}

// batchFilter selects one batch directory by its dir0 and dir1 (a batch
// of the first layout, directly under changes/, has only dir0).
func batchFilter(dir0, dir1 string) string {
	l0, _ := drill.String(dir0)
	if dir1 == "" {
		return "(`dir0` = " + l0 + " AND `dir1` IS NULL)"
	}
	l1, _ := drill.String(dir1)
	return "(`dir0` = " + l0 + " AND `dir1` = " + l1 + ")"
}

// literalList is the SQL list of string literals of vals.
func literalList(vals []string) (string, error) {
	lits := make([]string, len(vals))
	for i, v := range vals {
		lit, err := drill.String(v)
		if err != nil {
			return "", fmt.Errorf("%q: %w", v, err)
		}
		lits[i] = lit
	}
	return strings.Join(lits, ", "), nil
}

// readDocs reads the documents of the records' current versions that are
// not deletes, up to 20 batches per query (directory pruning keeps the
// scan to them; the other rows of those batches are dropped in Go), and
// checks each as a pull would; a record whose current
// document fails keeps no document (an update of it is rejected).
func (in *Ingester) readDocs(ctx context.Context, coll string, states map[string]*recordState, where map[string]string, bound int64) error {
	a := in.a
	byBatch := map[string][]string{} // batch filter -> change ids
	for _, rs := range states {
		for _, l := range rs.leaves {
			if l.Op == store.OpPut {
				f := where[l.ChangeID]
				byBatch[f] = append(byBatch[f], l.ChangeID)
			}
		}
	}
	filters := make([]string, 0, len(byBatch))
	for f := range byBatch {
		filters = append(filters, f)
	}
	sort.Strings(filters)
	logTable, err := a.table(coll, "/changes")
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	docs := map[string][]byte{}
	const perQuery = 20 // batches: at most 20 × 512 KiB of docs per answer
	for start := 0; start < len(filters); start += perQuery {
		group := filters[start:min(start+perQuery, len(filters))]
		var ids []string
		for _, f := range group {
			ids = append(ids, byBatch[f]...)
		}
		where := "(" + strings.Join(group, " OR ") + ")"
		if len(ids) <= inListMax {
			list, err := literalList(ids)
			if err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			where += " AND `change_id` IN (" + list + ")"
		}
		q := fmt.Sprintf("SELECT `change_id`, `doc` FROM %s WHERE %s", logTable, where)
		got, err := a.dr.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("ingest: read the current versions of %s: %w", coll, err)
		}
		for _, r := range got {
			if id, ok := r["change_id"].(string); ok {
				if d, ok := r["doc"].(string); ok {
					docs[id] = []byte(d)
				}
			}
		}
	}
	for _, rs := range states {
		for i, l := range rs.leaves {
			if l.Op != store.OpPut {
				continue
			}
			l.Doc = docs[l.ChangeID]
			if a.checkChange(l, bound) != nil {
				l.Doc = nil
			}
			rs.leaves[i] = l
			rs.changes[l.ChangeID] = l
		}
	}
	return nil
}

// ingestBatchName is the batch of the chunk of a table's rows that starts
// at row first: "<table ms>_server_<seq>", seq being seven digits of a
// hash of the collection and table name and five of the first row.
func ingestBatchName(coll, table string, tableMS int64, first int) string {
	h := fnv.New64a()
	h.Write([]byte(coll + "\x00" + table))
	return batchName(tableMS, ServerDevice, (h.Sum64()%10_000_000)*100_000+uint64(first))
}

// writeChunk writes the changes of one chunk of rows as its batch, unless
// none is new. A batch that exists already (another ingester, or a pass
// that was killed after its CTAS) is read: when whole, its rows are the
// chunk's applied rows and the chunk's other rows are rejected; when
// incomplete and younger than the stale time, it is left to its writer
// (the table waits); when older, it is dropped and written again.
func (in *Ingester) writeChunk(ctx context.Context, coll string, t fileEntry, rows []inboxRow, changes []*store.Change, drillNow int64) (bool, string, error) {
	a := in.a
	var entries []store.JournalEntry
	for _, c := range changes {
		if c != nil {
			entries = append(entries, store.JournalEntry{Change: *c})
		}
	}
	if len(entries) == 0 {
		return false, "", nil
	}
	name := ingestBatchName(coll, t.name, t.mtime, rows[0].index)
	table, err := a.table(coll, "/changes/"+batchPath(name))
	if err != nil {
		return false, "", fmt.Errorf("ingest: %w", err)
	}
	sel, err := a.selectBatch(coll, entries)
	if err != nil {
		return false, "", fmt.Errorf("ingest: batch %s: %w", name, err)
	}
	for attempt := 0; attempt < 2; attempt++ {
		res, cerr := a.dr.Query(ctx, "CREATE TABLE IF NOT EXISTS "+table+" AS "+sel)
		if cerr == nil {
			if n, ok := rowsWritten(res); ok && n == int64(len(entries)) {
				a.log.Info("batch pushed", "batch", name, "collection", coll, "changes", n)
				return true, "", nil
			}
		} else if !batchUnreadable(ctx, cerr) {
			return false, "", fmt.Errorf("ingest: write batch %s: %w", name, cerr)
		}
		// The batch exists: written by another ingester or an earlier
		// pass (or this CTAS lost the race to one).
		state, err := in.readBatch(ctx, table)
		if err != nil {
			return false, "", err
		}
		switch {
		case state.whole:
			for i, c := range changes {
				if c != nil && !state.ids[c.ChangeID] {
					rows[i].reject = "another ingester wrote this row's batch without it (the record changed meanwhile): write the row again in a new inbox table"
				}
			}
			return false, "", nil
		case state.missing && cerr != nil:
			return false, "", fmt.Errorf("ingest: write batch %s: %w", name, cerr)
		case !state.missing && drillNow-state.mtime < in.stale.Milliseconds():
			return false, fmt.Sprintf("its batch %s is being written (by another ingester, or a pass that was stopped)", name), nil
		}
		a.log.Warn("rewriting an incomplete ingest batch", "batch", name, "rows", state.rows)
		if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
			return false, "", fmt.Errorf("ingest: drop incomplete batch %s: %w", name, err)
		}
	}
	return false, fmt.Sprintf("its batch %s could not be written whole", name), nil
}

// batchState is what a read of an existing ingest batch found.
type batchState struct {
	missing bool
	whole   bool // every row readable, as many as batch_rows says, no id twice
	rows    int
	ids     map[string]bool
	mtime   int64
}

// readBatch reads an ingest batch's change ids and row counts.
func (in *Ingester) readBatch(ctx context.Context, table string) (batchState, error) {
	a := in.a
	st := batchState{ids: map[string]bool{}}
	rows, err := a.dr.Query(ctx, "SELECT `change_id`, `batch_rows` FROM "+table)
	if err != nil {
		if !batchUnreadable(ctx, err) {
			return st, fmt.Errorf("ingest: read batch: %w", err)
		}
		if isNotFound(err) {
			st.missing = true
			return st, nil
		}
	}
	want := int64(-1)
	for _, r := range rows {
		id, _ := r["change_id"].(string)
		st.ids[id] = true
		if n, err := asInt(r["batch_rows"]); err == nil {
			want = n
		}
	}
	st.rows = len(rows)
	st.whole = err == nil && len(rows) > 0 && int64(len(rows)) == want && len(st.ids) == len(rows)
	if !st.whole {
		st.mtime = in.dirTime(ctx, table)
	}
	return st, nil
}

// dirTime returns the modification time of a batch directory (the newest
// entry's, read with SHOW FILES), or the greatest time when it cannot be
// read.
func (in *Ingester) dirTime(ctx context.Context, table string) int64 {
	rows, err := in.a.dr.Query(ctx, "SHOW FILES IN "+table)
	if err != nil || len(rows) == 0 {
		return math.MaxInt64 // unknown: never stale
	}
	newest := int64(0)
	for _, r := range rows {
		mt, _ := asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time"))
		newest = max(newest, mt)
	}
	return newest
}

// ledgerColumns are the columns of the ledger's row tables.
var ledgerColumns = []drill.Column{
	{Name: "inbox_table", Type: drill.VarChar},
	{Name: "row", Type: drill.BigInt},
	{Name: "record_id", Type: drill.VarChar},
	{Name: "change_id", Type: drill.VarChar},
	{Name: "status", Type: drill.VarChar},
	{Name: "why_rejected", Type: drill.VarChar},
	{Name: "author", Type: drill.VarChar},
	{Name: "reason", Type: drill.VarChar},
	{Name: "ingested_at", Type: drill.BigInt},
	{Name: "content", Type: drill.VarChar},
}

// ledgerPiece bounds the rows of one CTAS of the ledger, and ledgerContent
// the copy of each rejected row kept in it, so a statement stays well
// under the size where Drill's planning slows down.
const (
	ledgerPiece   = 1000
	ledgerContent = 512
)

// writeLedger records the table as ingested. First its rows, one per
// inbox row (status applied or rejected, with why and a copy of a
// rejected row), under
// <collection>/inbox_log/<table>/<piece>; then the marker
// <collection>/ingested/<table>, whose existence says the table is done.
// A piece or marker that exists already (another ingester, a pass that
// was stopped) is kept.
func (in *Ingester) writeLedger(ctx context.Context, coll, name string, rows []inboxRow, res IngestedTable) error {
	a := in.a
	at := a.now().UnixMilli()
	// Never NULL: Drill writes a column that is NULL in every row of a
	// table as INT, and a scan over it and other pieces then fails or,
	// worse, returns NULL for the others' text (see records).
	str := drill.StringValue
	if len(rows) == 0 {
		// The ledger of an empty table says so, so that the view over the
		// ledger always has a table to read.
		rows = []inboxRow{{index: -1, reject: "the table holds no rows"}}
	}
	for start := 0; start < len(rows); start += ledgerPiece {
		vals := make([][]drill.Value, 0, ledgerPiece)
		for _, ir := range rows[start:min(start+ledgerPiece, len(rows))] {
			status, id, content := "applied", ir.changeID, ""
			if ir.reject != "" {
				// A copy of the row for the analyst to fix; an applied row's
				// values are in its change.
				status, id, content = "rejected", "", cutText(ir.canon, ledgerContent)
			}
			vals = append(vals, []drill.Value{
				drill.StringValue(name), drill.Int64Value(int64(ir.index)), str(ir.record), str(id),
				drill.StringValue(status), str(ir.reject), str(ir.author), str(ir.reason), drill.Int64Value(at),
				str(content),
			})
		}
		if err := in.ctasOnce(ctx, coll, fmt.Sprintf("/inbox_log/%s/%06d", name, start/ledgerPiece), ledgerColumns, vals); err != nil {
			return err
		}
	}
	marker := []drill.Column{
		{Name: "inbox_table", Type: drill.VarChar}, {Name: "rows", Type: drill.BigInt},
		{Name: "applied", Type: drill.BigInt}, {Name: "rejected", Type: drill.BigInt}, {Name: "ingested_at", Type: drill.BigInt},
	}
	return in.ctasOnce(ctx, coll, "/ingested/"+name, marker, [][]drill.Value{{drill.StringValue(name),
		drill.Int64Value(int64(res.Rows)), drill.Int64Value(int64(res.Applied)), drill.Int64Value(int64(res.Rejected)), drill.Int64Value(at)}})
}

// ctasOnce writes rows as the table at path under a collection unless it
// exists; a CTAS that fails because another writer made it meanwhile is
// success.
func (in *Ingester) ctasOnce(ctx context.Context, coll, path string, cols []drill.Column, vals [][]drill.Value) error {
	table, err := in.a.table(coll, path)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	sel, err := drill.SelectJSON(cols, vals)
	if err != nil {
		return fmt.Errorf("ingest: %s%s: %w", coll, path, err)
	}
	if _, err := in.a.dr.Query(ctx, "CREATE TABLE IF NOT EXISTS "+table+" AS "+sel); err != nil {
		rows, rerr := in.a.dr.Query(ctx, "SELECT COUNT(*) AS `n` FROM "+table)
		if rerr == nil && len(rows) == 1 {
			if n, _ := asInt(rows[0]["n"]); n > 0 {
				return nil
			}
		}
		return fmt.Errorf("ingest: write %s%s: %w", coll, path, err)
	}
	return nil
}

// ensureRejectedView creates <collection>_inbox_rejected once per
// ingester: the rejected rows of every ledger, with why.
func (in *Ingester) ensureRejectedView(ctx context.Context, coll string) error {
	in.mu.Lock()
	have := in.views[coll]
	in.mu.Unlock()
	if have {
		return nil
	}
	a := in.a
	view, err := a.table(coll+"_inbox_rejected", "")
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	ledger, err := a.table(coll, "/inbox_log")
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	q := "CREATE OR REPLACE VIEW " + view + " AS SELECT DISTINCT l.`inbox_table`, l.`row`, l.`record_id`, l.`why_rejected`, " +
		"l.`author`, l.`reason`, l.`ingested_at`, l.`content` FROM " + ledger + " l WHERE l.`status` = 'rejected'"
	if _, err := a.dr.Query(ctx, q); err != nil {
		if isNotFound(err) {
			return nil // no ledger rows yet: the next pass makes it
		}
		return fmt.Errorf("ingest: create %s_inbox_rejected: %w", coll, err)
	}
	in.mu.Lock()
	in.views[coll] = true
	in.mu.Unlock()
	return nil
}

// DescribeIngestError says in a sentence for IT why an ingest pass failed.
func DescribeIngestError(err error) string {
	switch KindOf(err) {
	case ErrorNotConfigured:
		return "No Drillbit is configured: set drill.urls in the settings (IT's managed file on a server)"
	case ErrorAuth:
		return "Drill refused the sign-in: check drill.user and the password (FIELDSYNC_DRILL_PASSWORD or <data-dir>/drill-password on a server)"
	case ErrorUnreachable, ErrorTimeout:
		return "Drill cannot be reached; no inbox row was half applied, and the next pass carries on"
	case ErrorCanceled:
		return "The pass was stopped before it finished; the next pass carries on without applying a row twice"
	}
	return "The pass failed; no inbox row was half applied, and the next pass tries again"
}

// rejectedRows returns the rows that could not be applied.
func rejectedRows(rows []inboxRow) []inboxRow {
	var out []inboxRow
	for _, r := range rows {
		if r.reject != "" {
			out = append(out, r)
		}
	}
	return out
}
