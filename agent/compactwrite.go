package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// union returns a UNION ALL of the given select list over each source.
func (c *Compactor) union(lg compactLog, list string, srcs []logEntry) (string, error) {
	parts := make([]string, 0, len(srcs))
	for _, s := range srcs {
		t, err := c.table(lg, s.name)
		if err != nil {
			return "", err
		}
		parts = append(parts, "SELECT "+list+" FROM "+t+" t")
	}
	return strings.Join(parts, " UNION ALL "), nil
}

// write runs the CTAS of a compacted entry over srcs. When Drill cannot
// read them together it reads each on its own: a stale unreadable
// compacted entry (its writer died) is dropped, any other unreadable
// source is left out (and left in place), and the rest are written. It
// returns the sources written.
func (c *Compactor) write(ctx context.Context, lg compactLog, target string, srcs []logEntry) ([]logEntry, string, error) {
	key, _ := drill.Ident(lg.key)
	keep := "s." + key
	if lg.keep != "" {
		keep = lg.keep
	}
	var names, outer []string
	for _, col := range lg.cols {
		alias := col[strings.LastIndex(col, " AS ")+len(" AS "):]
		names = append(names, "u."+alias)
		outer = append(outer, "w."+alias)
	}
	for attempt := 0; ; attempt++ {
		if len(srcs) == 0 {
			return nil, "no readable source", nil
		}
		u, err := c.union(lg, strings.Join(lg.cols, ", "), srcs)
		if err != nil {
			return nil, "", err
		}
		// Drill 1.22 loses the alias of a window function in a CTAS's
		// outermost SELECT (the column comes out as $1): the count is
		// renamed one level up.
		q := fmt.Sprintf("CREATE TABLE %s AS SELECT %s, w.`compact_n` AS `batch_rows` FROM ("+
			"SELECT %s, COUNT(*) OVER () AS `compact_n` FROM ("+
			"SELECT s.*, ROW_NUMBER() OVER (PARTITION BY s.%s ORDER BY %s) AS `compact_rn` FROM (%s) s WHERE s.%s IS NOT NULL"+
			") u WHERE u.`compact_rn` = 1) w", target, strings.Join(outer, ", "), strings.Join(names, ", "), key, keep, u, key)
		_, err = c.dr.Query(ctx, q)
		if err == nil {
			return srcs, "", nil
		}
		if !batchUnreadable(ctx, err) || attempt > 0 {
			if batchUnreadable(ctx, err) {
				return nil, "Drill could not write the compacted entry: " + cutText(drillMessage(err), 400), nil
			}
			return nil, "", fmt.Errorf("compact: write %s: %w", target, err)
		}
		if srcs, err = c.readable(ctx, lg, srcs); err != nil {
			return nil, "", err
		}
		// A CTAS that failed may have left the table: it is this
		// compactor's own name, never verified, so dropping it is safe.
		if _, err := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+target); err != nil && !batchUnreadable(ctx, err) {
			return nil, "", fmt.Errorf("compact: drop %s: %w", target, err)
		}
	}
}

// readable returns the sources Drill can read on their own; it drops stale
// unreadable compacted entries.
func (c *Compactor) readable(ctx context.Context, lg compactLog, srcs []logEntry) ([]logEntry, error) {
	var out []logEntry
	for _, s := range srcs {
		t, err := c.table(lg, s.name)
		if err != nil {
			return nil, err
		}
		_, err = c.dr.Query(ctx, "SELECT COUNT(*) AS `n` FROM "+t)
		if err == nil {
			out = append(out, s)
			continue
		}
		if !batchUnreadable(ctx, err) {
			return nil, fmt.Errorf("compact: read %s: %w", s.name, err)
		}
		age := time.Since(time.UnixMilli(s.mtime))
		if s.compacted != nil && s.mtime > 0 && age > c.opts.Stale {
			c.log.Warn("dropping a stale unreadable compacted entry (its writer died)", "log", lg.name, "entry", s.name, "err", drillMessage(err))
			if _, err := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+t); err != nil && !batchUnreadable(ctx, err) {
				return nil, fmt.Errorf("compact: drop %s: %w", s.name, err)
			}
			continue
		}
		c.log.Warn("source not readable; left in place", "log", lg.name, "entry", s.name, "err", cutText(drillMessage(err), 400))
	}
	return out, nil
}

// verify checks a written compacted entry against its sources and returns
// its row count, or why it does not pass.
func (c *Compactor) verify(ctx context.Context, lg compactLog, target string, srcs []logEntry) (int64, string, error) {
	key, _ := drill.Ident(lg.key)
	rows, err := c.dr.Query(ctx, fmt.Sprintf("SELECT COUNT(*) AS `n`, COUNT(DISTINCT t.%s) AS `d`, MIN(t.`batch_rows`) AS `lo`, MAX(t.`batch_rows`) AS `hi` FROM %s t", key, target))
	if err != nil {
		if batchUnreadable(ctx, err) {
			return 0, "the compacted entry cannot be read back: " + cutText(drillMessage(err), 400), nil
		}
		return 0, "", fmt.Errorf("compact: verify %s: %w", target, err)
	}
	if len(rows) != 1 {
		return 0, fmt.Sprintf("verifying %s gave %d rows", target, len(rows)), nil
	}
	n, _ := asInt(rows[0]["n"])
	d, _ := asInt(rows[0]["d"])
	lo, _ := asInt(rows[0]["lo"])
	hi, _ := asInt(rows[0]["hi"])
	if n == 0 || n != d || lo != n || hi != n {
		return 0, fmt.Sprintf("%s holds %d rows, %d change ids, batch_rows %d..%d: not complete", target, n, d, lo, hi), nil
	}
	u, err := c.union(lg, "t."+key+" AS "+key, srcs)
	if err != nil {
		return 0, "", err
	}
	rows, err = c.dr.Query(ctx, fmt.Sprintf("SELECT COUNT(*) AS `missing` FROM (SELECT DISTINCT s.%[1]s FROM (%[2]s) s WHERE s.%[1]s IS NOT NULL) x "+
		"LEFT JOIN (SELECT c.%[1]s AS `k` FROM %[3]s c) y ON x.%[1]s = y.`k` WHERE y.`k` IS NULL", key, u, target))
	if err != nil {
		if batchUnreadable(ctx, err) {
			return 0, "the sources cannot be read to verify: " + cutText(drillMessage(err), 400), nil
		}
		return 0, "", fmt.Errorf("compact: verify %s: %w", target, err)
	}
	if len(rows) != 1 {
		return 0, fmt.Sprintf("verifying %s gave %d rows", target, len(rows)), nil
	}
	if m, _ := asInt(rows[0]["missing"]); m != 0 {
		return 0, fmt.Sprintf("%d change(s) of the sources are not in %s (written meanwhile)", m, target), nil
	}
	return n, "", nil
}
