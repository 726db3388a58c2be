package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/store"
)

// ErrBatchMismatch is wrapped when a batch in Drill does not hold exactly the
// changes of its manifest (a partial or foreign write); the agent drops it and
// writes it again.
var ErrBatchMismatch = errors.New("batch in Drill does not match its manifest")

// ErrBatchForeign is wrapped when a batch's name is taken in Drill by rows
// this device did not write, which happens when two devices share a device
// id. The agent leaves such a batch alone and keeps failing with this error
// until IT gives each device its own id.
var ErrBatchForeign = errors.New("batch name is taken in Drill by another device's changes (two devices with the same device id?)")

// MaxTypedText bounds (in bytes) a text value copied into its typed column
// (Drill's VARCHAR limit, which the views cast to); a longer
// one is only in doc (the column is NULL). Drill plans a CTAS in time that
// grows faster than linearly with the size of its SQL, so copying a long
// note twice would make its batch much slower to write.
const MaxTypedText = 65535

// scanPage is how many journal entries a push reads per store call.
const scanPage = 1000

// MirrorKeep is how many of the newest applied changes the store keeps in
// its mirror index after a push, for a page catching up; a page further
// behind rebuilds from the records (as after a restore). Older entries are
// what a synced store no longer needs: at 100,000 changes they were a sixth
// of the file (docs/BENCHMARKS.md).
const MirrorKeep = 10_000

// push writes every pending journal entry to Drill: first the batches left
// open by an earlier attempt, then new ones.
func (a *Agent) push(ctx context.Context, rep *Report, clk *syncClock) error {
	stats, err := a.st.Stats(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	p := &pushRun{a: a, rep: rep, total: int(stats.Pending), groups: map[string]*pendingBatch{}, clk: clk,
		slots: make(chan struct{}, a.opts.PushParallel)}
	a.progress("push", p.done, p.total)
	if err := p.writeOpen(ctx); err != nil {
		return err
	}
	if err := p.writeNew(ctx); err != nil {
		return err
	}
	cursor, err := a.st.PushCursor(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if cursor > 0 {
		if _, err := a.st.Truncate(ctx, cursor); err != nil {
			return fmt.Errorf("push: %w", err)
		}
	}
	if _, err := a.st.TrimMirror(ctx, MirrorKeep); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	return nil
}

// pushRun is one push in progress: what it reports, the sync's read of the
// clocks (Drill's names its new batches and bounds the versions it may
// write), the new batches being filled, one per collection, and the new
// batches being written.
//
// New batches are written by a pipeline: while Drill plans and runs one
// CTAS, the push reads the journal, plans the next batch in the store and
// builds its SQL, and with Options.PushParallel above 1 sends it too. Every
// batch is planned (its manifest stored) before its CTAS is sent, and the
// push cursor only moves over a run of verified batches (store.MarkBatch),
// so batches finishing out of order change nothing a crash could see. The
// first failure stops new sends; the batches in flight finish and the
// failure is returned once they have.
type pushRun struct {
	a      *Agent
	rep    *Report
	clk    *syncClock
	groups map[string]*pendingBatch
	order  []string // collections in the order their first entry came

	slots chan struct{} // one token per batch in flight
	wg    sync.WaitGroup

	mu          sync.Mutex // guards what batches in flight report
	done, total int        // journal entries written, of those pending at the start
	err         error      // the first failure of a batch in flight
}

type pendingBatch struct {
	entries []store.JournalEntry
	bytes   int
}

// writeOpen finishes the batches left open by an earlier attempt.
func (p *pushRun) writeOpen(ctx context.Context) error {
	open, err := p.a.st.OpenBatches(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if len(open) > 0 {
		// Drill's clock tells whether an open batch's name is stale.
		if err := p.a.readClock(ctx, p.clk); err != nil {
			return err
		}
	}
	for _, b := range open {
		err := p.a.writeBatch(ctx, p.clk, b)
		var de *damagedEntryError
		if errors.As(err, &de) {
			// Leave the batch planned: the others go on, and IT salvages
			// the store (the batch is reported on every sync).
			p.unpushable(de.entry.Change.ChangeID, de.entry.Seq, errors.New(de.entry.Damage))
			continue
		}
		if errors.Is(err, ErrBatchBeingWritten) {
			// Left planned for a later sync (see MaxBatchNameAge); the
			// others go on.
			p.a.log.Info("batch left for a later sync", "batch", b.Name, "err", err)
			continue
		}
		if err != nil {
			return err
		}
		p.written(len(b.Seqs))
	}
	return nil
}

// written counts a batch of n journal entries written to Drill.
func (p *pushRun) written(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rep.Batches++
	p.rep.Pushed += n
	p.done += n
	p.a.progress("push", p.done, p.total)
}

// failed returns the first failure of a batch sent by the pipeline.
func (p *pushRun) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// send writes a planned batch of entries whose SQL is built, in the
// background once a slot is free. It returns the failure of an earlier
// batch instead of sending (the batch stays planned; the next sync writes
// it).
func (p *pushRun) send(ctx context.Context, b store.Batch, entries []store.JournalEntry, sel string) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("push: %w", ctx.Err())
	}
	if err := p.failed(); err != nil {
		<-p.slots
		return err
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.slots }()
		if err := p.a.writePlanned(ctx, p.clk, b, entries, sel); err != nil {
			p.mu.Lock()
			if p.err == nil {
				p.err = err
			}
			p.mu.Unlock()
			return
		}
		p.written(len(b.Seqs))
	}()
	return nil
}

// writeNew puts the journal entries after the push cursor that are in no
// batch into new batches, and writes each batch when it is full and the
// last ones at the end.
func (p *pushRun) writeNew(ctx context.Context) (err error) {
	defer func() {
		// Wait for the batches in flight, whatever happened here: their
		// outcome is in the store, and a failure of theirs comes first.
		p.wg.Wait()
		if ferr := p.failed(); ferr != nil {
			err = ferr
		}
	}()
	after, err := p.a.st.PushCursor(ctx)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	for {
		entries, err := p.a.st.Pending(ctx, after, scanPage)
		if err != nil {
			return fmt.Errorf("push: %w", err)
		}
		for _, e := range entries {
			after = e.Seq
			if e.Batch != "" {
				continue // in a batch already (verified, or handled above)
			}
			if err := p.add(ctx, e); err != nil {
				return err
			}
		}
		if len(entries) < scanPage {
			break
		}
	}
	for _, coll := range p.order {
		if err := p.flush(ctx, coll); err != nil {
			return err
		}
	}
	return nil
}

// add puts one journal entry into its collection's batch, writing that
// batch first when the entry would make it too long or too big. An entry
// that Drill cannot hold is reported as unpushable and left out.
func (p *pushRun) add(ctx context.Context, e store.JournalEntry) error {
	a := p.a
	if e.Damage != "" {
		p.unpushable(e.Change.ChangeID, e.Seq, errors.New(e.Damage))
		return nil
	}
	if err := a.readClock(ctx, p.clk); err != nil {
		return err
	}
	size, err := a.checkEncodable(e.Change)
	if err == nil {
		// What every puller checks: never write what a pull would refuse.
		err = a.checkChange(e.Change, a.pushBound(p.clk))
	}
	if err != nil {
		p.unpushable(e.Change.ChangeID, e.Seq, err)
		return nil
	}
	coll := e.Change.Collection
	g := p.groups[coll]
	if g == nil {
		g = &pendingBatch{}
		p.groups[coll] = g
		p.order = append(p.order, coll)
	}
	if len(g.entries) > 0 && (len(g.entries) >= a.opts.BatchRows || g.bytes+size > a.opts.BatchBytes) {
		if err := p.flush(ctx, coll); err != nil {
			return err
		}
		g = &pendingBatch{}
		p.groups[coll] = g
	}
	g.entries = append(g.entries, e)
	g.bytes += size
	return nil
}

// unpushable reports a journal entry that cannot be written to Drill; it
// stays in the journal and the others are pushed.
func (p *pushRun) unpushable(changeID string, seq uint64, err error) {
	who := changeID
	if who == "" {
		who = fmt.Sprintf("journal entry %d", seq)
	}
	p.rep.Unpushable = append(p.rep.Unpushable, fmt.Sprintf("%s: %v", who, err))
	p.a.log.Warn("change cannot be pushed", "change_id", changeID, "seq", seq, "err", err)
}

// damagedEntryError is returned by writeBatch for a planned batch holding a
// journal entry that cannot be read back.
type damagedEntryError struct{ entry store.JournalEntry }

func (e *damagedEntryError) Error() string { return e.entry.Damage }

// flush plans the batch being filled for coll in the store, builds its SQL
// and sends it (see pushRun).
func (p *pushRun) flush(ctx context.Context, coll string) error {
	g := p.groups[coll]
	if g == nil || len(g.entries) == 0 {
		return nil
	}
	delete(p.groups, coll)
	seqs := make([]uint64, len(g.entries))
	for i, e := range g.entries {
		seqs[i] = e.Seq
	}
	// Named by Drill's clock now, not when the sync read it: a long push
	// must not plan names that are stale already (see MaxBatchNameAge).
	name := batchName(p.a.drillNow(p.clk), p.a.device, seqs[0])
	if err := p.failed(); err != nil {
		return err // plan nothing more after a failure
	}
	b, err := p.a.st.PlanBatch(ctx, store.BatchPlan{Name: name, Collection: coll, Seqs: seqs})
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	sel, err := p.a.selectBatch(b.Collection, g.entries)
	if err != nil {
		return p.a.failBatch(ctx, b, err)
	}
	return p.send(ctx, b, g.entries, sel)
}

// batchName is "<server ms, 15 digits>_<device>_<first seq, 12 digits>".
func batchName(ms int64, device string, firstSeq uint64) string {
	return fmt.Sprintf("%015d_%s_%012d", ms, device, firstSeq)
}

// parseBatchName returns the time and device of a batch name.
func parseBatchName(name string) (ms int64, device string, ok bool) {
	first := strings.IndexByte(name, '_')
	last := strings.LastIndexByte(name, '_')
	if first <= 0 || last <= first+1 || last == len(name)-1 {
		return 0, "", false
	}
	ms, err := strconv.ParseInt(name[:first], 10, 64)
	if err != nil || ms < 0 {
		return 0, "", false
	}
	if _, err := strconv.ParseUint(name[last+1:], 10, 64); err != nil {
		return 0, "", false
	}
	return ms, name[first+1 : last], true
}

// serverMS asks Drill for its clock (see drillClock), or Options.DrillClock.
func (a *Agent) serverMS(ctx context.Context) (int64, error) {
	ms, err := clockMS(ctx, a.dr, a.opts.DrillClock)
	if err != nil {
		return 0, fmt.Errorf("sync: %w", err)
	}
	return ms, nil
}

// clockMS is simulated's time when it is set (simulations and tests), else
// Drill's clock.
func clockMS(ctx context.Context, dr Drill, simulated func() time.Time) (int64, error) {
	if simulated != nil {
		return simulated().UnixMilli(), nil
	}
	return drillClock(ctx, dr)
}

// drillClock asks Drill for its clock (TIMESTAMP comes back as epoch ms), so
// batch names from every device share one time line whatever the devices'
// clocks say.
func drillClock(ctx context.Context, dr Drill) (int64, error) {
	rows, err := dr.Query(ctx, "SELECT CURRENT_TIMESTAMP AS `ms` FROM (VALUES(1))")
	if err != nil {
		return 0, fmt.Errorf("read the Drill server clock: %w", err)
	}
	if len(rows) != 1 {
		return 0, fmt.Errorf("read the Drill server clock: %d rows", len(rows))
	}
	ms, err := asInt(rows[0]["ms"])
	if err != nil {
		return 0, fmt.Errorf("read the Drill server clock: %w", err)
	}
	return ms, nil
}

func (a *Agent) table(collection, rest string) (string, error) {
	p, err := drill.TablePath(a.plugin, a.workspace, collection+rest)
	if err != nil {
		return "", fmt.Errorf("table of %s: %w", collection, err)
	}
	return p, nil
}
