package agent

import (
	"context"
	"strconv"
	"time"
)

// The layout of a collection's change log in the workspace:
//
//	<collection>/changes/<YYYYMMDDHH>/<batch>   a batch, under the UTC hour of
//	                                            the Drill time in its name
//	<collection>/changes/<batch>                a batch of the first layout
//	                                            (read, never written)
//
// A device lists the top of changes/ once per sync (hour partitions and
// legacy batches; bounded once compaction folds closed hours away) and
// then only the partitions that can hold a batch it has not seen: those
// whose hour ends after its watermark minus the look-back, or whose
// directory changed since then (a batch written late, under an old name).

// partitionLayout is the format of an hour partition's name.
const partitionLayout = "2006010215"

// partitionSlack widens the partitions listed by directory time: a batch's
// own directory can be a little newer than its partition's (its files are
// written after the directory is made).
const partitionSlack = 10 * time.Minute

// seenMargin is kept beyond the look-back before seen batches are
// forgotten (see Store.PruneSeen): a batch older than the watermark minus
// the look-back is no longer listed, and the margin covers clock skew
// between this computer and Drill.
const seenMargin = time.Hour

// partitionOf returns the hour partition of a batch time.
func partitionOf(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(partitionLayout)
}

// parsePartition returns the start of an hour partition, from its name.
func parsePartition(name string) (startMS int64, ok bool) {
	if len(name) != len(partitionLayout) {
		return 0, false
	}
	if _, err := strconv.ParseUint(name, 10, 64); err != nil {
		return 0, false
	}
	t, err := time.Parse(partitionLayout, name)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}

// batchPath returns where a batch is written under changes/.
func batchPath(name string) string {
	ms, _, ok := parseBatchName(name)
	if !ok {
		return name
	}
	return partitionOf(ms) + "/" + name
}

// Selections of the log that read its Parquet files only. Drill reads a
// selection holding files of several formats (a batch an analyst wrote
// with store.format = json or csv among fieldsync's Parquet) as one of
// them: it fails the query or, when a JSON file is listed first, silently
// returns the JSON rows alone. So every read over many entries names
// Parquet files by a glob; the directories keep their dirN columns (the
// selection root is the path before the first wildcard). A device reads
// a JSON batch through the JSON glob (readGroup) and anything else on its
// own (pullBatch); compaction rewrites JSON batches as Parquet
// (compactjson.go) and leaves an hour holding any other format in place
// (Compactor.verify).
const (
	// logGlob is the whole log: compacted entries and batches of the
	// first layout (files one level down) and the batches of the hour
	// partitions (two levels down). Either level may be empty.
	logGlob = "/changes/*/{*.parquet,*/*.parquet}"
	// entryFiles and partitionFiles follow the name of an entry or an
	// hour partition.
	entryFiles     = "/*.parquet"
	partitionFiles = "/*/*.parquet"
)

// entryGlob returns the Parquet files of an entry at the top of a log
// (name relative to the log): an hour partition's batches, or a compacted
// entry's or first-layout batch's own files.
func entryGlob(name string) string {
	if _, ok := parsePartition(name); ok {
		return name + partitionFiles
	}
	return name + entryFiles
}

// The formats batches are written in (Options.BatchFormat). A device reads
// both whatever it writes; compacted entries and snapshots are Parquet.
const (
	BatchParquet = "parquet"
	BatchJSON    = "json"
)

// batchFiles returns the glob of a batch's files in a format.
func batchFiles(format string) string { return "/*." + format }

// writeBatchSQL runs the CTAS of a batch in the device's batch format. A
// JSON batch keeps its null fields (store.json.writer.skip_null_fields):
// a column every row leaves null still comes back, as nulls.
func (a *Agent) writeBatchSQL(ctx context.Context, sql string) ([]Row, error) {
	if a.opts.BatchFormat != BatchJSON {
		return a.dr.Query(ctx, sql)
	}
	return a.dr.(OptionQuerier).QueryWith(ctx, sql, map[string]string{
		"store.format": BatchJSON, "store.json.writer.skip_null_fields": "false"})
}
