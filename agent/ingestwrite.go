package agent

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

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
	rows, err := showFiles(ctx, in.a.dr, table)
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
