package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// readListFor is readList for batches of a format. JSON carries no types:
// a column every row of a file leaves null comes back as a nullable INT,
// and a sort over files that differ so refuses the schema change; so every
// column is cast.
func readListFor(format string) string {
	if format != BatchJSON {
		return readList()
	}
	cols := make([]string, len(readColumns))
	for i, c := range readColumns {
		switch c {
		case "edited_at", "batch_rows":
			cols[i] = fmt.Sprintf("CAST(`%[1]s` AS BIGINT) AS `%[1]s`", c)
		default:
			cols[i] = fmt.Sprintf("CAST(`%[1]s` AS VARCHAR(%[2]d)) AS `%[1]s`", c, maxTextCast)
		}
	}
	return strings.Join(cols, ", ")
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
