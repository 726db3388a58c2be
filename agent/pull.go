package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// Applied is the payload of a "sync:applied" event: changes from other
// devices now in the record mirror, with the mirror sequence each got, so a
// UI can apply them and later catch up from the last sequence it saw.
type Applied struct {
	Collection string          `json:"collection"`
	Batch      string          `json:"batch"`
	Changes    []AppliedChange `json:"changes"`
}

// AppliedChange is one change of an Applied event.
type AppliedChange struct {
	MSeq       uint64       `json:"mseq"`
	Conflicted bool         `json:"conflicted"`
	Change     store.Change `json:"change"`
}

// readColumns are the columns the agent reads back; typed field columns are
// never read, so batches written before a field was declared read the same.
var readColumns = []string{"change_id", "record_id", "op", "version", "parents", "device", "author", "edited_at", "batch_rows", schema.ResolutionColumn, "doc"}

// remoteBatch is a batch directory of another device found in Drill.
type remoteBatch struct {
	name string
	path string // under changes/: "<hour>/<name>", "<name>", or "" when unknown
	ms   int64
	// snapshot marks a snapshot generation (path: its name under
	// snapshot/), read like a batch by a new device.
	snapshot bool
}

// paths returns where to read the batch, in order: where it was listed,
// else its partition, then the first layout.
func (b remoteBatch) paths() []string {
	if b.path != "" {
		return []string{b.path}
	}
	return []string{batchPath(b.name), b.name}
}

// pullTodo is what a pull reads of one collection: the batches listed and
// the watermark they were listed from.
type pullTodo struct {
	coll    string
	batches []remoteBatch
	wm      int64
}

// pullListing is a pull's listing made ahead of it (see listAhead).
type pullListing struct {
	work    []pullTodo
	waiting int // batches waiting to be read again, not due yet
	err     error
}

// errListLater stops a listing ahead of the pull where the pull itself
// must list: a new device starting from a snapshot applies it first.
var errListLater = errors.New("listed by the pull itself")

// listAhead starts the pull's listing beside the push, after reading
// Drill's clock (which both need; an error there is the sync's). Listing
// (SHOW FILES, ~3 ms an entry on a local file system, all of it Drill's
// planning) depends on nothing the push writes: a device never reads its
// own batches, and listed before the push they are not listed at all, so
// the listing's cost does not grow with the push. Only reads happen here;
// the pull applies after the push. What another device writes after the
// listing is listed by the next sync, within the look-back, as any batch
// that lands after a listing; a listed batch compacted away before the
// pull reads it is read again later like any unreadable one. The outcome
// arrives on the channel (nil when there is nothing to pull); the pull
// lists again when it failed.
func (a *Agent) listAhead(ctx context.Context, clk *syncClock) (<-chan pullListing, error) {
	if len(a.schema.Names()) == 0 {
		return nil, nil
	}
	if err := a.readClock(ctx, clk); err != nil {
		return nil, err
	}
	bound := a.pullBound(clk)
	out := make(chan pullListing, 1)
	go func() {
		var rep Report
		work, err := a.listPull(ctx, &rep, bound, true)
		out <- pullListing{work: work, waiting: rep.Waiting, err: err}
	}()
	return out, nil
}

// listPull lists, for each collection, the batches the pull reads (see
// pull). A collection never pulled yet starts from its newest snapshot,
// which applies it; ahead (listAhead) returns errListLater there instead.
func (a *Agent) listPull(ctx context.Context, rep *Report, bound int64, ahead bool) ([]pullTodo, error) {
	var work []pullTodo
	for _, coll := range a.schema.LogNames() {
		wm, err := a.st.PullWatermark(ctx, coll)
		if err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
		if wm == 0 {
			if ahead {
				g, err := a.newestSnapshot(ctx, coll)
				if err != nil || g != nil {
					return nil, errListLater
				}
			} else if wm, err = a.startFromSnapshot(ctx, coll, bound, rep); err != nil {
				return nil, err
			}
		}
		batches, err := a.listBatches(ctx, coll, wm-a.opts.LookBack.Milliseconds())
		if err != nil {
			return nil, err
		}
		if batches, err = a.withRetries(ctx, coll, batches, rep); err != nil {
			return nil, err
		}
		work = append(work, pullTodo{coll, batches, wm})
	}
	return work, nil
}

// pull reads every unseen batch of other devices newer than each
// collection's watermark minus the look-back window, and the batches
// waiting to be read again whatever their age, and applies them. A bad row
// is quarantined and the rest of its batch applied; a batch that cannot be
// read is read again later (see retryLater) and never holds back the
// watermark or the batches after it.
func (a *Agent) pull(ctx context.Context, rep *Report, clk *syncClock, listed *pullListing) error {
	if len(a.schema.Names()) == 0 {
		return nil
	}
	if err := a.readClock(ctx, clk); err != nil {
		return err
	}
	bound := a.pullBound(clk)
	var work []pullTodo
	if listed != nil && listed.err == nil {
		// Listed beside the push.
		work = listed.work
		rep.Waiting += listed.waiting
	} else {
		if listed != nil && !errors.Is(listed.err, errListLater) {
			a.log.Debug("listing ahead of the pull failed; listing again", "err", listed.err)
		}
		var err error
		if work, err = a.listPull(ctx, rep, bound, false); err != nil {
			return err
		}
	}
	total := 0
	for _, w := range work {
		total += len(w.batches)
	}
	done := 0
	a.progress("pull", done, total)
	for _, w := range work {
		newWM := w.wm
		for i := 0; i < len(w.batches); {
			j := groupEnd(w.batches, i)
			whys, err := a.pullBatches(ctx, w.coll, w.batches[i:j], bound, rep)
			if err != nil {
				return err
			}
			for k, b := range w.batches[i:j] {
				if whys[k] != "" {
					settled, err := a.settleGone(ctx, w.coll, b, whys[k], listedUpTo(clk))
					if err != nil {
						return err
					}
					if !settled {
						if err := a.retryLater(ctx, w.coll, b, whys[k], rep); err != nil {
							return err
						}
					}
				}
				// A batch to read again is tracked in the store by
				// name, so the watermark moves past it: it holds
				// nothing back.
				newWM = max(newWM, b.ms)
				done++
			}
			a.progress("pull", done, total)
			i = j
		}
		// Everything that existed when this sync read the clocks was
		// listed: the watermark moves up to that moment even when nothing
		// was read, so a device that pulls little (alone on a collection,
		// or only pushing) lists the last hours, never all of changes/,
		// and forgets what it saw. The earlier of Drill's clock and this
		// computer's: one of them ahead never moves it past a batch not
		// yet written (one named up to MaxBatchNameAge earlier is still
		// inside the look-back).
		newWM = max(newWM, listedUpTo(clk))
		if newWM > w.wm {
			if err := a.st.SetPullWatermark(ctx, w.coll, newWM); err != nil {
				return fmt.Errorf("pull: %w", err)
			}
		}
		if err := a.pruneSeen(ctx, w.coll, newWM); err != nil {
			return err
		}
	}
	return a.settleOpen(ctx, rep)
}

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

func firstValue(r Row, keys ...string) any {
	for _, k := range keys {
		if v, ok := r[k]; ok {
			return v
		}
	}
	return nil
}

func firstString(r Row, keys ...string) string {
	s, _ := firstValue(r, keys...).(string)
	return s
}

// pullBatch reads one batch page by page, quarantines the rows that fail
// validation (or that the store refuses) and applies the others. When the
// whole batch was read it marks it seen and returns ""; otherwise it
// returns why the batch must be read again: Drill could not read it (a
// 0-byte or damaged file, a directory still being written or just
// dropped), it holds no rows, or fewer than it was written with. Errors
// that are not the batch's (Drill unreachable, the sync cancelled, the
// store failing) end the pull.
func (a *Agent) pullBatch(ctx context.Context, coll string, b remoteBatch, boundMS int64, rep *Report) (string, error) {
	paths := b.paths()
	dir := "/changes/"
	if b.snapshot {
		dir = "/snapshot/"
	}
	table, err := a.table(coll, dir+paths[0])
	if err != nil {
		return "", fmt.Errorf("pull: %w", err)
	}
	br := newBatchRead(b)
	for offset := 0; ; offset += a.opts.PageRows {
		q := fmt.Sprintf("SELECT %s FROM %s ORDER BY `change_id` LIMIT %d OFFSET %d",
			readList(), table, a.opts.PageRows, offset)
		rows, err := a.dr.Query(ctx, q)
		if err != nil && offset == 0 && len(paths) > 1 && isNotFound(err) {
			// Not where it was looked for first: try the next place.
			paths = paths[1:]
			if table, err = a.table(coll, dir+paths[0]); err != nil {
				return "", fmt.Errorf("pull: %w", err)
			}
			offset = -a.opts.PageRows
			continue
		}
		if err != nil {
			if offset == 0 && !b.snapshot && isNotFound(err) {
				return whyGone + ": " + cutText(drillMessage(err), 300), nil
			}
			if batchUnreadable(ctx, err) {
				return "Drill could not read the batch: " + cutText(drillMessage(err), 400), nil
			}
			return "", fmt.Errorf("pull: read batch %s: %w", b.name, err)
		}
		if err := a.applyRows(ctx, coll, br, rows, boundMS, rep); err != nil {
			return "", err
		}
		if len(rows) < a.opts.PageRows {
			break
		}
	}
	return a.finishBatch(ctx, coll, br, rep)
}

// readList is the SELECT list of readColumns.
func readList() string {
	cols := make([]string, len(readColumns))
	for i, c := range readColumns {
		cols[i] = "`" + c + "`"
		if c == schema.ResolutionColumn {
			// Batches written before the column existed lack it (Drill
			// reads a nullable INT): cast, so batches read together
			// keep one schema.
			cols[i] = fmt.Sprintf("CAST(`%[1]s` AS VARCHAR(%[2]d)) AS `%[1]s`", c, resolutionTextMax)
		}
	}
	return strings.Join(cols, ", ")
}

// batchRead is what a pull has read of one batch so far.
type batchRead struct {
	b          remoteBatch
	read       int   // rows read
	want       int64 // the batch's batch_rows, -1 until a good row says
	conflicted map[string]bool
}

func newBatchRead(b remoteBatch) *batchRead {
	return &batchRead{b: b, want: -1, conflicted: map[string]bool{}}
}

// applyRows checks the next rows of a batch, quarantines the rows that
// fail (or that the store refuses) and applies the others.
func (a *Agent) applyRows(ctx context.Context, coll string, br *batchRead, rows []Row, boundMS int64, rep *Report) error {
	name := br.b.name
	changes := make([]store.Change, 0, len(rows))
	var bad []store.Quarantined
	var raw []Row
	var at []int
	for i, r := range rows {
		row := br.read + i
		c, n, err := decodeRow(coll, r)
		if err == nil && br.want >= 0 && n != br.want {
			err = rowError("batch_rows %d differs from the %d of the batch's other rows", n, br.want)
		}
		if err == nil {
			err = a.checkChange(c, boundMS)
		}
		if err != nil {
			bad = append(bad, quarantinedRow(coll, name, row, r, err))
			continue
		}
		br.want = n
		changes = append(changes, c)
		raw, at = append(raw, r), append(at, row)
	}
	br.read += len(rows)
	if len(changes) > 0 {
		res, err := a.st.ApplyRemote(ctx, name, changes)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
		ev := Applied{Collection: coll, Batch: name}
		for i, r := range res.Results {
			switch r.Outcome {
			case store.Accepted:
				ev.Changes = append(ev.Changes, AppliedChange{MSeq: r.MSeq, Conflicted: r.Conflicted, Change: changes[i]})
				rep.Pulled++
				if r.Conflicted {
					br.conflicted[changes[i].RecordID] = true
				}
			case store.Rejected:
				q := quarantinedRow(coll, name, at[i], raw[i], errors.New(r.Reason))
				q.ChangeID = changes[i].ChangeID
				bad = append(bad, q)
			}
		}
		if len(ev.Changes) > 0 {
			a.events.Emit(EventApplied, ev)
		}
	}
	return a.quarantine(ctx, bad, rep)
}

// finishBatch settles the conflicts a batch made and marks it seen when it
// was read whole; otherwise it returns why it must be read again.
func (a *Agent) finishBatch(ctx context.Context, coll string, br *batchRead, rep *Report) (string, error) {
	if err := a.settle(ctx, coll, br.conflicted, rep); err != nil {
		return "", err
	}
	switch {
	case br.read == 0 && !br.b.snapshot: // a generation may be empty
		return "the batch holds no rows (an empty directory or a write that failed)", nil
	case br.want >= 0 && int64(br.read) != br.want:
		return fmt.Sprintf("the batch holds %d of the %d rows it was written with (still being written, or the write failed)", br.read, br.want), nil
	}
	if err := a.st.MarkSeen(ctx, coll, br.b.name, br.read); err != nil {
		return "", fmt.Errorf("pull: %w", err)
	}
	rep.PulledBatches++
	return "", nil
}

// quarantinedRow is the quarantine item of a refused row.
func quarantinedRow(coll, batch string, row int, r Row, err error) store.Quarantined {
	id, _ := r["change_id"].(string)
	return store.Quarantined{
		Kind: store.QuarantineRow, Collection: coll, Batch: batch, Row: row, ChangeID: id,
		Reason: err.Error(), Content: rowContent(r),
	}
}

// quarantine records refused rows or batches and logs them.
func (a *Agent) quarantine(ctx context.Context, items []store.Quarantined, rep *Report) error {
	if len(items) == 0 {
		return nil
	}
	n, err := a.st.Quarantine(ctx, items)
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	rep.Quarantined += n
	for _, q := range items {
		a.log.Warn("pulled data quarantined", "kind", q.Kind, "collection", q.Collection, "batch", q.Batch,
			"row", q.Row, "change_id", q.ChangeID, "reason", q.Reason)
	}
	return nil
}
