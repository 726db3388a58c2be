package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// maxGroup bounds the batches of one partition read by one query: the
// filter is an OR of dir0 equalities (Drill turns an IN list longer than
// planner.in_subquery_threshold, 20, into a join, which its directory
// pruning does not see), and planning grows with the statement.
const maxGroup = 100

// groupEnd returns the end of the run of batches from i that can be read
// by one query: listed in the same hour partition, at most maxGroup.
func groupEnd(batches []remoteBatch, i int) int {
	part, _, ok := strings.Cut(batches[i].path, "/")
	if !ok {
		return i + 1
	}
	j := i + 1
	for j < len(batches) && j-i < maxGroup {
		p, _, ok := strings.Cut(batches[j].path, "/")
		if !ok || p != part {
			break
		}
		j++
	}
	return j
}

// pullBatches reads batches of one hour partition (see groupEnd) and
// returns, for each, why it must be read again ("" when read whole), like
// pullBatch. Several batches are read with one query per page,
//
//	SELECT `dir0` AS `fs_batch`, … FROM `<coll>/changes/<hour>`
//	WHERE `dir0` = '<batch>' OR … ORDER BY `dir0`, `change_id`
//
// so a device catching up reads a partition in a few queries instead of
// one per batch. When Drill cannot read them together (one batch is a
// 0-byte file, a directory vanished meanwhile) each is read on its own,
// so one bad batch is quarantined or read again later and never holds the
// others back. Applying a change twice is harmless (the store is
// idempotent by change id), so falling back after some pages were applied
// loses and doubles nothing.
func (a *Agent) pullBatches(ctx context.Context, coll string, batches []remoteBatch, boundMS int64, rep *Report) ([]string, error) {
	whys := make([]string, len(batches))
	if len(batches) == 1 {
		why, err := a.pullBatch(ctx, coll, batches[0], boundMS, rep)
		whys[0] = why
		return whys, err
	}
	ok, err := a.readGroup(ctx, coll, batches, boundMS, rep, whys)
	if err != nil || ok {
		return whys, err
	}
	for i, b := range batches {
		seen, err := a.st.Seen(ctx, coll, b.name)
		if err != nil {
			return whys, fmt.Errorf("pull: %w", err)
		}
		if seen { // read whole before the group read failed
			whys[i] = ""
			continue
		}
		if whys[i], err = a.pullBatch(ctx, coll, b, boundMS, rep); err != nil {
			return whys, err
		}
	}
	return whys, nil
}

// readGroup is pullBatches' query over several batches. It returns false
// when Drill could not read them together.
func (a *Agent) readGroup(ctx context.Context, coll string, batches []remoteBatch, boundMS int64, rep *Report, whys []string) (bool, error) {
	part, _, _ := strings.Cut(batches[0].path, "/")
	table, err := a.table(coll, "/changes/"+part)
	if err != nil {
		return false, fmt.Errorf("pull: %w", err)
	}
	reads := make(map[string]*batchRead, len(batches))
	var or []string
	for _, b := range batches {
		lit, err := drill.String(b.name)
		if err != nil {
			return false, fmt.Errorf("pull: batch name %q: %w", b.name, err)
		}
		or = append(or, "`dir0` = "+lit)
		reads[b.name] = newBatchRead(b)
	}
	index := make(map[string]int, len(batches))
	for i, b := range batches {
		index[b.name] = i
	}
	finished := make([]bool, len(batches))
	finish := func(name string) error {
		i := index[name]
		if finished[i] {
			return nil
		}
		finished[i] = true
		why, err := a.finishBatch(ctx, coll, reads[name], rep)
		whys[i] = why
		return err
	}
	prev := "" // the batch whose rows came last
	for offset := 0; ; offset += a.opts.PageRows {
		q := fmt.Sprintf("SELECT `dir0` AS `fs_batch`, %s FROM %s WHERE %s ORDER BY `dir0`, `change_id` LIMIT %d OFFSET %d",
			readList(), table, strings.Join(or, " OR "), a.opts.PageRows, offset)
		rows, err := a.dr.Query(ctx, q)
		if err != nil {
			if batchUnreadable(ctx, err) {
				a.log.Info("batches not readable together; reading each on its own", "collection", coll, "partition", part,
					"batches", len(batches), "why", cutText(drillMessage(err), 400))
				return false, nil
			}
			return false, fmt.Errorf("pull: read batches of %s: %w", part, err)
		}
		// Rows come ordered by batch: apply each batch's run at once, and
		// finish a batch when the next one's rows begin, so a sync
		// stopped midway has marked seen what it read whole.
		for start := 0; start < len(rows); {
			name, _ := rows[start]["fs_batch"].(string)
			end := start + 1
			for end < len(rows) && rows[end]["fs_batch"] == rows[start]["fs_batch"] {
				end++
			}
			br, ok := reads[name]
			if !ok {
				return false, nil // not what was asked for: read each on its own
			}
			run := rows[start:end]
			for _, r := range run {
				delete(r, "fs_batch")
			}
			if prev != "" && prev != name {
				if err := finish(prev); err != nil {
					return false, err
				}
			}
			if err := a.applyRows(ctx, coll, br, run, boundMS, rep); err != nil {
				return false, err
			}
			prev, start = name, end
		}
		if len(rows) < a.opts.PageRows {
			break
		}
	}
	for _, b := range batches {
		if err := finish(b.name); err != nil {
			return false, err
		}
	}
	return true, nil
}
