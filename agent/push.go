package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// ErrBatchMismatch is wrapped when a batch in Drill does not hold exactly the
// changes of its manifest (a partial or foreign write); the agent drops it and
// writes it again.
var ErrBatchMismatch = errors.New("batch in Drill does not match its manifest")

// ErrBatchForeign is wrapped when a batch's name is taken in Drill by rows
// this device did not write, which happens when two devices share a device
// id. The agent leaves such a batch alone and keeps failing with this error
// until IT gives each device its own id.
var ErrBatchForeign = errors.New("batch name is taken in Drill by another device's changes (two devices with the same device id?)")

// MaxTypedText bounds (in bytes) a text value copied into its typed column
// (Drill's VARCHAR limit, which the views cast to); a longer
// one is only in doc (the column is NULL). Drill plans a CTAS in time that
// grows faster than linearly with the size of its SQL, so copying a long
// note twice would make its batch much slower to write.
const MaxTypedText = 65535

// scanPage is how many journal entries a push reads per store call.
const scanPage = 1000

// push writes every pending journal entry to Drill: first the batches left
// open by an earlier attempt, then new ones.
func (a *Agent) push(ctx context.Context, rep *Report) error {
	stats, err := a.st.Stats(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	p := &pushRun{a: a, rep: rep, total: int(stats.Pending), groups: map[string]*pendingBatch{}}
	a.progress("push", p.done, p.total)
	if err := p.writeOpen(ctx); err != nil {
		return err
	}
	if err := p.writeNew(ctx); err != nil {
		return err
	}
	cursor, err := a.st.PushCursor(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if cursor > 0 {
		if _, err := a.st.Truncate(ctx, cursor); err != nil {
			return fmt.Errorf("push: %w", err)
		}
	}
	return nil
}

// pushRun is one push in progress: what it reports, the Drill clock that
// names its new batches (read once, for the first), and the new batches
// being filled, one per collection.
type pushRun struct {
	a           *Agent
	rep         *Report
	done, total int // journal entries written, of those pending at the start
	serverMS    int64
	groups      map[string]*pendingBatch
	order       []string // collections in the order their first entry came
}

type pendingBatch struct {
	entries []store.JournalEntry
	bytes   int
}

// writeOpen finishes the batches left open by an earlier attempt.
func (p *pushRun) writeOpen(ctx context.Context) error {
	open, err := p.a.st.OpenBatches(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	for _, b := range open {
		if err := p.a.writeBatch(ctx, b); err != nil {
			return err
		}
		p.written(len(b.Seqs))
	}
	return nil
}

// written counts a batch of n journal entries written to Drill.
func (p *pushRun) written(n int) {
	p.rep.Batches++
	p.rep.Pushed += n
	p.done += n
	p.a.progress("push", p.done, p.total)
}

// writeNew puts the journal entries after the push cursor that are in no
// batch into new batches, and writes each batch when it is full and the
// last ones at the end.
func (p *pushRun) writeNew(ctx context.Context) error {
	after, err := p.a.st.PushCursor(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	for {
		entries, err := p.a.st.Pending(ctx, after, scanPage)
		if err != nil {
			return fmt.Errorf("push: %w", err)
		}
		for _, e := range entries {
			after = e.Seq
			if e.Batch != "" {
				continue // in a batch already (verified, or handled above)
			}
			if err := p.add(ctx, e); err != nil {
				return err
			}
		}
		if len(entries) < scanPage {
			break
		}
	}
	for _, coll := range p.order {
		if err := p.flush(ctx, coll); err != nil {
			return err
		}
	}
	return nil
}

// add puts one journal entry into its collection's batch, writing that
// batch first when the entry would make it too long or too big. An entry
// that Drill cannot hold is reported as unpushable and left out.
func (p *pushRun) add(ctx context.Context, e store.JournalEntry) error {
	a := p.a
	size, err := a.checkEncodable(e.Change)
	if err != nil {
		p.rep.Unpushable = append(p.rep.Unpushable, fmt.Sprintf("%s: %v", e.Change.ChangeID, err))
		a.log.Warn("change cannot be pushed", "change_id", e.Change.ChangeID, "err", err)
		return nil
	}
	coll := e.Change.Collection
	g := p.groups[coll]
	if g == nil {
		g = &pendingBatch{}
		p.groups[coll] = g
		p.order = append(p.order, coll)
	}
	if len(g.entries) > 0 && (len(g.entries) >= a.opts.BatchRows || g.bytes+size > a.opts.BatchBytes) {
		if err := p.flush(ctx, coll); err != nil {
			return err
		}
		g = &pendingBatch{}
		p.groups[coll] = g
	}
	g.entries = append(g.entries, e)
	g.bytes += size
	return nil
}

// flush plans the batch being filled for coll in the store and writes it.
func (p *pushRun) flush(ctx context.Context, coll string) error {
	g := p.groups[coll]
	if g == nil || len(g.entries) == 0 {
		return nil
	}
	delete(p.groups, coll)
	if p.serverMS == 0 {
		ms, err := p.a.serverMS(ctx)
		if err != nil {
			return err
		}
		p.serverMS = ms
	}
	seqs := make([]uint64, len(g.entries))
	for i, e := range g.entries {
		seqs[i] = e.Seq
	}
	name := batchName(p.serverMS, p.a.device, seqs[0])
	b, err := p.a.st.PlanBatch(ctx, store.BatchPlan{Name: name, Collection: coll, Seqs: seqs})
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := p.a.writeBatchEntries(ctx, b, g.entries); err != nil {
		return err
	}
	p.written(len(seqs))
	return nil
}

// batchName is "<server ms, 15 digits>_<device>_<first seq, 12 digits>".
func batchName(ms int64, device string, firstSeq uint64) string {
	return fmt.Sprintf("%015d_%s_%012d", ms, device, firstSeq)
}

// parseBatchName returns the time and device of a batch name.
func parseBatchName(name string) (ms int64, device string, ok bool) {
	first := strings.IndexByte(name, '_')
	last := strings.LastIndexByte(name, '_')
	if first <= 0 || last <= first+1 || last == len(name)-1 {
		return 0, "", false
	}
	ms, err := strconv.ParseInt(name[:first], 10, 64)
	if err != nil || ms < 0 {
		return 0, "", false
	}
	if _, err := strconv.ParseUint(name[last+1:], 10, 64); err != nil {
		return 0, "", false
	}
	return ms, name[first+1 : last], true
}

// serverMS asks Drill for its clock (TIMESTAMP comes back as epoch ms), so batch names from every device share
// one time line whatever the devices' clocks say.
func (a *Agent) serverMS(ctx context.Context) (int64, error) {
	rows, err := a.dr.Query(ctx, "SELECT CURRENT_TIMESTAMP AS `ms` FROM (VALUES(1))")
	if err != nil {
		return 0, fmt.Errorf("push: read the Drill server clock: %w", err)
	}
	if len(rows) != 1 {
		return 0, fmt.Errorf("push: read the Drill server clock: %d rows", len(rows))
	}
	ms, err := asInt(rows[0]["ms"])
	if err != nil {
		return 0, fmt.Errorf("push: read the Drill server clock: %w", err)
	}
	return ms, nil
}

func (a *Agent) table(collection, rest string) (string, error) {
	p, err := drill.TablePath(a.plugin, a.workspace, collection+rest)
	if err != nil {
		return "", fmt.Errorf("table of %s: %w", collection, err)
	}
	return p, nil
}

// writeBatch finishes an open batch: it loads the batch's journal entries
// and writes (or verifies) it.
func (a *Agent) writeBatch(ctx context.Context, b store.Batch) error {
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
			if e.Batch == b.Name {
				entries = append(entries, e)
			}
		}
	}
	if len(entries) != len(b.Seqs) {
		return fmt.Errorf("push: batch %s: the journal holds %d of its %d entries", b.Name, len(entries), len(b.Seqs))
	}
	return a.writeBatchEntries(ctx, b, entries)
}

// writeBatchEntries writes one planned batch with CTAS and verifies it. A
// batch that may exist from an earlier attempt is verified first and, when
// partial, dropped and written again. The push cursor moves (in the store)
// only when the batch is verified.
func (a *Agent) writeBatchEntries(ctx context.Context, b store.Batch, entries []store.JournalEntry) error {
	table, err := a.table(b.Collection, "/changes/"+b.Name)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	fail := func(err error) error {
		if _, merr := a.st.MarkBatch(ctx, b.Name, store.BatchPlanned, err); merr != nil {
			a.log.Error("record failed batch attempt", "batch", b.Name, "err", merr)
		}
		return fmt.Errorf("push: batch %s: %w", b.Name, err)
	}
	if b.State != store.BatchPlanned || b.Attempts > 0 {
		err := a.verifyBatch(ctx, table, b)
		switch {
		case err == nil:
			return a.markVerified(ctx, b)
		case errors.Is(err, ErrBatchForeign):
			// Never drop what another device wrote.
			return fail(err)
		case isNotFound(err) && !errors.Is(err, ErrBatchMismatch):
			// Never written: write it now.
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
	sel, err := a.selectBatch(b.Collection, entries)
	if err != nil {
		return fail(err)
	}
	res, err := a.dr.Query(ctx, "CREATE TABLE IF NOT EXISTS "+table+" AS "+sel)
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
