package agent

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
)

// Batches written as JSON (Options.BatchFormat) are read by devices as
// they come, but everything that reads the log in bulk — the views, the
// snapshot, the compaction of closed hours — reads Parquet files only
// (see entryGlob). So each compaction pass first rewrites the JSON batches
// as Parquet: the complete JSON batches of a partition (rows = batch_rows)
// named more than CompactOptions.JSONSettle before Drill's clock (by
// default MaxBatchNameAge + MaxWriteTime, after which no device writes the
// name again; shorter for light passes, where a device retrying a batch
// may write it again after its rewrite: its changes are then in two
// batches, as after a killed pass below) are written with one CTAS into one Parquet batch named
// now, under a device name of this compactor's, verified like a compacted
// entry, and only then dropped. Devices read the new batch like any other
// (its changes again: harmless, the store is idempotent by change id); a
// device still reading a dropped JSON batch finds it gone and the new one
// at its next listing. Killed between the write and the drops, the next
// pass converts the same batches again: their changes are then in two
// Parquet batches until their hour is folded (readers deduplicate).

// jsonSettled is the default of CompactOptions.JSONSettle: no device
// writes a name that old any more.
const jsonSettled = MaxBatchNameAge + MaxWriteTime

// settleMS returns CompactOptions.JSONSettle, or its default, in ms.
func (c *Compactor) settleMS() int64 {
	if c.opts.JSONSettle > 0 {
		return c.opts.JSONSettle.Milliseconds()
	}
	return jsonSettled.Milliseconds()
}

// convertDevice is the device part of a converted batch's name.
const convertDevice = "compactor-"

// Convert runs a light pass over the change logs of the named
// collections, or of every declared one: it only rewrites their settled
// JSON batches as Parquet (see above), folding nothing and refreshing no
// snapshot. Run every few minutes with a short JSONSettle, a device that
// syncs reads the batches the fleet wrote since the last light pass as
// JSON files, one per batch, and what came before as a few Parquet
// batches, instead of a file per batch of every other device.
func (c *Compactor) Convert(ctx context.Context, collections ...string) (CompactReport, error) {
	var rep CompactReport
	if len(collections) == 0 {
		collections = c.schema.LogNames()
	}
	for _, coll := range collections {
		lg, err := c.collectionLog(coll)
		if err != nil {
			return rep, err
		}
		converted, left, err := c.convertLog(ctx, lg)
		rep.Logs = append(rep.Logs, LogCompaction{Log: lg.name, Converted: converted, Skipped: left})
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// convertLog lists a log and converts its settled JSON batches.
func (c *Compactor) convertLog(ctx context.Context, lg compactLog) (int, []string, error) {
	nowMS, err := c.drillNow(ctx)
	if err != nil {
		return 0, nil, err
	}
	entries, err := c.list(ctx, lg)
	if err != nil {
		return 0, nil, err
	}
	return c.convertJSON(ctx, lg, entries, nowMS, &c.convSeq)
}

// convertJSON converts the settled JSON batches of a collection's log
// (see above) and returns how many it converted and why it left some.
func (c *Compactor) convertJSON(ctx context.Context, lg compactLog, entries []logEntry, nowMS int64, seq *atomic.Uint64) (int, []string, error) {
	converted := 0
	var skipped []string
	for _, e := range entries {
		if _, ok := parsePartition(e.name); !ok || e.start > nowMS-c.settleMS() {
			continue
		}
		names, why, err := c.settledJSON(ctx, lg, e.name, nowMS)
		if err != nil {
			return converted, skipped, err
		}
		if why != "" {
			skipped = append(skipped, why)
			continue
		}
		for len(names) > 0 {
			n := groupSize(e.name, names)
			done, why, err := c.convertGroup(ctx, lg, e.name, names[:n], nowMS, seq.Add(1))
			if err != nil {
				return converted, skipped, err
			}
			if why != "" {
				skipped = append(skipped, why)
			}
			converted += done
			names = names[n:]
		}
	}
	return converted, skipped, nil
}

// groupSize returns how many of names fit one glob alternation.
func groupSize(part string, names []string) int {
	size, n := len(part), 0
	for n < len(names) && n < maxGroup {
		size += len(names[n]) + 1
		if size > maxGroupGlob {
			break
		}
		n++
	}
	return max(n, 1)
}

// settledJSON returns the complete JSON batches of a partition whose names
// are settled (older than jsonSettled), or why it could not tell.
func (c *Compactor) settledJSON(ctx context.Context, lg compactLog, part string, nowMS int64) ([]string, string, error) {
	t, err := c.table(lg, part+"/*"+batchFiles(BatchJSON))
	if err != nil {
		return nil, "", err
	}
	rows, err := c.dr.Query(ctx, "SELECT t.`dir0` AS `b`, COUNT(*) AS `n`, MIN(CAST(t.`batch_rows` AS BIGINT)) AS `lo`, "+
		"MAX(CAST(t.`batch_rows` AS BIGINT)) AS `hi` FROM "+t+" t GROUP BY t.`dir0`")
	if err != nil {
		if isNotFound(err) {
			return nil, "", nil // no JSON batch there
		}
		if batchUnreadable(ctx, err) {
			return nil, fmt.Sprintf("%s/%s: its JSON batches cannot be read together: %s", lg.dir, part, cutText(drillMessage(err), 300)), nil
		}
		return nil, "", fmt.Errorf("compact: read JSON batches of %s: %w", part, err)
	}
	var out []string
	for _, r := range rows {
		b, _ := r["b"].(string)
		ms, _, ok := parseBatchName(b)
		n, _ := asInt(r["n"])
		lo, _ := asInt(r["lo"])
		hi, _ := asInt(r["hi"])
		if !ok || !globSafe(b) || ms > nowMS-c.settleMS() || n != lo || n != hi {
			continue // not settled, not complete, or not a batch name
		}
		out = append(out, b)
	}
	return out, "", nil
}

// convertGroup writes JSON batches of a partition as one Parquet batch,
// verifies it and drops them. It returns how many it dropped.
func (c *Compactor) convertGroup(ctx context.Context, lg compactLog, part string, names []string, nowMS int64, seq uint64) (int, string, error) {
	name := batchName(nowMS, convertDevice+c.opts.Writer, seq)
	target, err := c.table(lg, batchPath(name))
	if err != nil {
		return 0, "", err
	}
	src := []logEntry{{name: part, files: part + "/{" + strings.Join(names, ",") + "}" + batchFiles(BatchJSON)}}
	srcs, why, err := c.write(ctx, lg, target, src)
	if err != nil || why != "" {
		return 0, why, err
	}
	if _, why, _, err := c.verify(ctx, lg, target, srcs); err != nil || why != "" {
		if err == nil {
			// Never verified: this compactor's own name, so dropping it
			// is safe; the next pass converts again.
			if _, derr := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+target); derr != nil && !batchUnreadable(ctx, derr) {
				return 0, "", fmt.Errorf("compact: drop %s: %w", target, derr)
			}
		}
		return 0, why, err
	}
	dropped := 0
	for _, b := range names {
		t, err := c.table(lg, part+"/"+b)
		if err != nil {
			return dropped, "", err
		}
		if _, err := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
			if batchUnreadable(ctx, err) {
				c.log.Warn("converted JSON batch not dropped; the next pass will", "log", lg.name, "batch", b, "err", err)
				continue
			}
			return dropped, "", fmt.Errorf("compact: drop %s: %w", b, err)
		}
		dropped++
	}
	c.log.Info("JSON batches rewritten as Parquet", "log", lg.name, "partition", part, "batch", name, "sources", len(names), "dropped", dropped)
	return dropped, "", nil
}

// drillNow is Drill's clock (or DrillClock), never Now: converted batches
// are named like the devices' own.
func (c *Compactor) drillNow(ctx context.Context) (int64, error) {
	ms, err := clockMS(ctx, c.dr, c.opts.DrillClock)
	if err != nil {
		return 0, fmt.Errorf("compact: %w", err)
	}
	return ms, nil
}
