package agent

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

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
	logTable, err := a.table(coll, logGlob)
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
	logTable, err := a.table(coll, logGlob)
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
