package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

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
var readColumns = []string{"change_id", "record_id", "op", "version", "parents", "device", "author", "edited_at", "batch_rows", "doc"}

// remoteBatch is a batch directory of another device found in Drill.
type remoteBatch struct {
	name string
	ms   int64
}

// pull reads every unseen batch of other devices newer than each
// collection's watermark minus the look-back window and applies it.
func (a *Agent) pull(ctx context.Context, rep *Report) error {
	type todo struct {
		coll    string
		batches []remoteBatch
		wm      int64
	}
	var work []todo
	total := 0
	for _, coll := range a.schema.LogNames() {
		wm, err := a.st.PullWatermark(ctx, coll)
		if err != nil {
			return fmt.Errorf("pull: %w", err)
		}
		batches, err := a.listBatches(ctx, coll, wm-a.opts.LookBack.Milliseconds())
		if err != nil {
			return err
		}
		work = append(work, todo{coll, batches, wm})
		total += len(batches)
	}
	done := 0
	a.progress("pull", done, total)
	for _, w := range work {
		newWM := w.wm
		capWM := int64(-1)
		for _, b := range w.batches {
			complete, err := a.pullBatch(ctx, w.coll, b, rep)
			if err != nil {
				return err
			}
			if complete {
				newWM = max(newWM, b.ms)
			} else if capWM < 0 || b.ms < capWM {
				capWM = b.ms
			}
			done++
			a.progress("pull", done, total)
		}
		if capWM >= 0 {
			newWM = min(newWM, capWM)
		}
		if newWM > w.wm {
			if err := a.st.SetPullWatermark(ctx, w.coll, newWM); err != nil {
				return fmt.Errorf("pull: %w", err)
			}
		}
	}
	return a.settleOpen(ctx, rep)
}

// listBatches lists the batch directories of a collection made by other
// devices, at or after fromMS, not seen yet, oldest first. A batch's time is
// the later of the time in its name and its directory's modification time
// (the Drillbit's file system clock).
func (a *Agent) listBatches(ctx context.Context, coll string, fromMS int64) ([]remoteBatch, error) {
	dir, err := a.table(coll, "/changes")
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	rows, err := a.dr.Query(ctx, "SHOW FILES IN "+dir)
	if err != nil {
		if isNotFound(err) {
			return nil, nil // nothing pushed to this collection yet
		}
		return nil, fmt.Errorf("pull: list batches of %s: %w", coll, err)
	}
	var out []remoteBatch
	for _, r := range rows {
		name := firstString(r, "name", "FILE_NAME", "file_name")
		if isDir, ok := firstValue(r, "isDirectory", "IS_DIRECTORY", "is_directory").(bool); ok && !isDir {
			continue
		}
		ms, device, ok := parseBatchName(name)
		if !ok || device == a.device {
			continue
		}
		// A batch retried long after it was named (a device offline
		// after a failed write) carries an old name but a new directory
		// time; the later of the two places it on the time line.
		if mt, err := asInt(firstValue(r, "modificationTime", "MODIFICATION_TIME", "modification_time")); err == nil {
			ms = max(ms, mt)
		}
		if ms < fromMS {
			continue
		}
		seen, err := a.st.Seen(ctx, coll, name)
		if err != nil {
			return nil, fmt.Errorf("pull: %w", err)
		}
		if !seen {
			out = append(out, remoteBatch{name: name, ms: ms})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
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

// pullBatch reads one batch page by page and applies it. It reports
// complete false (and does not mark the batch seen) when the batch holds
// fewer rows than it was written with: its CTAS is still running or failed,
// and a later pull reads it again.
func (a *Agent) pullBatch(ctx context.Context, coll string, b remoteBatch, rep *Report) (bool, error) {
	table, err := a.table(coll, "/changes/"+b.name)
	if err != nil {
		return false, fmt.Errorf("pull: %w", err)
	}
	cols := make([]string, len(readColumns))
	for i, c := range readColumns {
		cols[i] = "`" + c + "`"
	}
	read, want := 0, int64(-1)
	conflicted := map[string]bool{}
	for offset := 0; ; offset += a.opts.PageRows {
		q := fmt.Sprintf("SELECT %s FROM %s ORDER BY `change_id` LIMIT %d OFFSET %d",
			strings.Join(cols, ", "), table, a.opts.PageRows, offset)
		rows, err := a.dr.Query(ctx, q)
		if err != nil {
			if isNotFound(err) {
				return false, nil // dropped for a rewrite, or not visible yet
			}
			return false, fmt.Errorf("pull: read batch %s: %w", b.name, err)
		}
		changes := make([]store.Change, 0, len(rows))
		for i, r := range rows {
			c, n, err := changeOf(coll, r)
			if err != nil {
				return false, fmt.Errorf("pull: batch %s row %d: %w", b.name, offset+i, err)
			}
			want = n
			changes = append(changes, c)
		}
		read += len(rows)
		if len(changes) > 0 {
			res, err := a.st.ApplyRemote(ctx, b.name, changes)
			if err != nil {
				return false, fmt.Errorf("pull: %w", err)
			}
			ev := Applied{Collection: coll, Batch: b.name}
			for i, r := range res.Results {
				switch r.Outcome {
				case store.Accepted:
					ev.Changes = append(ev.Changes, AppliedChange{MSeq: r.MSeq, Conflicted: r.Conflicted, Change: changes[i]})
					rep.Pulled++
					if r.Conflicted {
						conflicted[changes[i].RecordID] = true
					}
				case store.Rejected:
					a.log.Warn("pulled change rejected", "batch", b.name, "change_id", r.ChangeID, "reason", r.Reason)
				}
			}
			if len(ev.Changes) > 0 {
				a.events.Emit(EventApplied, ev)
			}
		}
		if len(rows) < a.opts.PageRows {
			break
		}
	}
	if err := a.settle(ctx, coll, conflicted, rep); err != nil {
		return false, err
	}
	if want < 0 || int64(read) != want {
		rep.Incomplete++
		a.log.Info("batch incomplete, will read again", "batch", b.name, "rows", read, "written_with", want)
		return false, nil
	}
	if err := a.st.MarkSeen(ctx, coll, b.name, read); err != nil {
		return false, fmt.Errorf("pull: %w", err)
	}
	rep.PulledBatches++
	return true, nil
}

// changeOf decodes one batch row; n is the batch's row count.
func changeOf(coll string, r Row) (store.Change, int64, error) {
	str := func(k string) string { s, _ := r[k].(string); return s }
	c := store.Change{
		ChangeID:   str("change_id"),
		Collection: coll,
		RecordID:   str("record_id"),
		Op:         store.Op(str("op")),
		Version:    str("version"),
		Device:     str("device"),
		Author:     str("author"),
	}
	if p := str("parents"); p != "" {
		if err := json.Unmarshal([]byte(p), &c.Parents); err != nil {
			return c, 0, fmt.Errorf("parents %q: %w", p, err)
		}
	}
	if d, ok := r["doc"].(string); ok && d != "" {
		c.Doc = json.RawMessage(d)
	}
	var err error
	if r["edited_at"] != nil {
		if c.EditedAt, err = asInt(r["edited_at"]); err != nil {
			return c, 0, fmt.Errorf("edited_at: %w", err)
		}
	}
	n, err := asInt(r["batch_rows"])
	if err != nil {
		return c, 0, fmt.Errorf("batch_rows: %w", err)
	}
	return c, n, nil
}
