package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Writing one planned batch to Drill: CTAS, verification against the
// manifest, and the rewrite of a partial batch.

// writeBatch finishes an open batch: it loads the batch's journal entries
// and writes (or verifies) it.
func (a *Agent) writeBatch(ctx context.Context, clk *syncClock, b store.Batch) error {
	var entries []store.JournalEntry
	after := b.FirstSeq - 1
	for after < b.LastSeq {
		page, err := a.st.Pending(ctx, after, scanPage)
		if err != nil {
			return fmt.Errorf("push: batch %s: %w", b.Name, err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			after = e.Seq
			if e.Seq > b.LastSeq {
				break
			}
			if e.Damage != "" && slices.Contains(b.Seqs, e.Seq) {
				return &damagedEntryError{entry: e}
			}
			if e.Batch == b.Name {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) != len(b.Seqs) {
		return fmt.Errorf("push: batch %s: the journal holds %d of its %d entries", b.Name, len(entries), len(b.Seqs))
	}
	sel, err := a.selectBatch(b.Collection, entries)
	if err != nil {
		return a.failBatch(ctx, b, err)
	}
	return a.writePlanned(ctx, clk, b, entries, sel)
}

// failBatch records a failed attempt at batch b and returns err for the
// push to report.
func (a *Agent) failBatch(ctx context.Context, b store.Batch, err error) error {
	if _, merr := a.st.MarkBatch(ctx, b.Name, store.BatchPlanned, err); merr != nil {
		a.log.Error("record failed batch attempt", "batch", b.Name, "err", merr)
	}
	return fmt.Errorf("push: batch %s: %w", b.Name, err)
}

// writePlanned writes one planned batch of entries, whose rows sel
// selects, with CTAS and verifies it. A batch whose name is older than
// MaxBatchNameAge by Drill's clock (clk) is settled under that name and
// renamed first (see replanStale). A batch that may exist from an earlier
// attempt is verified first and, when partial, dropped and written again.
// The push cursor moves (in the store) only when the batch is verified.
func (a *Agent) writePlanned(ctx context.Context, clk *syncClock, b store.Batch, entries []store.JournalEntry, sel string) error {
	nb, pushed, err := a.replanStale(ctx, clk, b)
	if err != nil || pushed {
		return err
	}
	if len(nb.Seqs) != len(b.Seqs) {
		// Some of its changes were in Drill already: the rest is written.
		entries = slices.DeleteFunc(slices.Clone(entries), func(e store.JournalEntry) bool {
			return !slices.Contains(nb.Seqs, e.Seq)
		})
		if sel, err = a.selectBatch(nb.Collection, entries); err != nil {
			return a.failBatch(ctx, nb, err)
		}
	}
	b = nb
	table, err := a.table(b.Collection, "/changes/"+batchPath(b.Name))
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	legacy, err := a.table(b.Collection, "/changes/"+b.Name)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	fail := func(err error) error { return a.failBatch(ctx, b, err) }
	if b.State != store.BatchPlanned || b.Attempts > 0 {
		err := a.verifyBatch(ctx, table, b)
		switch {
		case err == nil:
			return a.markVerified(ctx, b)
		case errors.Is(err, ErrBatchForeign):
			// Never drop what another device wrote.
			return fail(err)
		case isNotFound(err) && !errors.Is(err, ErrBatchMismatch):
			// Never written: write it now. An attempt by a version that
			// wrote batches directly under changes/ may have left part of
			// it there; the batch is written whole in its partition.
			if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+legacy); err != nil {
				return fail(fmt.Errorf("drop partial batch: %w", err))
			}
		default:
			// Partial or unreadable: its content is fixed by the manifest,
			// so dropping and writing it again is harmless even for a
			// reader that saw it.
			a.log.Warn("rewriting batch", "batch", b.Name, "err", err)
			if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
				return fail(fmt.Errorf("drop partial batch: %w", err))
			}
		}
	}
	limit := writeTime(a.opts.QueryTimeout)
	wctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("push: the CTAS of batch %s ran past %s, the most a batch may take to write (agent.MaxWriteTime), and was cancelled", b.Name, limit))
	res, err := a.writeBatchSQL(wctx, "CREATE TABLE IF NOT EXISTS "+table+" AS "+sel)
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w: %w", context.Cause(wctx), err)
	}
	cancel()
	if err != nil {
		return fail(err)
	}
	// A CTAS that completed reports the rows it wrote: when they are the
	// manifest's count, this statement wrote the whole batch, and reading it
	// back would prove nothing more. A CTAS that found the table already
	// there (a retry) reports nothing of the kind and is read back.
	if written, ok := rowsWritten(res); ok && written == int64(len(b.ChangeIDs)) {
		return a.markVerified(ctx, b)
	}
	if _, err := a.st.MarkBatch(ctx, b.Name, store.BatchWritten, nil); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := a.verifyBatch(ctx, table, b); err != nil {
		if errors.Is(err, ErrBatchMismatch) {
			if _, derr := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+table); derr != nil {
				a.log.Error("drop mismatched batch", "batch", b.Name, "err", derr)
			}
		}
		return fail(err)
	}
	return a.markVerified(ctx, b)
}

// rowsWritten sums the "Number of records written" a CTAS reports per
// fragment.
func rowsWritten(rows []Row) (int64, bool) {
	var n int64
	found := false
	for _, r := range rows {
		v, ok := r["Number of records written"]
		if !ok {
			continue
		}
		k, err := asInt(v)
		if err != nil {
			return 0, false
		}
		n += k
		found = true
	}
	return n, found
}

func (a *Agent) markVerified(ctx context.Context, b store.Batch) error {
	if _, err := a.st.MarkBatch(ctx, b.Name, store.BatchVerified, nil); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	a.log.Info("batch pushed", "batch", b.Name, "collection", b.Collection, "changes", len(b.Seqs))
	return nil
}

// verifyBatch checks that the batch table holds exactly the manifest's
// change ids, once each. It returns an error wrapping ErrBatchForeign when
// the table holds a change that is not in the manifest, ErrBatchMismatch
// when it holds some of the manifest's changes only or some twice.
func (a *Agent) verifyBatch(ctx context.Context, table string, b store.Batch) error {
	rows, err := a.dr.Query(ctx, "SELECT `change_id` FROM "+table)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	want := make(map[string]int, len(b.ChangeIDs))
	for _, id := range b.ChangeIDs {
		want[id]++
	}
	for _, r := range rows {
		id, _ := r["change_id"].(string)
		if _, ok := want[id]; !ok {
			return fmt.Errorf("%w: it holds change %q", ErrBatchForeign, id)
		}
	}
	if len(rows) != len(b.ChangeIDs) {
		return fmt.Errorf("%w: %d rows, manifest has %d", ErrBatchMismatch, len(rows), len(b.ChangeIDs))
	}
	for _, r := range rows {
		id, _ := r["change_id"].(string)
		if want[id] == 0 {
			return fmt.Errorf("%w: change %q is there twice", ErrBatchMismatch, id)
		}
		want[id]--
	}
	return nil
}

// showFiles runs SHOW FILES IN dir (a table path). On a local file system
// Drill reads each entry's owner with an `ls` of its own, so an entry
// removed meanwhile (a batch a compaction pass drops, measured on Drill
// 1.22) fails the whole listing with "No such file or directory"; such a
// listing is asked again, at most three times in all. A directory that
// does not exist lists as empty.
func showFiles(ctx context.Context, dr Drill, dir string) ([]Row, error) {
	for attempt := 1; ; attempt++ {
		rows, err := dr.Query(ctx, "SHOW FILES IN "+dir)
		if err == nil || attempt == 3 || !entryVanished(err) {
			return rows, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}

// entryVanished reports whether a listing failed because an entry went
// away while Drill read it.
func entryVanished(err error) bool {
	var qe *drill.QueryError
	return errors.As(err, &qe) && strings.Contains(strings.ToLower(qe.Message), "no such file or directory")
}

// alreadyExists reports whether a CTAS failed because its table exists
// already (another writer took the name).
func alreadyExists(err error) bool {
	var qe *drill.QueryError
	return errors.As(err, &qe) && strings.Contains(strings.ToLower(qe.Message), "already exists")
}

// isNotFound reports whether Drill said the table does not exist.
func isNotFound(err error) bool {
	msg := err.Error()
	var qe *drill.QueryError
	if errors.As(err, &qe) {
		msg = qe.Message // the SQL in the error text may hold anything
	}
	msg = strings.ToLower(msg)
	return strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist")
}

// columns returns the Drill columns of a collection's batches: the declared
// ones when the collection is declared, else metadata and doc only (a change
// is never refused at push time).
func (a *Agent) columns(collection string) ([]schema.Column, *schema.Collection) {
	c, err := a.schema.Collection(collection)
	if err != nil {
		cols := append(schema.MetaColumns(), schema.Column{Name: schema.DocColumn, Type: schema.SQLVarchar})
		return cols, nil
	}
	return c.Columns(), c
}

// checkEncodable reports whether a change can be written, and its size in
// the batch literal (the JSON text of its row).
func (a *Agent) checkEncodable(c store.Change) (int, error) {
	for _, s := range []string{c.ChangeID, c.RecordID, c.Version, c.Device, c.Author, string(c.Doc)} {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return 0, errors.New("text is not valid UTF-8 or holds a NUL byte")
		}
	}
	if c.Op == store.OpPut && !json.Valid(c.Doc) {
		return 0, errors.New("doc is not valid JSON")
	}
	cols, decl := a.columns(c.Collection)
	row, err := rowOf(c, cols, decl, 1)
	if err != nil {
		return 0, err
	}
	lit, err := drill.JSONRows(drillColumns(cols), [][]drill.Value{row})
	if err != nil {
		return 0, err
	}
	return len(lit), nil
}

func drillColumns(cols []schema.Column) []drill.Column {
	out := make([]drill.Column, len(cols))
	for i, c := range cols {
		out[i] = drill.Column{Name: c.Name, Type: drill.Type(c.Type)}
	}
	return out
}

// selectBatch builds the SELECT that yields the batch rows.
func (a *Agent) selectBatch(collection string, entries []store.JournalEntry) (string, error) {
	cols, decl := a.columns(collection)
	dcols := drillColumns(cols)
	rows := make([][]drill.Value, 0, len(entries))
	for _, e := range entries {
		row, err := rowOf(e.Change, cols, decl, len(entries))
		if err != nil {
			return "", fmt.Errorf("change %s: %w", e.Change.ChangeID, err)
		}
		rows = append(rows, row)
	}
	return drill.SelectJSON(dcols, rows)
}

func rowOf(c store.Change, cols []schema.Column, decl *schema.Collection, batchRows int) ([]drill.Value, error) {
	parents := c.Parents
	if parents == nil {
		parents = []string{}
	}
	pj, err := json.Marshal(parents)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if decl != nil && c.Op == store.OpPut {
		doc, _ = schema.DecodeDoc(c.Doc) // an undecodable doc only leaves typed columns NULL
	}
	row := make([]drill.Value, 0, len(cols))
	for _, col := range cols {
		var v drill.Value
		switch col.Name {
		case "change_id":
			v = drill.StringValue(c.ChangeID)
		case "record_id":
			v = drill.StringValue(c.RecordID)
		case "op":
			v = drill.StringValue(string(c.Op))
		case "version":
			v = drill.StringValue(c.Version)
		case "parents":
			v = drill.StringValue(string(pj))
		case "device":
			v = drill.StringValue(c.Device)
		case "author":
			v = drill.StringValue(c.Author)
		case "edited_at":
			v = drill.Int64Value(c.EditedAt)
		case "batch_rows":
			v = drill.Int64Value(int64(batchRows))
		case schema.ResolutionColumn:
			v = resolutionValue(c)
		case schema.DocColumn:
			if c.Op == store.OpDelete || len(c.Doc) == 0 {
				v = drill.NullValue(drill.VarChar)
			} else {
				v = drill.StringValue(string(c.Doc))
			}
		default:
			v = fieldValue(decl, col, doc)
		}
		row = append(row, v)
	}
	return row, nil
}

func fieldValue(decl *schema.Collection, col schema.Column, doc map[string]any) drill.Value {
	typ := drill.Type(col.Type)
	f, ok := decl.Field(col.Field)
	if !ok || doc == nil {
		return drill.NullValue(typ)
	}
	text, ok := f.ColumnText(doc[f.Name])
	if !ok {
		return drill.NullValue(typ)
	}
	switch col.Type {
	case schema.SQLBigInt:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return drill.NullValue(typ)
		}
		return drill.Int64Value(n)
	case schema.SQLDouble:
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return drill.NullValue(typ)
		}
		return drill.Float64Value(x)
	case schema.SQLBoolean:
		return drill.BoolValue(text == "true")
	}
	if len(text) > MaxTypedText || strings.IndexByte(text, 0) >= 0 || !utf8.ValidString(text) {
		return drill.NullValue(typ)
	}
	return drill.StringValue(text)
}

// asInt reads a whole number from a Drill row value.
func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Int64()
	case float64:
		return int64(x), nil
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case string:
		return strconv.ParseInt(x, 10, 64)
	case nil:
		return 0, errors.New("NULL where a number was expected")
	}
	return 0, fmt.Errorf("unexpected %T where a number was expected", v)
}
