package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/schema"
)

// The audit views beside <collection>_current and <collection>_conflicts:
//
//   - <collection>_history: every version of every record, once per change
//     id, with who (author), when (edited_at), which device, its parents, the
//     resolution's audit entry when the version is a resolution, and the doc.
//   - <collection>_resolutions: who resolved which record, how, when and
//     from which device, one row per resolution change.
//
// Both read the change log itself (the audit entry rides on its resolution
// change, schema.ResolutionColumn), so they need nothing else in Drill and
// compaction of changes/ folds them with the rest. Copies of a change in
// one hour partition (a retried batch) are deduplicated with GROUP BY over
// the change's metadata with the hour first, never a window (a compacted
// entry is a directory of its own, named by its range, so while a pass has
// written it and not yet dropped its sources a change shows under both;
// docs/ANALYSTS.md says so): Drill pushes a filter on a grouping column
// through an aggregate, not through a window, so a filter on `hour`
// (the partition, dir0) prunes directories and one on record_id reaches
// the Parquet row-group filter. The large texts (doc, the resolution) are
// ANY_VALUE of their group.

// auditViewColumns are the columns of each audit view, in order; a view
// that has them all is never replaced.
func auditViewColumns() map[string][]string {
	return map[string][]string{
		"_history": {"hour", "record_id", "version", "change_id", "op", "device", "author",
			"edited_at", "parents", "resolution", "doc"},
		"_resolutions": {"hour", "record_id", "change_id", "version", "resolved_by", "resolved_at",
			"device", "how", "chosen_version", "leaves", "op", "note", "resolution", "doc"},
	}
}

// auditViewSQL returns the statements that create a collection's audit
// views.
func (a *Agent) auditViewSQL(coll string) ([]string, error) {
	logTable, err := a.table(coll, logGlob)
	if err != nil {
		return nil, err
	}
	history, err := a.table(coll+"_history", "")
	if err != nil {
		return nil, err
	}
	resolutions, err := a.table(coll+"_resolutions", "")
	if err != nil {
		return nil, err
	}
	// Every batch must give the sort under the aggregate one schema:
	// batches written before the resolution column existed lack it (a
	// nullable INT to Drill), so it is cast. (A batch written by hand with
	// plain SQL has required columns where the agent's are nullable, and
	// fails these views as it fails _current; making each column nullable
	// with a CASE trips Calcite's filter simplification on filters such
	// as author = '' OR … , measured on Drill 1.22.)
	inner := func(where string) string {
		return fmt.Sprintf("SELECT t.`dir0` AS `hour`, t.`record_id`, t.`version`, t.`change_id`, t.`op`, t.`device`, t.`author`, "+
			"t.`edited_at`, t.`parents`, CAST(t.`%[1]s` AS VARCHAR(%[2]d)) AS `resolution`, t.`doc` FROM %[3]s t%[4]s",
			schema.ResolutionColumn, resolutionTextMax, logTable, where)
	}
	const keys = "u.`hour`, u.`record_id`, u.`version`, u.`change_id`, u.`op`, u.`device`, u.`author`, u.`edited_at`, u.`parents`"
	dedup := func(where string) string {
		return "SELECT " + keys + ", ANY_VALUE(u.`resolution`) AS `resolution`, ANY_VALUE(u.`doc`) AS `doc` FROM (" +
			inner(where) + ") u GROUP BY " + keys
	}
	stmts := []string{
		fmt.Sprintf("CREATE OR REPLACE VIEW %s AS %s", history, dedup("")),
		// The filter on the raw column sits right on the scan: Parquet
		// statistics skip every batch without a resolution.
		fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT v.`hour`, v.`record_id`, v.`change_id`, v.`version`, "+
			"v.`author` AS `resolved_by`, "+
			"v.`edited_at` AS `resolved_at`, v.`device`, CAST(v.`m`.`how` AS VARCHAR(%[2]d)) AS `how`, "+
			"CAST(v.`m`.`chosen` AS VARCHAR(%[2]d)) AS `chosen_version`, v.`parents` AS `leaves`, v.`op`, "+
			"CAST(v.`m`.`note` AS VARCHAR(%[3]d)) AS `note`, v.`resolution`, v.`doc` FROM ("+
			"SELECT w.*, convert_fromJSON(w.`resolution`) AS `m` FROM (%[4]s) w) v",
			resolutions, MaxTypedText, resolutionTextMax,
			dedup(" WHERE t.`"+schema.ResolutionColumn+"` IS NOT NULL")),
	}
	return stmts, nil
}

// auditSetSuffix ends the key of a collection's audit view set.
const auditSetSuffix = "\x00audit"

// auditViewSet is a collection's audit views (see ensureViews).
func (a *Agent) auditViewSet(coll string) (viewSet, error) {
	stmts, err := a.auditViewSQL(coll)
	if err != nil {
		return viewSet{}, err
	}
	cols := map[string]string{}
	for suffix, names := range auditViewColumns() {
		cols[coll+suffix] = "s.`" + strings.Join(names, "`, s.`") + "`"
	}
	return viewSet{
		coll: coll,
		key:  coll + auditSetSuffix,
		cols: cols,
		hash: viewHash(stmts...),
		make: func(ctx context.Context) (bool, error) {
			for _, q := range stmts {
				if _, err := a.dr.Query(ctx, q); err != nil {
					if isNotFound(err) {
						return false, nil
					}
					return false, fmt.Errorf("audit views of %s: %w", coll, err)
				}
			}
			return true, nil
		},
	}, nil
}
