package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

// Batches that cannot be read yet: a Drillbit killed during a CTAS leaves a
// 0-byte parquet file that fails every scan, a directory can be empty or
// hold fewer rows than the batch was written with while it is written. Such
// a batch is tracked in the store (pullretry/) by name and read again at
// later syncs with backoff, whatever the watermark (a batch whose directory
// changed since, because its device rewrote it, is read at once); after
// Options.PullRetries failed reads it is quarantined too, and still read
// again, at most every maxRetryWait, so a batch its device rewrites later
// arrives then.

// maxRetryWait caps the wait between reads of a batch that cannot be read.
const maxRetryWait = 6 * time.Hour

// batchUnreadable reports whether err is Drill failing to read one batch
// (the query ran, or was refused, in Drill) rather than Drill being
// unreachable, refusing the login or the sync being stopped.
func batchUnreadable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if drill.IsAuthError(err) || errors.Is(err, drill.ErrUnavailable) {
		return false
	}
	var qe *drill.QueryError
	return errors.As(err, &qe) || isNotFound(err)
}

// drillMessage is Drill's own message of a failed query, without the SQL.
func drillMessage(err error) string {
	var qe *drill.QueryError
	if errors.As(err, &qe) && qe.Message != "" {
		return qe.Message
	}
	return err.Error()
}

// withRetries adds to the listed batches of a collection those waiting to
// be read again that are due, and leaves out those that are not due yet
// and did not change since they were last read.
func (a *Agent) withRetries(ctx context.Context, coll string, listed []remoteBatch, rep *Report) ([]remoteBatch, error) {
	retries, err := a.st.PullRetries(ctx, coll)
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if len(retries) == 0 {
		return listed, nil
	}
	now := a.now().UnixMilli()
	byName := make(map[string]store.PullRetry, len(retries))
	for _, r := range retries {
		byName[r.Batch] = r
	}
	out := listed[:0:0]
	for _, b := range listed {
		if r, ok := byName[b.name]; ok {
			delete(byName, b.name)
			// Not due yet, unless its directory changed since the last
			// read (its device rewrote it): then it is read now.
			if r.NextMS > now && b.ms <= r.MS {
				rep.Waiting++
				continue
			}
		}
		out = append(out, b)
	}
	for _, r := range byName {
		if r.NextMS > now {
			rep.Waiting++
			continue
		}
		ms := r.MS
		if ms == 0 {
			ms, _, _ = parseBatchName(r.Batch)
		}
		out = append(out, remoteBatch{name: r.Batch, path: r.Path, ms: ms})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// whyGone starts the reason of a batch that was listed and is no longer in
// Drill when read: folded by a compactor, or dropped by its device.
const whyGone = "the batch is gone from Drill (folded by compaction, or dropped by its device)"

// settleGone settles a batch found gone at two reads in a row, whose
// directory is no longer listed and whose name no device writes any more
// (older than MaxBatchNameAge + MaxWriteTime by nowMS: a device back with
// it renames it): the listing of the second read added every compacted
// entry written since the look-back that covers it (compactedForRetries),
// whose reads carry its changes, or its device wrote them again under
// another name, listed like any batch. So it is marked seen (no longer
// waited for, nor quarantined), where it would otherwise be read every
// few hours and, after Options.PullRetries reads, quarantined for nothing.
// An empty directory (a CTAS whose Drillbit died before writing a file)
// reads the same as a missing one and stays waited for. It reports
// whether it settled b; the first time, the caller waits for the next
// sync.
func (a *Agent) settleGone(ctx context.Context, coll string, b remoteBatch, why string, nowMS int64) (bool, error) {
	if !strings.HasPrefix(why, whyGone) {
		return false, nil
	}
	if ms, _, ok := parseBatchName(b.name); ok {
		if nowMS-ms < (MaxBatchNameAge + MaxWriteTime).Milliseconds() {
			return false, nil
		}
	} else if _, ok := parseCompacted(b.name); !ok {
		return false, nil
	}
	retries, err := a.st.PullRetries(ctx, coll)
	if err != nil {
		return false, fmt.Errorf("pull: %w", err)
	}
	again := false
	for _, r := range retries {
		again = again || (r.Batch == b.name && strings.HasPrefix(r.LastError, whyGone))
	}
	if !again {
		return false, nil
	}
	for _, p := range b.paths() {
		parent, name := "", p
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			parent, name = "/"+p[:i], p[i+1:]
		}
		rows, err := a.showFiles(ctx, coll, parent)
		if err != nil {
			return false, err
		}
		for _, r := range rows {
			if firstString(r, "name", "FILE_NAME", "file_name") == name {
				return false, nil // still there, empty
			}
		}
	}
	if err := a.st.MarkSeen(ctx, coll, b.name, 0); err != nil {
		return false, fmt.Errorf("pull: %w", err)
	}
	a.log.Info("batch gone from Drill at two reads in a row; its changes come with what replaced it", "collection", coll, "batch", b.name)
	return true, nil
}

// retryLater records a failed read of a batch: it is read again at the next
// sync the first time, then after PullRetryWait doubling per attempt; after
// PullRetries attempts it is also quarantined.
func (a *Agent) retryLater(ctx context.Context, coll string, b remoteBatch, why string, rep *Report) error {
	now := a.now().UnixMilli()
	r := store.PullRetry{Collection: coll, Batch: b.name, Path: b.path, MS: b.ms, FirstMS: now}
	retries, err := a.st.PullRetries(ctx, coll)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	for _, old := range retries {
		if old.Batch == b.name {
			r.Attempts, r.FirstMS = old.Attempts, old.FirstMS
		}
	}
	r.Attempts++
	r.LastError = why
	r.NextMS = now + a.retryWait(r.Attempts).Milliseconds()
	rep.Incomplete++
	a.log.Info("batch not read completely, will read again", "batch", b.name, "attempt", r.Attempts, "why", why,
		"next", time.UnixMilli(r.NextMS).UTC().Format(time.RFC3339))
	if err := a.st.SetPullRetry(ctx, r); err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	if r.Attempts < a.opts.PullRetries {
		return nil
	}
	item := store.Quarantined{
		Kind: store.QuarantineBatch, Collection: coll, Batch: b.name, Row: -1,
		Reason: fmt.Sprintf("%s (%d reads since %s)", why, r.Attempts, time.UnixMilli(r.FirstMS).UTC().Format(time.RFC3339)),
	}
	return a.quarantine(ctx, []store.Quarantined{item}, rep)
}

// retryWait is the wait after the n-th failed read of a batch.
func (a *Agent) retryWait(n int) time.Duration {
	if n <= 1 {
		return 0 // the next sync: a batch still being written is done by then
	}
	w := a.opts.PullRetryWait
	for i := 2; i < n && w < maxRetryWait; i++ {
		w *= 2
	}
	return min(w, maxRetryWait)
}
