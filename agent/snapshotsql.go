package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
)

// lateBatch is a batch written into a partition older than the newest
// generation's cutoff (part), or directly under changes/ by an older
// release (part ""), after the generation was taken.
type lateBatch struct {
	part, name string
}

// lateBatches lists the batches in partitions before prev's cutoff, and
// of the first layout, whose directories changed since prev was taken
// (less partitionSlack).
func (a *Agent) lateBatches(ctx context.Context, coll string, prev *snapshotGen, top []Row) ([]lateBatch, error) {
	if prev == nil {
		return nil, nil
	}
	since := prev.takenMS - partitionSlack.Milliseconds()
	var out []lateBatch
	for _, r := range top {
		name := firstString(r, "name", "FILE_NAME", "file_name")
		if mt, err := asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time")); err != nil || mt < since {
			continue
		}
		if _, _, ok := parseBatchName(name); ok {
			// A batch of the first layout, written by a device of an
			// older release: its name sorts before every partition.
			out = append(out, lateBatch{name: name})
			continue
		}
		if _, ok := parsePartition(name); !ok || name >= prev.cutoff {
			continue
		}
		rows, err := a.showFiles(ctx, coll, "/"+name)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", coll, err)
		}
		for _, b := range rows {
			bn := firstString(b, "name", "FILE_NAME", "file_name")
			if _, _, ok := parseBatchName(bn); !ok {
				continue // compacted before the generation was taken
			}
			if mt, err := asInt(firstValue(b, "modificationTime", "MODIFICATION_TIME", "modification_time")); err == nil && mt >= since {
				out = append(out, lateBatch{part: name, name: bn})
			}
		}
	}
	return out, nil
}

// typedColumns returns a collection's columns but batch_rows as SELECT
// items over the alias t, each field cast to its declared type (batches
// written before a field was declared lack its column, which Drill reads
// as a nullable INT), and the list of their names.
func (a *Agent) typedColumns(coll string) (items, names []string, err error) {
	cols, _ := a.columns(coll)
	for _, c := range cols {
		if c.Name == "batch_rows" {
			continue
		}
		id, err := drill.Ident(c.Name)
		if err != nil {
			return nil, nil, err
		}
		names = append(names, id)
		switch {
		case c.Name == schema.ResolutionColumn:
			// Batches written before the column existed lack it (a
			// nullable INT to Drill): cast, so the union of old and new
			// batches has one type and a leaf keeps its audit entry.
			items = append(items, fmt.Sprintf("CAST(t.%s AS VARCHAR(%d)) AS %s", id, resolutionTextMax, id))
		case c.Field == "":
			items = append(items, "t."+id)
		case c.Type == schema.SQLVarchar:
			items = append(items, fmt.Sprintf("CAST(t.%s AS VARCHAR(%d)) AS %s", id, MaxTypedText, id))
		default:
			items = append(items, fmt.Sprintf("CAST(t.%s AS %s) AS %s", id, c.Type, id))
		}
	}
	return items, names, nil
}

// liveSource is the SELECT of every change a reader needs for current
// state: the generation's rows and the changes/ entries at or after its
// cutoff (a literal, so Drill prunes the older directories), or all of
// changes/ without a generation; plus, for a refresh, the changes/ entries
// before until and the late batches. Rows may repeat (a change in a batch
// and in a compacted file at once): readers deduplicate by change_id.
func (a *Agent) liveSource(coll string, gen *snapshotGen, until string, late []lateBatch) (string, error) {
	items, _, err := a.typedColumns(coll)
	if err != nil {
		return "", err
	}
	list := strings.Join(items, ", ")
	logTable, err := a.table(coll, logGlob)
	if err != nil {
		return "", err
	}
	var conds []string
	if gen != nil {
		start := gen.from
		if start == "" {
			start = gen.cutoff
		}
		from, err := drill.String(start)
		if err != nil {
			return "", err
		}
		conds = append(conds, "t.`dir0` >= "+from)
	}
	if until != "" {
		to, err := drill.String(until)
		if err != nil {
			return "", err
		}
		conds = append(conds, "t.`dir0` < "+to)
	}
	q := fmt.Sprintf("SELECT %s FROM %s t", list, logTable)
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	parts := []string{q}
	if gen != nil {
		snap, err := a.table(coll, "/snapshot/"+gen.name)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s t", list, snap))
	}
	byPart := map[string][]string{}
	var order []string
	for _, b := range late {
		if b.part == "" {
			tbl, err := a.table(coll, "/changes/"+b.name+entryFiles)
			if err != nil {
				return "", err
			}
			parts = append(parts, fmt.Sprintf("SELECT %s FROM %s t", list, tbl))
			continue
		}
		lit, err := drill.String(b.name)
		if err != nil {
			return "", err
		}
		if _, ok := byPart[b.part]; !ok {
			order = append(order, b.part)
		}
		byPart[b.part] = append(byPart[b.part], "t.`dir0` = "+lit)
	}
	for _, p := range order {
		tbl, err := a.table(coll, "/changes/"+p+partitionFiles)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s t WHERE %s", list, tbl, strings.Join(byPart[p], " OR ")))
	}
	return strings.Join(parts, " UNION ALL "), nil
}

// leavesSQL is the SELECT of the leaves of source (see liveSource): the
// changes no change of source names as a parent; with once, each change
// once (else a change held twice comes twice). Parents are JSON text;
// FLATTEN fails on an empty list, so creates are filtered out before it.
func leavesSQL(source string, names []string, once bool) string {
	var cols []string
	for _, n := range names {
		cols = append(cols, "c."+n)
	}
	from, where := "("+source+")", ""
	if once {
		from = "(SELECT d.*, ROW_NUMBER() OVER (PARTITION BY d.`change_id` ORDER BY d.`version`) AS `dn` FROM (" + source + ") d)"
		where = " AND c.`dn` = 1"
	}
	return fmt.Sprintf("SELECT %s FROM %s c LEFT JOIN ("+
		"SELECT DISTINCT f.`record_id`, f.`parent` FROM (SELECT p.`record_id`, FLATTEN(convert_fromJSON(p.`parents`)) AS `parent` FROM (%s) p WHERE p.`parents` <> '[]') f"+
		") k ON k.`record_id` = c.`record_id` AND k.`parent` = c.`version` WHERE k.`parent` IS NULL%s",
		strings.Join(cols, ", "), from, source, where)
}

// writeSnapshot writes generation g from prev (nil: from the start of the
// log) and the partitions up to g's cutoff and the late batches, and
// verifies it; a generation that fails verification is dropped.
func (a *Agent) writeSnapshot(ctx context.Context, coll string, prev *snapshotGen, g snapshotGen, late []lateBatch) (int64, error) {
	source, err := a.liveSource(coll, prev, g.cutoff, late)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", coll, err)
	}
	_, names, err := a.typedColumns(coll)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", coll, err)
	}
	table, err := a.table(coll, "/snapshot/"+g.name)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: %w", coll, err)
	}
	var cols []string
	for _, n := range names {
		cols = append(cols, "l."+n)
	}
	// A bare window in a CTAS loses its alias (the column is written as
	// w0$o0): an expression over it keeps it.
	q := fmt.Sprintf("CREATE TABLE %s AS SELECT %s, CAST(COUNT(*) OVER () AS BIGINT) + 0 AS `batch_rows` FROM (%s) l",
		table, strings.Join(cols, ", "), leavesSQL(source, names, true))
	res, err := a.dr.Query(ctx, q)
	if err != nil && alreadyExists(err) {
		// Another refresher (a second compactor) took this name: the
		// table is its, never ours to drop.
		return 0, fmt.Errorf("snapshot %s: write %s: %w: %w", coll, g.name, errSnapshotNameTaken, err)
	}
	if err != nil {
		// A CTAS that failed midway leaves part of the table.
		if _, derr := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+table); derr != nil {
			a.log.Warn("could not drop a failed snapshot generation", "collection", coll, "generation", g.name, "err", derr)
		}
		return 0, fmt.Errorf("snapshot %s: write %s: %w", coll, g.name, err)
	}
	written, _ := rowsWritten(res)
	n, err := a.verifySnapshot(ctx, coll, g, written, prev)
	if err != nil {
		if _, derr := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+table); derr != nil {
			a.log.Warn("could not drop a snapshot generation that failed verification", "collection", coll, "generation", g.name, "err", derr)
		}
		return 0, err
	}
	return n, nil
}

// errSnapshotNameTaken marks a generation whose name another refresher
// took first: two compactors asking Drill's clock in the same millisecond
// name their generations alike.
var errSnapshotNameTaken = errors.New("the generation's name is taken")

// errSnapshotUnverified marks a generation that reads back wrong (a
// Drillbit that died during its CTAS leaves one half written).
var errSnapshotUnverified = errors.New("failed verification")

// verifySnapshot reads generation g back: its row count must be written
// (unless negative), its change ids unique, every row's batch_rows the row
// count, and it must hold every record prev holds (a record never goes
// away: a delete is a leaf too). It returns the row count.
func (a *Agent) verifySnapshot(ctx context.Context, coll string, g snapshotGen, written int64, prev *snapshotGen) (int64, error) {
	stats := func(gen snapshotGen) (n, ids, recs, lo, hi int64, err error) {
		table, err := a.table(coll, "/snapshot/"+gen.name)
		if err != nil {
			return 0, 0, 0, 0, 0, err
		}
		rows, err := a.dr.Query(ctx, "SELECT COUNT(*) AS `n`, COUNT(DISTINCT `change_id`) AS `ids`, COUNT(DISTINCT `record_id`) AS `recs`, "+
			"MIN(`batch_rows`) AS `lo`, MAX(`batch_rows`) AS `hi` FROM "+table)
		if err != nil {
			return 0, 0, 0, 0, 0, err
		}
		if len(rows) != 1 {
			return 0, 0, 0, 0, 0, fmt.Errorf("%d rows of counts", len(rows))
		}
		r := rows[0]
		n, _ = asInt(r["n"])
		ids, _ = asInt(r["ids"])
		recs, _ = asInt(r["recs"])
		lo, _ = asInt(r["lo"])
		hi, _ = asInt(r["hi"])
		return n, ids, recs, lo, hi, nil
	}
	n, ids, recs, lo, hi, err := stats(g)
	if err != nil {
		return 0, fmt.Errorf("snapshot %s: verify %s: %w", coll, g.name, err)
	}
	var why string
	switch {
	case written >= 0 && n != written:
		why = fmt.Sprintf("it holds %d rows, %d were written", n, written)
	case ids != n:
		why = fmt.Sprintf("%d rows but %d change ids", n, ids)
	case n > 0 && (lo != n || hi != n):
		why = fmt.Sprintf("batch_rows %d..%d, want %d", lo, hi, n)
	}
	if why == "" && prev != nil {
		_, _, prevRecs, _, _, err := stats(*prev)
		if err != nil {
			return 0, fmt.Errorf("snapshot %s: verify %s: read %s: %w", coll, g.name, prev.name, err)
		}
		if recs < prevRecs {
			why = fmt.Sprintf("it holds %d records, the previous generation %s %d", recs, prev.name, prevRecs)
		}
	}
	if why != "" {
		return 0, fmt.Errorf("snapshot %s: generation %s %w: %s", coll, g.name, errSnapshotUnverified, why)
	}
	return n, nil
}
