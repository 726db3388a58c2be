package agent

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// maxGroup bounds the batches read by one query, and maxGroupGlob the
// length of its glob (the path is one SQL identifier: the client raises
// Drill's limit, planner.identifier_max_length, to
// drill.IdentifierMaxLength). A group is named by a glob alternation,
//
//	`<coll>/changes/<hour>/{<batch>,<batch>,…}/*.parquet`
//
// so Drill lists and reads only the batches asked for: a dir0 filter over
// the whole partition made Drill list all of it at planning (an hour of a
// fleet's batches) for every query, and an OR list longer than 20 turns
// into a join its pruning does not see (docs/BENCHMARKS.md, "Group
// reads").
const (
	maxGroup     = 500
	maxGroupGlob = drill.IdentifierMaxLength - 1024
)

// globSafe reports whether a batch name can stand in a glob alternation:
// no character Hadoop's glob gives a meaning (a name that has one is read
// on its own).
func globSafe(name string) bool {
	return name != "" && !strings.ContainsAny(name, "{}[]*?\\,/^!")
}

// groupEnd returns the end of the run of batches from i that can be read
// by one query: listed in the same hour partition, glob-safe, at most
// maxGroup and maxGroupGlob.
func groupEnd(batches []remoteBatch, i int) int {
	part, _, ok := strings.Cut(batches[i].path, "/")
	if !ok || !globSafe(batches[i].name) {
		return i + 1
	}
	j, size := i+1, len(part)+len(batches[i].name)
	for j < len(batches) && j-i < maxGroup {
		p, _, ok := strings.Cut(batches[j].path, "/")
		size += len(batches[j].name) + 1
		if !ok || p != part || !globSafe(batches[j].name) || size > maxGroupGlob {
			break
		}
		j++
	}
	return j
}

// pullBatches reads batches of one hour partition (see groupEnd) and
// returns, for each, why it must be read again ("" when read whole), like
// pullBatch. Several batches are read with one query,
//
//	SELECT `filepath` AS `fs_path`, … FROM `<coll>/changes/<hour>/{<batch>,…}/*.parquet`
//	ORDER BY `filepath`, `change_id`
//
// so a device catching up reads a partition in a few queries instead of
// one per batch. Only Parquet files are named: Drill reads a selection of
// mixed formats as one of them, silently leaving the others out. A batch
// that gave no rows (written in another format, empty, or gone) is then
// read on its own, which tells which. When Drill cannot read the group
// (one batch is a 0-byte file, a directory vanished meanwhile) each half
// is read on its own, down to single batches, so one bad batch is
// quarantined or read again later and never holds the others back.
// Applying a change twice is harmless (the store is idempotent by change
// id), so falling back after some rows were applied loses and doubles
// nothing.
func (a *Agent) pullBatches(ctx context.Context, coll string, batches []remoteBatch, boundMS int64, rep *Report) ([]string, error) {
	whys := make([]string, len(batches))
	if len(batches) == 1 {
		why, err := a.pullBatch(ctx, coll, batches[0], boundMS, rep)
		whys[0] = why
		return whys, err
	}
	ok, err := a.readGroup(ctx, coll, batches, a.readFormats(), boundMS, rep, whys)
	if err != nil || ok {
		return whys, err
	}
	return a.pullEach(ctx, coll, batches, boundMS, rep)
}

// pullEach reads, after a group read Drill could not answer, the batches
// not read whole by then, each half on its own (pullBatches), down to
// single batches.
func (a *Agent) pullEach(ctx context.Context, coll string, batches []remoteBatch, boundMS int64, rep *Report) ([]string, error) {
	whys := make([]string, len(batches))
	var left []int // not read whole before the group read failed
	for i, b := range batches {
		seen, err := a.st.Seen(ctx, coll, b.name)
		if err != nil {
			return whys, fmt.Errorf("pull: %w", err)
		}
		if !seen {
			left = append(left, i)
		}
	}
	for half := range 2 {
		idx := left[half*len(left)/2 : (half+1)*len(left)/2]
		if len(idx) == 0 {
			continue
		}
		sub := make([]remoteBatch, len(idx))
		for k, i := range idx {
			sub[k] = batches[i]
		}
		subWhys, err := a.pullBatches(ctx, coll, sub, boundMS, rep)
		for k, i := range idx {
			whys[i] = subWhys[k]
		}
		if err != nil {
			return whys, err
		}
	}
	return whys, nil
}

// readGroup is pullBatches' query over several batches. It returns false
// when Drill could not read them together.
//
// A Drill that streams rows (RowReader) answers one query whose rows are
// applied as they arrive, PageRows at a time, while Drill sends the next
// ones; any other is read in pages of PageRows (LIMIT/OFFSET, each page a
// query that sorts the group again).
func (a *Agent) readGroup(ctx context.Context, coll string, batches []remoteBatch, formats []string, boundMS int64, rep *Report, whys []string) (bool, error) {
	part, _, _ := strings.Cut(batches[0].path, "/")
	g := &groupRead{a: a, coll: coll, boundMS: boundMS, rep: rep, whys: whys,
		reads: make(map[string]*batchRead, len(batches)), index: make(map[string]int, len(batches)),
		finished: make([]bool, len(batches))}
	names := make([]string, len(batches))
	for i, b := range batches {
		names[i] = b.name
		g.reads[b.name] = newBatchRead(b)
		g.index[b.name] = i
	}
	table, err := a.table(coll, "/changes/"+part+"/{"+strings.Join(names, ",")+"}"+batchFiles(formats[0]))
	if err != nil {
		return false, fmt.Errorf("pull: %w", err)
	}
	q := fmt.Sprintf("SELECT `filepath` AS `fs_path`, %s FROM %s ORDER BY `filepath`, `change_id`", readListFor(formats[0]), table)
	none := false // no file of this format among them
	unreadable := func(err error) (bool, error) {
		if errors.Is(err, errNotAsked) {
			return false, nil // not what was asked for: read each on its own
		}
		if g.failed {
			return false, err // the store's error, already said
		}
		if !batchUnreadable(ctx, err) {
			return false, fmt.Errorf("pull: read batches of %s: %w", part, err)
		}
		if g.cur == "" && isNotFound(err) {
			none = true
			return true, nil
		}
		a.log.Info("batches not readable together; reading each on its own", "collection", coll, "partition", part,
			"batches", len(batches), "why", cutText(drillMessage(err), 400))
		return false, nil
	}
	if rr, ok := a.dr.(RowReader); ok {
		if err := rr.QueryEach(ctx, q, func(r Row) error { return g.add(ctx, r) }); err != nil {
			if ok, err := unreadable(err); !ok || err != nil {
				return ok, err
			}
		}
		if err := g.apply(ctx); err != nil {
			return false, err
		}
	} else {
		for offset := 0; !none; offset += a.opts.PageRows {
			rows, err := a.dr.Query(ctx, fmt.Sprintf("%s LIMIT %d OFFSET %d", q, a.opts.PageRows, offset))
			if err != nil {
				if ok, err := unreadable(err); !ok || err != nil {
					return ok, err
				}
				break
			}
			for _, r := range rows {
				if err := g.add(ctx, r); err != nil {
					return unreadable(err)
				}
			}
			if err := g.apply(ctx); err != nil {
				return false, err
			}
			if len(rows) < a.opts.PageRows {
				break
			}
		}
	}
	var left []int // batches nothing of which came
	for i, b := range batches {
		if g.reads[b.name].read == 0 {
			g.finished[i] = true
			left = append(left, i)
			continue
		}
		if err := g.finish(ctx, b.name); err != nil {
			return false, err
		}
	}
	if len(left) == 0 {
		return true, nil
	}
	// Written in the other format, or empty, or vanished: the other
	// format's glob, then each on its own, which tells which.
	sub := make([]remoteBatch, len(left))
	for k, i := range left {
		sub[k] = batches[i]
	}
	subWhys := make([]string, len(sub))
	if len(sub) > 1 && len(formats) > 1 {
		ok, err := a.readGroup(ctx, coll, sub, formats[1:], boundMS, rep, subWhys)
		if err != nil {
			return false, err
		}
		if !ok {
			if subWhys, err = a.pullEach(ctx, coll, sub, boundMS, rep); err != nil {
				return false, err
			}
		}
	} else {
		for k, b := range sub {
			if subWhys[k], err = a.pullBatch(ctx, coll, b, boundMS, rep); err != nil {
				return false, err
			}
		}
	}
	for k, i := range left {
		whys[i] = subWhys[k]
	}
	return true, nil
}

// readFormats returns the formats a group read tries, in order: the
// device's own first (a fleet writes one), then the other.
func (a *Agent) readFormats() []string {
	if a.opts.BatchFormat == BatchJSON {
		return []string{BatchJSON, BatchParquet}
	}
	return []string{BatchParquet, BatchJSON}
}

// errNotAsked is a group read's row of a batch it did not ask for.
var errNotAsked = errors.New("a row of a batch not asked for")

// groupRead is readGroup's state: rows come ordered by batch; each batch's
// run is applied PageRows at a time, and a batch is finished when the next
// one's rows begin, so a sync stopped midway has marked seen what it read
// whole.
type groupRead struct {
	a        *Agent
	coll     string
	boundMS  int64
	rep      *Report
	whys     []string
	reads    map[string]*batchRead
	index    map[string]int
	finished []bool
	run      []Row  // rows of batch cur not applied yet
	cur      string // the batch whose rows came last
	failed   bool   // the store failed: not a reason to read each on its own
}

// add takes the next row.
func (g *groupRead) add(ctx context.Context, r Row) error {
	p, _ := r["fs_path"].(string)
	name := path.Base(p)
	if _, ok := g.reads[name]; !ok || p == "" {
		return errNotAsked
	}
	delete(r, "fs_path")
	if name != g.cur {
		if err := g.apply(ctx); err != nil {
			return err
		}
		if g.cur != "" {
			if err := g.finish(ctx, g.cur); err != nil {
				return err
			}
		}
		g.cur = name
	}
	g.run = append(g.run, r)
	if len(g.run) >= g.a.opts.PageRows {
		return g.apply(ctx)
	}
	return nil
}

// apply applies the rows of the current batch taken so far.
func (g *groupRead) apply(ctx context.Context) error {
	if len(g.run) == 0 {
		return nil
	}
	err := g.a.applyRows(ctx, g.coll, g.reads[g.cur], g.run, g.boundMS, g.rep)
	g.run = nil
	if err != nil {
		g.failed = true
	}
	return err
}

// finish finishes a batch once (see finishBatch).
func (g *groupRead) finish(ctx context.Context, name string) error {
	i := g.index[name]
	if g.finished[i] {
		return nil
	}
	g.finished[i] = true
	why, err := g.a.finishBatch(ctx, g.coll, g.reads[name], g.rep)
	g.whys[i] = why
	if err != nil {
		g.failed = true
	}
	return err
}
