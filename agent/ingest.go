package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

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
		log: o.Logger, events: discardEvents{}, now: o.Now, device: ServerDevice}
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
	rows, err := showFiles(ctx, in.a.dr, dir)
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
