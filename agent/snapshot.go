package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The snapshot of a collection's current state:
//
//	<collection>/snapshot/<YYYYMMDDHH>_<taken ms, 15 digits>
//
// A generation holds the leaves of every record (its current version, and
// every side of an open conflict, deletes included) over all changes in
// the partitions before the hour in its name (the cutoff), plus the batches
// written late into those partitions before it was taken (Drill's clock).
// Its rows have the columns of a batch, and batch_rows is the number of
// rows of the whole generation, so a device reads it like one batch.
//
// A refresh writes the next generation with CTAS from the newest one plus
// the changes after its cutoff, never from all history:
//
//	leaves( previous generation
//	        ∪ partitions in [previous cutoff, new cutoff)
//	        ∪ batches in older partitions whose directory changed since
//	          the previous generation was taken, less partitionSlack )
//
// deduplicated by change_id. A change is a leaf when no change of the set
// names it as a parent. Re-reading a change the previous generation holds
// as an ancestor is harmless as long as every change written after it is
// read too (its children name it); the late batches are chosen by
// directory time, which only grows along a record's history (a change is
// written after the changes it descends from were read), so that holds.
// Compacted files in old partitions are not re-read: compaction must fold
// only batches written before the newest generation was taken (see
// SnapshotInfo.Taken), which the refresh at the end of each pass ensures
// for the next one.
//
// The generation is verified (row count as written, change ids unique,
// batch_rows equal to the row count, no record lost since the previous
// generation) before the views are pointed at it; the generations older
// than the previous one are dropped (a reader may still be in the middle
// of the previous one).

// snapshotKeep is how many generations a refresh keeps.
const snapshotKeep = 2

// maxSnapshotParts bounds the hour partitions one CTAS folds into a
// generation: a first refresh over a long history is written in steps, so
// no statement scans more than this many hours of batches (a Drillbit
// with the default heap ran out of memory over 10,000 batch files).
const maxSnapshotParts = 24

// SnapshotInfo describes one generation of a collection's snapshot.
type SnapshotInfo struct {
	// Collection is the collection.
	Collection string `json:"collection"`
	// Name is the generation's directory under <collection>/snapshot/.
	Name string `json:"name"`
	// Cutoff is the start of the first hour partition the generation does
	// not hold; readers take the changes from there on from changes/.
	Cutoff time.Time `json:"cutoff"`
	// Taken is when the refresh that wrote it started, on Drill's clock:
	// batches written late into older partitions before it are in it.
	Taken time.Time `json:"taken"`
	// Rows is the number of leaves it holds.
	Rows int64 `json:"rows"`
	// Steps is how many generations the refresh wrote to reach it (0: the
	// newest was already up to date).
	Steps int `json:"steps"`
}

// snapshotGen is a generation as named in the workspace.
type snapshotGen struct {
	name     string
	cutoff   string // hour partition name
	cutoffMS int64
	takenMS  int64
	// from is where readers start in changes/ (dir0 >= from): the cutoff,
	// or the start of a compacted entry whose range spans it (see
	// readFrom); "" means the cutoff.
	from string
}

// readFrom returns where readers of g start in changes/, given the top of
// changes/: the cutoff, or earlier when a compacted entry
// ("<start hour>_<end hour>_c<generation>-<writer>", folded by `fieldsync
// compact`) starts before the cutoff and ends after it, since its name
// sorts before the cutoff while it holds changes after it. Reading the
// hours before the cutoff again is harmless: every change written after
// them is read too (a change's batch is never named before its parents').
func readFrom(g snapshotGen, top []Row) string {
	from := g.cutoff
	for _, r := range top {
		parts := strings.Split(firstString(r, "name", "FILE_NAME", "file_name"), "_")
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "c") {
			continue
		}
		_, ok1 := parsePartition(parts[0])
		_, ok2 := parsePartition(parts[1])
		if ok1 && ok2 && parts[0] < g.cutoff && parts[1] > g.cutoff {
			from = min(from, parts[0])
		}
	}
	return from
}

// parseSnapshotName reads a generation's name.
func parseSnapshotName(name string) (snapshotGen, bool) {
	cut, taken, ok := strings.Cut(name, "_")
	if !ok || len(taken) != 15 {
		return snapshotGen{}, false
	}
	start, ok := parsePartition(cut)
	if !ok {
		return snapshotGen{}, false
	}
	ms, err := strconv.ParseInt(taken, 10, 64)
	if err != nil || ms < 0 {
		return snapshotGen{}, false
	}
	return snapshotGen{name: name, cutoff: cut, cutoffMS: start, takenMS: ms}, true
}

// snapshotName names a generation.
func snapshotName(cutoff string, takenMS int64) string {
	return fmt.Sprintf("%s_%015d", cutoff, takenMS)
}

// info describes g.
func (g snapshotGen) info(coll string, rows int64, steps int) SnapshotInfo {
	return SnapshotInfo{Collection: coll, Name: g.name, Cutoff: time.UnixMilli(g.cutoffMS).UTC(),
		Taken: time.UnixMilli(g.takenMS).UTC(), Rows: rows, Steps: steps}
}

// snapshots lists a collection's generations, oldest first (none when
// there is no snapshot/ directory).
func (a *Agent) snapshots(ctx context.Context, coll string) ([]snapshotGen, error) {
	rows, err := a.listDir(ctx, coll, "/snapshot")
	if err != nil {
		return nil, fmt.Errorf("snapshot: list generations of %s: %w", coll, err)
	}
	var out []snapshotGen
	for _, r := range rows {
		if g, ok := parseSnapshotName(firstString(r, "name", "FILE_NAME", "file_name")); ok {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// newestSnapshot returns a collection's newest generation, if any.
func (a *Agent) newestSnapshot(ctx context.Context, coll string) (*snapshotGen, error) {
	gens, err := a.snapshots(ctx, coll)
	if err != nil || len(gens) == 0 {
		return nil, err
	}
	return &gens[len(gens)-1], nil
}

// Snapshot describes a collection's newest snapshot generation (Name is
// empty when there is none; Rows and Steps are not filled in). Compaction
// leaves alone a batch in an hour before its Cutoff whose directory is
// newer than its Taken less partitionSlack (10 minutes): the next refresh
// reads it as a late batch, which must still find it as a batch.
func (a *Agent) Snapshot(ctx context.Context, coll string) (SnapshotInfo, error) {
	g, err := a.newestSnapshot(ctx, coll)
	if err != nil || g == nil {
		return SnapshotInfo{Collection: coll}, err
	}
	return g.info(coll, 0, 0), nil
}

// RefreshSnapshot writes the next generation of a collection's snapshot,
// holding the changes of the hour partitions that end at or before before
// (and never closer to Drill's clock than the look-back, Options.LookBack:
// batches are still being written there), verifies it, points the
// collection's views at it and drops the generations older than the
// previous one. It reads the newest generation and what was written after
// it, never all history; a first refresh over a long history is written
// in steps of maxSnapshotParts hours. With nothing new since the newest
// generation it only rewrites the views. A collection with nothing in
// Drill yet gets no generation (Name is empty). Compaction calls it as
// the last step of a pass.
func (a *Agent) RefreshSnapshot(ctx context.Context, coll string, before time.Time) (SnapshotInfo, error) {
	takenMS, err := a.serverMS(ctx)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", coll, err)
	}
	target := partitionOf(min(before.UnixMilli(), takenMS-a.opts.LookBack.Milliseconds()))
	gens, err := a.snapshots(ctx, coll)
	if err != nil {
		return SnapshotInfo{}, err
	}
	// The newest generation that verifies is built upon: one a dead
	// Drillbit left half written is dropped (a generation is a cache of
	// the log: the one before, or all of changes/, rebuilds it).
	var prev *snapshotGen
	prevRows := int64(-1)
	for len(gens) > 0 && prev == nil {
		g := gens[len(gens)-1]
		rows, err := a.verifySnapshot(ctx, coll, g, -1, nil)
		switch {
		case err == nil:
			prev, prevRows = &g, rows
			target = max(target, prev.cutoff)
		case errors.Is(err, errSnapshotUnverified):
			// Another refresh may still be writing a young one: skip it,
			// drop it only once no CTAS can still be running.
			if takenMS-g.takenMS > DefaultCompactStale.Milliseconds() {
				a.log.Warn("dropping a snapshot generation that does not verify", "collection", coll, "generation", g.name, "err", err)
				if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+a.mustSnapshotTable(coll, g.name)); err != nil {
					return SnapshotInfo{}, fmt.Errorf("snapshot %s: drop %s: %w", coll, g.name, err)
				}
			}
			gens = gens[:len(gens)-1]
		default:
			return SnapshotInfo{}, err
		}
	}
	top, err := a.showFiles(ctx, coll, "")
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot %s: %w", coll, err)
	}
	if top == nil {
		return SnapshotInfo{Collection: coll}, nil
	}
	// The hours with something to fold: partitions, and entries named
	// from the hour they start at (compacted files).
	var parts []string
	for _, r := range top {
		hour, ok := entryHour(firstString(r, "name", "FILE_NAME", "file_name"))
		if ok && hour < target && (prev == nil || hour >= prev.cutoff) && !slices.Contains(parts, hour) {
			parts = append(parts, hour)
		}
	}
	sort.Strings(parts)
	late, err := a.lateBatches(ctx, coll, prev, top)
	if err != nil {
		return SnapshotInfo{}, err
	}
	spanned := false // a compacted entry spans the newest cutoff
	if prev != nil {
		prev.from = readFrom(*prev, top)
		spanned = prev.from != prev.cutoff
	}
	if prev != nil && len(parts) == 0 && len(late) == 0 && !spanned {
		if err := a.writeViews(ctx, coll, prev); err != nil {
			return SnapshotInfo{}, err
		}
		return prev.info(coll, prevRows, 0), nil
	}
	// Steps: each folds at most maxSnapshotParts partitions; the first also
	// takes the late batches (and, with no generation yet, the first
	// layout's batches, which sort before every partition).
	var cuts []string
	for i := maxSnapshotParts; i < len(parts); i += maxSnapshotParts {
		cuts = append(cuts, parts[i])
	}
	cuts = append(cuts, target)
	var rows int64
	for _, cut := range cuts {
		g, _ := parseSnapshotName(snapshotName(cut, takenMS))
		if prev != nil && g.name == prev.name {
			// A refresh within the same millisecond as the previous one.
			continue
		}
		rows, err = a.writeSnapshot(ctx, coll, prev, g, late)
		for try := 0; errors.Is(err, errSnapshotNameTaken) && try < 3; try++ {
			// Another compactor refreshed in the same millisecond of
			// Drill's clock: take the next one.
			takenMS++
			g, _ = parseSnapshotName(snapshotName(cut, takenMS))
			rows, err = a.writeSnapshot(ctx, coll, prev, g, late)
		}
		if err != nil {
			if isNotFound(err) && prev == nil {
				// An empty changes/ (Drill finds no table in a directory
				// without files): nothing to hold yet.
				return SnapshotInfo{Collection: coll}, nil
			}
			return SnapshotInfo{}, err
		}
		late = nil
		g.from = readFrom(g, top)
		if prev != nil {
			// An intermediate generation of this refresh: only the one
			// before the refresh needs to stay for readers in flight.
			a.dropSnapshot(ctx, coll, *prev, gens)
		}
		prev = &g
	}
	if err := a.writeViews(ctx, coll, prev); err != nil {
		return SnapshotInfo{}, err
	}
	gens, err = a.snapshots(ctx, coll)
	if err != nil {
		return SnapshotInfo{}, err
	}
	for i := 0; i < len(gens)-snapshotKeep; i++ {
		if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+a.mustSnapshotTable(coll, gens[i].name)); err != nil {
			a.log.Warn("could not drop an old snapshot generation", "collection", coll, "generation", gens[i].name, "err", err)
		}
	}
	a.log.Info("snapshot refreshed", "collection", coll, "generation", prev.name, "rows", rows, "steps", len(cuts))
	return prev.info(coll, rows, len(cuts)), nil
}

// entryHour returns the hour an entry directly under changes/ starts at:
// an hour partition's name, or the first ten digits of an entry named from
// its hour (a compacted file); not a batch of the first layout.
func entryHour(name string) (string, bool) {
	if len(name) < len(partitionLayout) {
		return "", false
	}
	if _, _, ok := parseBatchName(name); ok {
		return "", false
	}
	hour := name[:len(partitionLayout)]
	if _, ok := parsePartition(hour); !ok {
		return "", false
	}
	return hour, true
}

// dropSnapshot drops g unless it was there before the refresh began.
func (a *Agent) dropSnapshot(ctx context.Context, coll string, g snapshotGen, before []snapshotGen) {
	for _, b := range before {
		if b.name == g.name {
			return
		}
	}
	if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+a.mustSnapshotTable(coll, g.name)); err != nil {
		a.log.Warn("could not drop an intermediate snapshot generation", "collection", coll, "generation", g.name, "err", err)
	}
}

// mustSnapshotTable is the table of a generation; its name was parsed, so
// it is a valid path.
func (a *Agent) mustSnapshotTable(coll, name string) string {
	t, _ := a.table(coll, "/snapshot/"+name)
	return t
}

// startFromSnapshot is a device's first pull of a collection: it reads the
// newest snapshot generation (like one batch, so every row is validated
// and a bad one quarantined) and moves the pull watermark to its cutoff
// plus the look-back, so the pull then lists only the batches from the
// cutoff on (and those written late into older partitions since the
// cutoff, by directory time): a first sync costs the live data plus a
// tail, not the history. The cutoff is at least the look-back before the
// generation was taken, so the watermark is never ahead of what this sync
// reads. Late batches the generation already holds are read again; that is
// harmless, since every change written after them is read too (see the
// snapshot's layout notes), and the store ignores changes it holds. It
// returns the new watermark: 0 (read all history) when there is no
// generation or it could not be read whole.
func (a *Agent) startFromSnapshot(ctx context.Context, coll string, boundMS int64, rep *Report) (int64, error) {
	g, err := a.newestSnapshot(ctx, coll)
	if err != nil {
		if batchUnreadable(ctx, err) {
			a.log.Warn("snapshot not listed; reading the whole log", "collection", coll, "err", err)
			return 0, nil
		}
		return 0, fmt.Errorf("pull: %w", err)
	}
	if g == nil {
		return 0, nil
	}
	why, err := a.pullBatch(ctx, coll, remoteBatch{name: g.name, path: g.name, ms: g.cutoffMS, snapshot: true}, boundMS, rep)
	if err != nil {
		return 0, err
	}
	if why != "" {
		// What was applied stays: the whole log brings every change
		// after it too.
		a.log.Warn("snapshot not read whole; reading the whole log", "collection", coll, "generation", g.name, "why", why)
		return 0, nil
	}
	wm := min(g.cutoffMS+a.opts.LookBack.Milliseconds(), g.takenMS)
	if err := a.st.SetPullWatermark(ctx, coll, wm); err != nil {
		return 0, fmt.Errorf("pull: %w", err)
	}
	a.log.Info("started from the snapshot", "collection", coll, "generation", g.name)
	return wm, nil
}
