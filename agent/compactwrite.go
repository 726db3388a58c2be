package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// orNull returns expr as a column that is nullable whatever the files
// read: a batch written by hand with SQL literals has REQUIRED columns,
// fieldsync's own batches OPTIONAL ones, and Drill 1.22's sort and hash
// aggregate fail on a scan whose files differ in that ("Schema changes not
// supported"). A CASE with a NULL branch is always OPTIONAL, so the
// operators above the scan see one schema, and what compaction writes is
// OPTIONAL too (a cast keeps its input's mode).
func orNull(expr string) string {
	return "CASE WHEN " + expr + " IS NULL THEN NULL ELSE " + expr + " END"
}

// orNullCols applies orNull to select items of the form "expr AS alias".
func orNullCols(cols []string) []string {
	out := make([]string, len(cols))
	for i, col := range cols {
		at := strings.LastIndex(col, " AS ")
		out[i] = orNull(col[:at]) + col[at:]
	}
	return out
}

// union returns a UNION ALL of the given select list over each source's
// Parquet files (see entryGlob: Drill reads mixed formats as one).
func (c *Compactor) union(lg compactLog, list string, srcs []logEntry) (string, error) {
	parts := make([]string, 0, len(srcs))
	for _, s := range srcs {
		t, err := c.table(lg, s.glob())
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
		u, err := c.union(lg, strings.Join(orNullCols(lg.cols), ", "), srcs)
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
		files, err := c.table(lg, s.glob())
		if err != nil {
			return nil, err
		}
		_, err = c.dr.Query(ctx, "SELECT COUNT(*) AS `n` FROM "+files)
		if err == nil {
			out = append(out, s)
			continue
		}
		if !batchUnreadable(ctx, err) {
			return nil, fmt.Errorf("compact: read %s: %w", s.name, err)
		}
		if _, ok := parsePartition(s.name); ok && s.files == "" && isNotFound(err) {
			// No Parquet file in it: an hour whose JSON batches were all
			// rewritten (into the hour of the rewrite), or whose batch
			// directories were left empty. Nothing else in it: drop it.
			if dropped, err := c.dropEmpty(ctx, lg, s); err != nil || dropped {
				if err != nil {
					return nil, err
				}
				continue
			}
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
// its row count, or why it does not pass. foreign names the hour
// partitions that hold batches Drill did not read as Parquet (see unread),
// with why: the entry is complete without them, but they must stay.
func (c *Compactor) verify(ctx context.Context, lg compactLog, target string, srcs []logEntry) (n int64, why string, foreign map[string]string, err error) {
	key, _ := drill.Ident(lg.key)
	rows, err := c.dr.Query(ctx, fmt.Sprintf("SELECT COUNT(*) AS `n`, COUNT(DISTINCT t.%s) AS `d`, MIN(t.`batch_rows`) AS `lo`, MAX(t.`batch_rows`) AS `hi` FROM %s t", key, target))
	if err != nil {
		if batchUnreadable(ctx, err) {
			return 0, "the compacted entry cannot be read back: " + cutText(drillMessage(err), 400), nil, nil
		}
		return 0, "", nil, fmt.Errorf("compact: verify %s: %w", target, err)
	}
	if len(rows) != 1 {
		return 0, fmt.Sprintf("verifying %s gave %d rows", target, len(rows)), nil, nil
	}
	n, _ = asInt(rows[0]["n"])
	d, _ := asInt(rows[0]["d"])
	lo, _ := asInt(rows[0]["lo"])
	hi, _ := asInt(rows[0]["hi"])
	if n == 0 || n != d || lo != n || hi != n {
		return 0, fmt.Sprintf("%s holds %d rows, %d change ids, batch_rows %d..%d: not complete", target, n, d, lo, hi), nil, nil
	}
	// Every source's change ids must be in the entry, and every batch
	// directory of an hour partition must have given rows: one that
	// did not holds files Drill does not read as Parquet (an analyst's
	// JSON or CSV), which dropping the partition would lose.
	var parts []string
	for i, s := range srcs {
		t, err := c.table(lg, s.glob())
		if err != nil {
			return 0, "", nil, err
		}
		b := "''"
		if _, ok := parsePartition(s.name); ok && s.files == "" {
			b = "t.`dir0`"
		}
		parts = append(parts, fmt.Sprintf("SELECT %d AS `src`, CAST(%s AS VARCHAR(%d)) AS `b`, %s AS %s FROM %s t", i, b, maxNameCast, orNull("t."+key), key, t))
	}
	rows, err = c.dr.Query(ctx, fmt.Sprintf("SELECT x.`src`, x.`b`, SUM(CASE WHEN x.%[1]s IS NOT NULL AND y.`k` IS NULL THEN 1 ELSE 0 END) AS `missing` "+
		"FROM (SELECT DISTINCT s.`src`, s.`b`, s.%[1]s FROM (%[2]s) s) x "+
		"LEFT JOIN (SELECT c.%[1]s AS `k` FROM %[3]s c) y ON x.%[1]s = y.`k` GROUP BY x.`src`, x.`b`", key, strings.Join(parts, " UNION ALL "), target))
	if err != nil {
		if batchUnreadable(ctx, err) {
			return 0, "the sources cannot be read to verify: " + cutText(drillMessage(err), 400), nil, nil
		}
		return 0, "", nil, fmt.Errorf("compact: verify %s: %w", target, err)
	}
	var missing int64
	read := map[int]map[string]bool{}
	for _, r := range rows {
		m, _ := asInt(r["missing"])
		missing += m
		i, _ := asInt(r["src"])
		if read[int(i)] == nil {
			read[int(i)] = map[string]bool{}
		}
		b, _ := r["b"].(string)
		read[int(i)][b] = true
	}
	if missing != 0 {
		return 0, fmt.Sprintf("%d change(s) of the sources are not in %s (written meanwhile)", missing, target), nil, nil
	}
	for i, s := range srcs {
		if _, ok := parsePartition(s.name); !ok || s.files != "" {
			continue
		}
		why, err := c.unread(ctx, lg, s.name, read[i])
		if err != nil {
			return 0, "", nil, err
		}
		if why != "" {
			if foreign == nil {
				foreign = map[string]string{}
			}
			foreign[s.name] = why
		}
	}
	return n, "", foreign, nil
}

// dropEmpty drops an hour partition that holds no file at all (only empty
// batch directories), unless it changed since it was listed (a batch
// being written into it). It reports whether it dropped it.
func (c *Compactor) dropEmpty(ctx context.Context, lg compactLog, s logEntry) (bool, error) {
	if why, err := c.unread(ctx, lg, s.name, nil); err != nil || why != "" {
		return false, err
	}
	now, err := c.list(ctx, lg)
	if err != nil {
		return false, err
	}
	for _, e := range now {
		if e.name == s.name && e.mtime != s.mtime {
			return false, nil
		}
	}
	t, err := c.table(lg, s.name)
	if err != nil {
		return false, err
	}
	// Drill drops only a directory it can read as a table: without a
	// default format on the workspace (fieldsync sets none) an empty one
	// is not, so one tiny Parquet file goes in first.
	marker, err := c.table(lg, s.name+"/"+emptyMarker)
	if err != nil {
		return false, err
	}
	for _, q := range []string{"CREATE TABLE IF NOT EXISTS " + marker + " AS SELECT 1 AS `empty` FROM (VALUES(1))", "DROP TABLE IF EXISTS " + t} {
		if _, err := c.dr.Query(ctx, q); err != nil {
			if batchUnreadable(ctx, err) {
				c.log.Warn("empty hour partition not dropped; the next pass will try again", "log", lg.name, "entry", s.name, "err", cutText(drillMessage(err), 300))
				return false, nil
			}
			return false, fmt.Errorf("compact: drop %s: %w", s.name, err)
		}
	}
	c.log.Info("dropped an empty hour partition", "log", lg.name, "entry", s.name)
	return true, nil
}

// emptyMarker is the table dropEmpty writes into an empty hour partition
// so that Drill drops it: not a batch name, so no device reads it.
const emptyMarker = "fieldsync-empty"

// maxNameCast is the VARCHAR length a batch directory's name is cast to.
const maxNameCast = 1024

// unread lists an hour partition and returns why it must stay ("" when
// every entry in it was read): a batch directory that gave no rows yet
// holds files, or a file directly in the partition. An empty batch
// directory (a CTAS killed before it wrote) holds nothing to lose.
func (c *Compactor) unread(ctx context.Context, lg compactLog, part string, read map[string]bool) (string, error) {
	t, err := c.table(lg, part)
	if err != nil {
		return "", err
	}
	rows, err := showFiles(ctx, c.dr, t)
	if err != nil {
		return "", fmt.Errorf("compact: list %s: %w", part, err)
	}
	var odd []string
	for _, r := range rows {
		name := firstString(r, "name", "FILE_NAME", "file_name")
		if name == "" || hiddenName(name) || read[name] {
			continue
		}
		if isDir, ok := firstValue(r, "isDirectory", "IS_DIRECTORY", "is_directory").(bool); ok && !isDir {
			odd = append(odd, name)
			continue
		}
		bt, err := c.table(lg, part+"/"+name)
		if err != nil {
			return "", err
		}
		inside, err := showFiles(ctx, c.dr, bt)
		if err != nil {
			if isNotFound(err) {
				continue // dropped meanwhile
			}
			return "", fmt.Errorf("compact: list %s/%s: %w", part, name, err)
		}
		for _, f := range inside {
			if fn := firstString(f, "name", "FILE_NAME", "file_name"); fn != "" && !hiddenName(fn) {
				odd = append(odd, name+"/"+fn)
			}
		}
	}
	if len(odd) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%s/%s holds %d file(s) Drill does not read as Parquet batches (e.g. %s): left in place; move or rewrite them as Parquet", lg.dir, part, len(odd), strings.Join(odd[:min(3, len(odd))], ", ")), nil
}

// hiddenName reports whether Drill ignores a file or directory name.
func hiddenName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}
