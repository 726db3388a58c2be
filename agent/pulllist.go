package agent

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// What a pull lists and what it forgets: the batches and compacted entries
// of a collection's change log that can hold what this device has not
// seen (see layout.go and compactlayout.go), and the seen list pruned to
// what a pull still lists.

// listedUpTo is the time up to which a pull that read clk has listed
// every batch (see pull).
func listedUpTo(clk *syncClock) int64 {
	if !clk.read {
		return 0
	}
	return min(clk.drillMS, clk.localMS)
}

// listBatches lists the batches of a collection made by other devices, at
// or after fromMS, not seen yet, oldest first (see layout.go): the top of
// changes/ once, then the hour partitions that can hold such a batch. A
// batch's time is the later of the time in its name and its directory's
// modification time (the Drillbit's file system clock).
func (a *Agent) listBatches(ctx context.Context, coll string, fromMS int64) ([]remoteBatch, error) {
	top, err := a.showFiles(ctx, coll, "")
	if err != nil || top == nil {
		return nil, err
	}
	var out []remoteBatch
	var parts []string
	var fresh []compactedEntry
	for _, r := range top {
		name := firstString(r, "name", "FILE_NAME", "file_name")
		if ce, ok := parseCompacted(name); ok {
			mt, _ := asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time"))
			switch {
			case ce.end > fromMS:
				if out, err = a.considerCompacted(ctx, coll, ce, out); err != nil {
					return nil, err
				}
			case mt >= fromMS-partitionSlack.Milliseconds():
				fresh = append(fresh, ce)
			}
			continue
		}
		if start, ok := parsePartition(name); ok {
			mt, _ := asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time"))
			if start+time.Hour.Milliseconds() > fromMS || mt >= fromMS-partitionSlack.Milliseconds() {
				parts = append(parts, name)
			}
			continue
		}
		if out, err = a.considerBatch(ctx, coll, "", r, fromMS, out); err != nil {
			return nil, err
		}
	}
	for _, p := range parts {
		rows, err := a.showFiles(ctx, coll, "/"+p)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if out, err = a.considerBatch(ctx, coll, p+"/", r, fromMS, out); err != nil {
				return nil, err
			}
		}
	}
	if out, err = a.compactedForRetries(ctx, coll, fresh, out); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// considerCompacted appends a compacted entry (see compactlayout.go) to out
// when it was not read yet. It is read like a batch, whoever made its
// changes (the store ignores a change it holds); its time is its range's
// end, never its directory's, so devices that read its hours as batches do
// not read it again.
func (a *Agent) considerCompacted(ctx context.Context, coll string, ce compactedEntry, out []remoteBatch) ([]remoteBatch, error) {
	seen, err := a.st.Seen(ctx, coll, ce.name)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if !seen {
		out = append(out, remoteBatch{name: ce.name, path: ce.name, ms: ce.end - 1})
	}
	return out, nil
}

// compactedForRetries adds the compacted entries written since the look-back
// (fresh) that cover a batch this device waits to read again: a device
// behind its watermark can list a batch, then find it gone because a
// compactor folded it meanwhile; its changes are then in such an entry.
func (a *Agent) compactedForRetries(ctx context.Context, coll string, fresh []compactedEntry, out []remoteBatch) ([]remoteBatch, error) {
	if len(fresh) == 0 {
		return out, nil
	}
	retries, err := a.st.PullRetries(ctx, coll)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	for _, ce := range fresh {
		for _, r := range retries {
			ms, _, ok := parseBatchName(r.Batch)
			if ok && ms >= ce.start && ms < ce.end {
				if out, err = a.considerCompacted(ctx, coll, ce, out); err != nil {
					return nil, err
				}
				break
			}
		}
	}
	return out, nil
}

// showFiles lists a directory under a collection's changes/; nil when it
// does not exist (nothing pushed to the collection yet, or a partition
// compacted away meanwhile).
func (a *Agent) showFiles(ctx context.Context, coll, sub string) ([]Row, error) {
	rows, err := a.listDir(ctx, coll, "/changes"+sub)
	if err != nil {
		return nil, fmt.Errorf("pull: list batches of %s: %w", coll, err)
	}
	return rows, nil
}

// listDir runs SHOW FILES in a directory of a collection (rest: "/changes",
// "/snapshot", …); nil when it does not exist.
func (a *Agent) listDir(ctx context.Context, coll, rest string) ([]Row, error) {
	dir, err := a.table(coll, rest)
	if err != nil {
		return nil, err
	}
	rows, err := showFiles(ctx, a.dr, dir)
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return rows, nil
}

// considerBatch appends the SHOW FILES entry r, a batch directory under
// changes/<prefix>, to out when another device made it, it is at or after
// fromMS and it was not seen yet.
func (a *Agent) considerBatch(ctx context.Context, coll, prefix string, r Row, fromMS int64, out []remoteBatch) ([]remoteBatch, error) {
	name := firstString(r, "name", "FILE_NAME", "file_name")
	if isDir, ok := firstValue(r, "isDirectory", "IS_DIRECTORY", "is_directory").(bool); ok && !isDir {
		return out, nil
	}
	ms, device, ok := parseBatchName(name)
	if !ok || device == a.device {
		return out, nil
	}
	// A batch retried long after it was named (a device offline after a
	// failed write) carries an old name but a new directory time; the
	// later of the two places it on the time line.
	if mt, err := asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time")); err == nil {
		ms = max(ms, mt)
	}
	if ms < fromMS {
		return out, nil
	}
	seen, err := a.st.Seen(ctx, coll, name)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if !seen {
		out = append(out, remoteBatch{name: name, path: prefix + name, ms: ms})
	}
	return out, nil
}

// pruneSeen forgets the seen batches that no pull lists any more: named
// before the watermark minus the look-back and a margin, and seen longer
// ago than that on this computer's clock. Compacted entries (named from
// the hour they start, which sorts after every batch name) are forgotten
// once they started longer than the longest range before that (a month
// entry's 31 days, with a day to spare): a pull lists an entry only while
// its range ends after the watermark minus the look-back.
func (a *Agent) pruneSeen(ctx context.Context, coll string, wm int64) error {
	keep := a.opts.LookBack + seenMargin
	before := wm - keep.Milliseconds()
	if before <= 0 {
		return nil
	}
	seenBefore := a.now().Add(-keep).UnixMilli()
	n, err := a.st.PruneSeen(ctx, coll, "", fmt.Sprintf("%015d", before), seenBefore)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	if started := before - compactedSeenSpan.Milliseconds(); started > 0 {
		m, err := a.st.PruneSeen(ctx, coll, partitionOf(0), partitionOf(started), seenBefore)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
		n += m
	}
	if n > 0 {
		a.log.Debug("forgot old seen batches", "collection", coll, "count", n)
	}
	return nil
}

// compactedSeenSpan is how long after its start a compacted entry's seen
// mark is kept beyond the batches': the longest range a compactor folds
// (a month) and a day. An entry of a batch written late can range longer
// (see landedEnd); forgotten, it is read again at most once more, by a
// device whose own clock is days behind Drill's (its watermark then
// stays at the entry's end, see listedUpTo).
const compactedSeenSpan = 32 * 24 * time.Hour
