package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// RefResult reports one reference collection checked by a sync.
type RefResult struct {
	Collection string `json:"collection"`
	// Unchanged is true when Drill's fingerprint of the source matched the
	// last read: nothing was read but that one aggregate.
	Unchanged bool `json:"unchanged"`
	// RowsRead counts the source rows read in pages.
	RowsRead int `json:"rows_read"`
	Added    int `json:"added"`
	Changed  int `json:"changed"`
	Removed  int `json:"removed"`
	// RowErrors counts rows that could not be mapped (kept as they were).
	RowErrors int `json:"row_errors"`
	// Error is why the check failed; the rows stay as they were.
	Error string `json:"error,omitempty"`
}

// refSep separates the cells a row hash is taken over.
const refSep = "\x01"

// refApplyRows bounds the reference rows written per store transaction.
const refApplyRows = 5000

// PullReferences checks every reference collection now (force) or those
// whose schedule is due, waiting for a running sync to end first.
func (a *Agent) PullReferences(ctx context.Context, force bool) ([]RefResult, error) {
	select {
	case a.syncing <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("agent: pull references: %w", ctx.Err())
	}
	defer func() { <-a.syncing }()
	return a.pullReferences(ctx, force), nil
}

// pullReferences checks the due reference collections, one after the
// other; each failure is logged, kept in the collection's state and
// reported, and the others go on.
func (a *Agent) pullReferences(ctx context.Context, force bool) []RefResult {
	var out []RefResult
	for _, decl := range a.schema.References() {
		due, err := a.refDue(ctx, decl, force)
		if err != nil || !due {
			if err != nil {
				out = append(out, RefResult{Collection: decl.Name, Error: err.Error()})
			}
			continue
		}
		res, err := a.pullReference(ctx, decl)
		if err != nil {
			res.Error = err.Error()
			a.log.Warn("pull reference collection", "collection", decl.Name, "err", err)
			if st, ok, serr := a.st.RefState(ctx, decl.Name); serr == nil {
				if !ok {
					st = store.RefState{}
				}
				st.CheckedAt, st.LastError = a.now().UnixMilli(), err.Error()
				if perr := a.st.PutRefState(ctx, decl.Name, st); perr != nil {
					a.log.Warn("save reference state", "collection", decl.Name, "err", perr)
				}
			}
		} else {
			a.log.Info("pulled reference collection", "collection", decl.Name, "unchanged", res.Unchanged,
				"rows_read", res.RowsRead, "added", res.Added, "changed", res.Changed, "removed", res.Removed, "row_errors", res.RowErrors)
		}
		out = append(out, res)
	}
	return out
}

// refDue reports whether a reference collection is due: never pulled, or
// its schedule's next time after the last check has come.
func (a *Agent) refDue(ctx context.Context, decl *schema.Collection, force bool) (bool, error) {
	if force {
		return true, nil
	}
	st, ok, err := a.st.RefState(ctx, decl.Name)
	if err != nil || !ok {
		return true, err
	}
	sched, err := cron.ParseStandard(decl.Reference.EffectiveSchedule())
	if err != nil {
		return false, fmt.Errorf("reference %s: schedule: %w", decl.Name, err)
	}
	return !sched.Next(time.UnixMilli(st.CheckedAt)).After(a.now()), nil
}

// refPlan is a reference collection's source as bound on this device.
type refPlan struct {
	decl    *schema.Collection
	sql     string   // the bound source query
	cols    []string // source columns: the key, then one per field that reads one
	fields  []string // fields[i] reads cols[i+1]
	indexed []string // fields other collections take options from
	source  string   // identity of all of the above
}

// refPlanOf binds a reference collection's query with the device's scope.
func (a *Agent) refPlanOf(decl *schema.Collection) (refPlan, error) {
	params := maps.Clone(a.opts.Scope)
	if params == nil {
		params = map[string]string{}
	}
	params["device"] = a.device
	sql, err := decl.Reference.Bind(params, drill.String)
	if err != nil {
		return refPlan{}, err
	}
	p := refPlan{decl: decl, sql: sql, cols: []string{decl.Reference.Key}}
	for _, f := range decl.Fields {
		p.cols = append(p.cols, decl.Reference.ColumnOf(f.Name))
		p.fields = append(p.fields, f.Name)
	}
	for _, c := range a.schema.Collections {
		for _, f := range c.Fields {
			if o := f.OptionsFrom; o != nil && o.Collection == decl.Name && !slices.Contains(p.indexed, o.Field) {
				p.indexed = append(p.indexed, o.Field)
			}
		}
	}
	slices.Sort(p.indexed)
	id, _ := json.Marshal([]any{"v1", p.sql, p.cols, p.fields, p.indexed})
	sum := sha256.Sum256(id)
	p.source = hex.EncodeToString(sum[:16])
	return p, nil
}

// quoted returns the source columns as `src`.`col` expressions.
func (p refPlan) quoted() ([]string, error) {
	out := make([]string, len(p.cols))
	for i, c := range p.cols {
		q, err := drill.Ident(c)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c, err)
		}
		out[i] = "src." + q
	}
	return out, nil
}

// fingerprintSQL counts the source's rows and sums two seeded hashes of
// each row's cells: one cheap aggregate that changes when any row does.
func (p refPlan) fingerprintSQL() (string, error) {
	cols, err := p.quoted()
	if err != nil {
		return "", err
	}
	sep, err := drill.String(refSep)
	if err != nil {
		return "", err
	}
	parts := make([]string, 0, 2*len(cols))
	for _, c := range cols {
		parts = append(parts, drill.Cast(c, drill.VarChar), sep)
	}
	cat := "CONCAT(" + strings.Join(parts, ", ") + ")"
	return fmt.Sprintf("SELECT COUNT(*) AS `n`, SUM(CAST(hash32(%s) AS BIGINT)) AS `h1`, SUM(CAST(hash32(%s, 40503) AS BIGINT)) AS `h2` FROM (%s) src",
		cat, cat, p.sql), nil
}

// pageSQL reads the rows after key after (all when first), in key order.
func (p refPlan) pageSQL(after string, first bool, limit int) (string, error) {
	cols, err := p.quoted()
	if err != nil {
		return "", err
	}
	key := drill.Cast(cols[0], drill.VarChar)
	sel := make([]string, len(cols))
	sel[0] = key + " AS `k`"
	for i, c := range cols[1:] {
		sel[i+1] = fmt.Sprintf("%s AS `c%d`", c, i)
	}
	where := key + " IS NOT NULL"
	if !first {
		lit, err := drill.String(after)
		if err != nil {
			return "", err
		}
		where = key + " > " + lit
	}
	return fmt.Sprintf("SELECT %s FROM (%s) src WHERE %s ORDER BY %s LIMIT %d", strings.Join(sel, ", "), p.sql, where, key, limit), nil
}

// pullReference brings one reference collection up to date: one aggregate
// when the source did not change, otherwise every row in pages, applying
// only the rows whose hash differs and removing the keys that are gone.
func (a *Agent) pullReference(ctx context.Context, decl *schema.Collection) (RefResult, error) {
	res := RefResult{Collection: decl.Name}
	p, err := a.refPlanOf(decl)
	if err != nil {
		return res, fmt.Errorf("reference %s: %w", decl.Name, err)
	}
	st, ok, err := a.st.RefState(ctx, decl.Name)
	if err != nil {
		return res, err
	}
	if ok && st.Source != p.source {
		// The query, its scope, the mapping or the index changed.
		if err := a.st.ClearRefs(ctx, decl.Name); err != nil {
			return res, err
		}
		ok = false
	}
	fp, err := a.refFingerprint(ctx, p)
	if err != nil {
		return res, err
	}
	now := a.now().UnixMilli()
	if ok && st.Fingerprint == fp {
		st.CheckedAt, st.LastError = now, ""
		res.Unchanged = true
		return res, a.st.PutRefState(ctx, decl.Name, st)
	}
	if err := a.checkColumns(ctx, p); err != nil {
		return res, fmt.Errorf("reference %s: %w", decl.Name, err)
	}
	old, err := a.st.RefHashes(ctx, decl.Name)
	if err != nil {
		return res, err
	}
	rs := &refSync{a: a, p: p, res: res, old: old, seen: make(map[string]bool, len(old))}
	if err := rs.readAll(ctx); err != nil {
		return rs.res, err
	}
	if err := rs.removeGone(ctx); err != nil {
		return rs.res, err
	}
	st = store.RefState{
		Source: p.source, Fingerprint: fp, Rows: int64(len(rs.seen)), CheckedAt: now, ChangedAt: st.ChangedAt,
		Errors: rs.rowErrs, Indexed: p.indexed,
	}
	if rs.res.Added+rs.res.Changed+rs.res.Removed > 0 {
		st.ChangedAt = now
	}
	return rs.res, a.st.PutRefState(ctx, decl.Name, st)
}

// refFingerprint runs the source's fingerprint aggregate.
func (a *Agent) refFingerprint(ctx context.Context, p refPlan) (string, error) {
	name := p.decl.Name
	fq, err := p.fingerprintSQL()
	if err != nil {
		return "", fmt.Errorf("reference %s: %w", name, err)
	}
	rows, err := a.dr.Query(ctx, fq)
	if err != nil {
		return "", fmt.Errorf("reference %s: read the source: %w", name, err)
	}
	if len(rows) != 1 {
		return "", fmt.Errorf("reference %s: the source's fingerprint came back as %d rows", name, len(rows))
	}
	return fmt.Sprintf("%v:%v:%v", rows[0]["n"], rows[0]["h1"], rows[0]["h2"]), nil
}

// refSync is one full read of a reference source: what the device held
// (old, by key: row hash), the keys the source still has (seen), and what
// it reports.
type refSync struct {
	a       *Agent
	p       refPlan
	res     RefResult
	old     map[string]string
	seen    map[string]bool
	rowErrs []string
}

// rowError counts a row that cannot be taken; a key the device held keeps
// its old row.
func (rs *refSync) rowError(key, msg string) {
	rs.res.RowErrors++
	if len(rs.rowErrs) < store.MaxRefErrors {
		rs.rowErrs = append(rs.rowErrs, fmt.Sprintf("row %q: %s", key, msg))
	}
	if _, had := rs.old[key]; had {
		rs.seen[key] = true // keep the row as it was
	}
}

// readAll reads the source page by page in key order and applies the rows
// that are new or changed.
func (rs *refSync) readAll(ctx context.Context) error {
	name, limit := rs.p.decl.Name, rs.a.opts.RefPageRows
	after, first := "", true
	for {
		q, err := rs.p.pageSQL(after, first, limit)
		if err != nil {
			return fmt.Errorf("reference %s: %w", name, err)
		}
		page, err := rs.a.dr.Query(ctx, q)
		if err != nil {
			return fmt.Errorf("reference %s: read rows after %q: %w", name, after, err)
		}
		rs.res.RowsRead += len(page)
		puts, last := rs.changed(page)
		if last != "" {
			after = last
		}
		if err := rs.a.st.ApplyRefs(ctx, name, puts, nil, rs.p.indexed); err != nil {
			return err
		}
		if len(page) < limit {
			return nil
		}
		first = false
	}
}

// changed maps a page's rows and returns those that are new or differ from
// the device's, and the page's last key.
func (rs *refSync) changed(page []Row) (puts []store.RefRow, last string) {
	for _, r := range page {
		key, _ := r["k"].(string)
		if key == "" {
			rs.rowError(key, "the key is empty")
			continue
		}
		last = key
		if rs.seen[key] {
			rs.rowError(key, "the key appears more than once; the first row is kept")
			continue
		}
		doc, err := mapRow(rs.p, r)
		if err != nil {
			rs.rowError(key, err.Error())
			continue
		}
		rs.seen[key] = true
		sum := sha256.Sum256(doc)
		h := hex.EncodeToString(sum[:16])
		switch prev, had := rs.old[key]; {
		case !had:
			rs.res.Added++
		case prev != h:
			rs.res.Changed++
		default:
			continue
		}
		puts = append(puts, store.RefRow{Key: key, Doc: doc, Hash: h})
	}
	return puts, last
}

// removeGone removes the rows whose keys the source no longer has.
func (rs *refSync) removeGone(ctx context.Context) error {
	var gone []string
	for key := range rs.old {
		if !rs.seen[key] {
			gone = append(gone, key)
		}
	}
	slices.Sort(gone)
	for chunk := range slices.Chunk(gone, refApplyRows) {
		if err := rs.a.st.ApplyRefs(ctx, rs.p.decl.Name, nil, chunk, rs.p.indexed); err != nil {
			return err
		}
	}
	rs.res.Removed = len(gone)
	return nil
}

// checkColumns reads one row of the source and names the key or mapped
// columns it lacks: file sources answer NULL or "" for a column they do
// not have, which would otherwise empty a field without a word.
func (a *Agent) checkColumns(ctx context.Context, p refPlan) error {
	rows, err := a.dr.Query(ctx, "SELECT * FROM ("+p.sql+") src LIMIT 1")
	if err != nil {
		return fmt.Errorf("read the source: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	have := map[string]bool{}
	for c := range rows[0] {
		have[strings.ToLower(c)] = true
	}
	var missing []string
	for _, c := range p.cols {
		if !have[strings.ToLower(c)] && !slices.Contains(missing, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		cols := slices.Sorted(maps.Keys(rows[0]))
		return fmt.Errorf("the source has no column %s (it has %s); map a column to each field or fix the key",
			strings.Join(missing, ", "), strings.Join(cols, ", "))
	}
	return nil
}

// mapRow turns one source row into the collection's document: each field
// from its column, converted to the field's type. Empty cells leave the
// field out.
func mapRow(p refPlan, r Row) (json.RawMessage, error) {
	doc := map[string]any{}
	var probs []string
	for i, name := range p.fields {
		f, _ := p.decl.Field(name)
		v, err := convertCell(f, r[fmt.Sprintf("c%d", i)])
		if err != nil {
			probs = append(probs, fmt.Sprintf("column %s for field %s: %v", p.cols[i+1], name, err))
			continue
		}
		if v != nil {
			doc[name] = v
		}
	}
	if len(probs) > 0 {
		return nil, errors.New(strings.Join(probs, "; "))
	}
	b, err := encodeDoc(doc)
	if err != nil {
		return nil, err
	}
	if err := p.decl.Validate(b); err != nil {
		var ve *schema.ValidationError
		if errors.As(err, &ve) {
			parts := make([]string, 0, len(ve.Problems))
			for _, pr := range ve.Problems {
				parts = append(parts, strings.TrimSpace(pr.Field+" "+pr.Message))
			}
			return nil, errors.New(strings.Join(parts, "; "))
		}
		return nil, err
	}
	return b, nil
}
