package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/fieldsync/fieldsync/store"
)

// Stale batch names. A batch's name carries Drill's clock when it was
// planned and fixes its hour partition; compaction folds an hour, and drops
// its directory whole, once the hour ended more than the look-back plus the
// margin (1 h + 1 h) before Drill's clock. A device that was offline,
// crashed or kept failing would otherwise write a batch named hours earlier
// into an hour compaction considers closed, perhaps between the
// compactor's last listing and its DROP of that hour, where it is lost for
// the devices that had not pulled it.
//
// So the push never starts a CTAS under a name older than MaxBatchNameAge.
// It settles the old name first, once no CTAS this device sent can still be
// writing it (MaxBatchNameAge plus the query time limit after the name;
// before that the batch is left planned and a later sync settles it):
//
//   - a complete table of that name: the batch is pushed;
//   - a partial or unreadable table: dropped (it is this device's own);
//   - none: the compacted entries covering its hour are read for its
//     changes (written under the old name, the answer lost, then folded by
//     compaction): those found are pushed; when all are, so is the batch.
//
// Then it renames the batch, or the part of it not found, in the store
// (store.RenameBatch, one transaction; the part found stays verified under
// the old name) to a name of Drill's clock now and writes it there. A
// crash before the rename settles the old name again on the next sync;
// after it, the new name is the batch's. So a change is written under a
// second name only when the first CTAS was still running unseen past the
// query time limit; readers and compaction keep one row per change_id.

// MaxBatchNameAge is how old, by Drill's clock, a batch's name may be when
// the push starts writing it; an older batch is re-planned under a fresh
// name first. A batch's CTAS therefore ends at most MaxBatchNameAge plus
// the query time limit (5 minutes by default) after the time in its name:
// 20 minutes, well inside the devices' look-back (1 hour: a device whose
// watermark passed the name still lists its partition, so directory times
// are not needed for these batches) and far from the 2 hours after its end
// at which compaction closes an hour. 15 minutes, not less, so a push that
// runs long or a sync retried after a short outage keeps its names (a
// rename costs a read and a drop in Drill).
const MaxBatchNameAge = 15 * time.Minute

// MaxWriteTime bounds a batch's CTAS whatever the query time limit says
// (drill.query_timeout may be raised to hours for a compacting server): a
// CTAS this device sent can then still be writing a batch at most
// MaxBatchNameAge + MaxWriteTime = 45 minutes after the time in its name,
// inside the devices' 1-hour look-back and far from the 2 hours after
// which compaction folds its hour. A batch CTAS takes seconds.
const MaxWriteTime = 30 * time.Minute

// writeTime is the time limit of this device's batch CTAS statements.
func writeTime(queryTimeout time.Duration) time.Duration {
	if queryTimeout <= 0 || queryTimeout > MaxWriteTime {
		return MaxWriteTime
	}
	return queryTimeout
}

// ErrBatchBeingWritten is wrapped when a batch whose name is stale is not
// whole under that name and a CTAS this device sent may still be writing
// it (MaxBatchNameAge plus the query time limit have not passed since the
// name). The push leaves such a batch planned and goes on; a sync minutes
// later settles it.
var ErrBatchBeingWritten = errors.New("a batch sent earlier may still be being written in Drill; it is settled on a later sync")

// replanStale settles a batch whose name is older than MaxBatchNameAge by
// Drill's clock and renames it (see above). It returns the batch to write,
// renamed or as it was, or pushed true when the batch is whole under its
// old name or folded from it by compaction (verified in the store then).
func (a *Agent) replanStale(ctx context.Context, clk *syncClock, b store.Batch) (_ store.Batch, pushed bool, _ error) {
	ms, _, ok := parseBatchName(b.Name)
	now := a.drillNow(clk)
	age := time.Duration(now-ms) * time.Millisecond
	if !ok || age <= MaxBatchNameAge {
		return b, false, nil
	}
	table, err := a.table(b.Collection, "/changes/"+batchPath(b.Name))
	if err != nil {
		return b, false, fmt.Errorf("push: %w", err)
	}
	var folded []string // changes of b found in compacted entries
	err = a.verifyBatch(ctx, table, b)
	switch {
	case err == nil:
		return b, true, a.markVerified(ctx, b)
	case errors.Is(err, ErrBatchForeign):
		return b, false, a.failBatch(ctx, b, err) // never drop what another device wrote
	case age <= MaxBatchNameAge+writeTime(a.opts.QueryTimeout):
		// A CTAS this device sent may still make or fill the table.
		return b, false, fmt.Errorf("push: batch %s: %w (%v)", b.Name, ErrBatchBeingWritten, err)
	case isNotFound(err) && !errors.Is(err, ErrBatchMismatch):
		if folded, err = a.foldedChanges(ctx, b, ms); err != nil {
			return b, false, a.failBatch(ctx, b, err)
		}
		if len(folded) == len(b.ChangeIDs) {
			a.log.Info("batch found folded by compaction under its old name", "batch", b.Name)
			return b, true, a.markVerified(ctx, b)
		}
		if len(folded) > 0 {
			a.log.Info("part of a batch was folded by compaction from a partial write; the rest is written under a new name",
				"batch", b.Name, "folded", len(folded), "changes", len(b.ChangeIDs))
		}
		// A release that wrote batches directly under changes/ may have
		// left part of it there.
		legacy, err := a.table(b.Collection, "/changes/"+b.Name)
		if err != nil {
			return b, false, fmt.Errorf("push: %w", err)
		}
		if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+legacy); err != nil {
			return b, false, a.failBatch(ctx, b, fmt.Errorf("drop partial batch: %w", err))
		}
	default:
		// Partial or unreadable, and no CTAS of this device can still be
		// writing it: drop it, or it would stay in its old hour for good.
		a.log.Warn("dropping partial batch before renaming it", "batch", b.Name, "err", err)
		if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
			return b, false, a.failBatch(ctx, b, fmt.Errorf("drop partial batch: %w", err))
		}
	}
	first := b.FirstSeq // the first entry that moves names the batch
	for i, id := range b.ChangeIDs {
		if !slices.Contains(folded, id) {
			first = b.Seqs[i]
			break
		}
	}
	nb, err := a.st.RenameBatch(ctx, b.Name, batchName(now, a.device, first), folded)
	if err != nil {
		return b, false, fmt.Errorf("push: %w", err)
	}
	a.log.Info("batch renamed: its name was too old to write", "batch", b.Name, "new_name", nb.Name, "age", age.Round(time.Second).String())
	return nb, false, nil
}

// foldedChanges returns the changes of batch b, named at ms, that the
// compacted entries covering ms hold: where a batch written under its old
// name went when compaction folded its hour before the device came back.
// The ids are looked up in IN lists of inListMax, so a read returns at
// most the batch's own rows however large the entry.
func (a *Agent) foldedChanges(ctx context.Context, b store.Batch, ms int64) ([]string, error) {
	top, err := a.listDir(ctx, b.Collection, "/changes")
	if err != nil {
		return nil, fmt.Errorf("look for folded changes: %w", err)
	}
	ids := slices.Clone(b.ChangeIDs)
	slices.Sort(ids)
	found := map[string]bool{}
	var out []string
	for _, r := range top {
		ce, ok := parseCompacted(firstString(r, "name", "FILE_NAME", "file_name"))
		if !ok || ms < ce.start || ms >= ce.end {
			continue
		}
		t, err := a.table(b.Collection, "/changes/"+ce.name)
		if err != nil {
			return nil, err
		}
		for chunk := range slices.Chunk(ids, inListMax) {
			list, err := literalList(chunk)
			if err != nil {
				return nil, fmt.Errorf("look for folded changes: %w", err)
			}
			// An entry dropped since the listing fails the read: the sync
			// is tried again, and lists the entry that folded it.
			rows, err := a.dr.Query(ctx, "SELECT `change_id` FROM "+t+" WHERE `change_id` IN ("+list+")")
			if err != nil {
				return nil, fmt.Errorf("look for folded changes in %s: %w", ce.name, err)
			}
			for _, r := range rows {
				if id, _ := r["change_id"].(string); slices.Contains(chunk, id) && !found[id] {
					found[id] = true
					out = append(out, id)
				}
			}
		}
	}
	return out, nil
}
