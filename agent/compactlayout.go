package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Compacted entries of a change log (see compact.go). An entry directly
// under changes/ named
//
//	<YYYYMMDDHH start>_<YYYYMMDDHH end>_c<generation>-<writer>
//
// holds, deduplicated by change_id, every change of the batches written
// into the hours [start, end) that were folded into it: a UTC hour, day or
// month, or, for an hour or batch written late (see landedEnd), from its
// hour to the end of the hour it landed in. Its name starts with the hour
// its range starts, so the top of changes/ sorts by time and a reader
// finds what it needs from names alone. Its end is never before the time a
// reader gives any of its batches (the later of the name's time and the
// directory's): a device skips an entry that ends before its watermark
// less the look-back. Every row's batch_rows is the entry's own row
// count, so a reader treats the entry like a batch: fewer rows than that
// means it is still being written (or its writer died), and it is read
// again later.

// compactedEntry is a compacted entry's name, parsed.
type compactedEntry struct {
	name       string
	start, end int64 // ms, [start, end)
	gen        int
	writer     string
}

// compactedName returns the name of a compacted entry.
func compactedName(start, end int64, gen int, writer string) string {
	return fmt.Sprintf("%s_%s_c%04d-%s", partitionOf(start), partitionOf(end), gen, writer)
}

// parseCompacted parses a compacted entry's name.
func parseCompacted(name string) (compactedEntry, bool) {
	parts := strings.Split(name, "_")
	if len(parts) != 3 {
		return compactedEntry{}, false
	}
	start, ok1 := parsePartition(parts[0])
	end, ok2 := parsePartition(parts[1])
	genText, writer, ok3 := strings.Cut(parts[2], "-")
	if !ok1 || !ok2 || !ok3 || end <= start || writer == "" || !strings.HasPrefix(genText, "c") {
		return compactedEntry{}, false
	}
	gen, err := strconv.Atoi(genText[1:])
	if err != nil || gen <= 0 {
		return compactedEntry{}, false
	}
	return compactedEntry{name: name, start: start, end: end, gen: gen, writer: writer}, true
}

// landedEnd returns the end of the range of an hour partition or batch
// whose hour ends at end and whose directory was last written at mtime:
// end, or, when the directory was written more than partitionSlack after
// it (a batch written late under an old name: a writer whose clock, or
// whose Drillbit's, is behind), the end of the hour it landed in. Folded
// into its own hour's entry, such a batch would be lost for a device that
// had passed that hour before the batch landed and did not sync before
// the fold: the device skips an entry ending before its watermark less the
// look-back, and reads a batch by the later of its name's time and its
// directory's.
func landedEnd(end, mtime int64) int64 {
	if mtime <= end+partitionSlack.Milliseconds() {
		return end
	}
	hour := time.Hour.Milliseconds()
	return mtime - mtime%hour + hour
}

// foldRange returns the range a closed entry covering [start, end) is
// folded into: its UTC month when the month ended before closedBefore,
// else its UTC day when the day did, else [its hour, end) when end is
// before closedBefore: an hour, or an hour written late (landedEnd) that
// its day cannot hold (levels, as litestream's: an hour's many batches
// are folded once, and a day then folds 24 entries); ok is false while
// none has (the entry stays as it is).
func foldRange(start, end, closedBefore int64) (from, to int64, ok bool) {
	t := time.UnixMilli(start).UTC()
	month := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	if next := month.AddDate(0, 1, 0).UnixMilli(); next <= closedBefore && end <= next {
		return month.UnixMilli(), next, true
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if next := day.AddDate(0, 0, 1).UnixMilli(); next <= closedBefore && end <= next {
		return day.UnixMilli(), next, true
	}
	if hour := time.Hour.Milliseconds(); end <= closedBefore {
		return start - start%hour, end, true
	}
	return 0, 0, false
}
