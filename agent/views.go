package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/schema"
)

// viewSQL returns the statements that create a collection's analyst views
// over the snapshot generation gen and the changes/ entries at or after its
// cutoff (over all of changes/ when gen is nil), so they never scan all
// history (see liveSource):
// <collection>_current (one row per live record: the change with the
// highest version, deletes removed; the highest version is always a leaf,
// so the generation holds it when the tail does not) and
// <collection>_conflicts (every leaf of every record with more than one
// leaf, each change once). sig is the current view's column list.
func (a *Agent) viewSQL(coll string, gen *snapshotGen) (sig string, stmts []string, err error) {
	current, err := a.table(coll+"_current", "")
	if err != nil {
		return "", nil, err
	}
	conflicts, err := a.table(coll+"_conflicts", "")
	if err != nil {
		return "", nil, err
	}
	source, err := a.liveSource(coll, gen, "", nil)
	if err != nil {
		return "", nil, err
	}
	_, names, err := a.typedColumns(coll)
	if err != nil {
		return "", nil, err
	}
	list, err := a.viewSig(coll)
	if err != nil {
		return "", nil, err
	}
	// A change in a batch and in a compacted file at once has the same
	// version: ROW_NUMBER keeps one of them.
	stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s FROM ("+
		"SELECT u.*, ROW_NUMBER() OVER (PARTITION BY u.`record_id` ORDER BY u.`version` DESC) AS `rn` FROM (%s) u"+
		") s WHERE s.`rn` = 1 AND s.`op` <> 'delete'", current, list, source))
	// A window over the leaves on both sides of the join fails in Drill
	// when no record has two leaves: the few rows of records in conflict
	// are made distinct instead.
	leaves := leavesSQL(source, names, false)
	stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE VIEW %s AS "+
		"SELECT DISTINCT l.`record_id`, l.`version`, l.`change_id`, l.`op`, l.`device`, l.`author`, l.`edited_at`, l.`doc`, n.`leaves` FROM (%s) l JOIN ("+
		"SELECT x.`record_id`, COUNT(DISTINCT x.`version`) AS `leaves` FROM (%s) x GROUP BY x.`record_id` HAVING COUNT(DISTINCT x.`version`) > 1"+
		") n ON n.`record_id` = l.`record_id`", conflicts, leaves, leaves))
	return list, stmts, nil
}

// viewSig returns the current view's column list without building the
// views.
func (a *Agent) viewSig(coll string) (string, error) {
	_, names, err := a.typedColumns(coll)
	if err != nil {
		return "", err
	}
	var outer []string
	for _, n := range names {
		// The audit entry is read from <collection>_resolutions.
		if n != "`parents`" && n != "`op`" && n != "`"+schema.ResolutionColumn+"`" {
			outer = append(outer, "s."+n)
		}
	}
	return strings.Join(outer, ", "), nil
}

// writeViews (re)creates a collection's views over generation gen (nil:
// over all of changes/) and its audit views; the change log must exist.
// The snapshot refresh of `fieldsync compact` calls it each pass, which
// brings back a view dropped in Drill at once (devices check theirs once
// a ViewRecheck).
func (a *Agent) writeViews(ctx context.Context, coll string, gen *snapshotGen) error {
	_, ok, err := a.createViews(ctx, coll, gen)
	if err == nil && ok {
		var audit viewSet
		if audit, err = a.auditViewSet(coll); err == nil {
			ok, err = audit.make(ctx)
		}
	}
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("views of %s: the change log is missing", coll)
	}
	return nil
}

// createViews runs viewSQL's statements; ok is false when the change log
// (or the generation) is not in Drill.
func (a *Agent) createViews(ctx context.Context, coll string, gen *snapshotGen) (sig string, ok bool, err error) {
	sig, stmts, err := a.viewSQL(coll, gen)
	if err != nil {
		return "", false, fmt.Errorf("views of %s: %w", coll, err)
	}
	for _, q := range stmts {
		if _, err := a.dr.Query(ctx, q); err != nil {
			if isNotFound(err) {
				return sig, false, nil
			}
			return "", false, fmt.Errorf("views of %s: %w", coll, err)
		}
	}
	return sig, true, nil
}

// refreshViews makes sure each collection's views and audit views are in
// Drill (see ensureViews): a sync whose marks are fresh runs no view query.
// Views are made over the newest snapshot generation the device sees, so a
// device never points them back at all history (the snapshot refresh
// rewrites them at each generation). A collection with nothing in Drill
// yet is skipped.
func (a *Agent) refreshViews(ctx context.Context, rep *Report) error {
	var sets []viewSet
	for _, coll := range a.schema.LogNames() {
		cur, err := a.currentViewSet(coll)
		if err != nil {
			return fmt.Errorf("views: %w", err)
		}
		audit, err := a.auditViewSet(coll)
		if err != nil {
			return fmt.Errorf("audit views: %w", err)
		}
		sets = append(sets, cur, audit)
	}
	made, err := a.ensureViews(ctx, sets)
	for _, k := range made {
		if !strings.HasSuffix(k, auditSetSuffix) {
			rep.ViewsRefreshed++
		}
	}
	return err
}

// currentViewSet is a collection's current-state and conflict views; its
// hash is of their statements over all of changes/, so it changes with
// the declarations and the release, not with snapshot generations.
func (a *Agent) currentViewSet(coll string) (viewSet, error) {
	sig, stmts, err := a.viewSQL(coll, nil)
	if err != nil {
		return viewSet{}, err
	}
	return viewSet{
		coll: coll,
		key:  coll,
		cols: map[string]string{coll + "_current": sig},
		hash: viewHash(stmts...),
		make: func(ctx context.Context) (bool, error) {
			gen, err := a.newestSnapshot(ctx, coll)
			if err != nil {
				return false, fmt.Errorf("views of %s: %w", coll, err)
			}
			if gen != nil {
				top, err := a.showFiles(ctx, coll, "")
				if err != nil {
					return false, fmt.Errorf("views of %s: %w", coll, err)
				}
				gen.from = readFrom(*gen, top)
			}
			_, ok, err := a.createViews(ctx, coll, gen)
			return ok, err
		},
	}, nil
}

// covers reports whether the columns have holds every column of a view's
// column list sig ("s.`a`, s.`b`").
func covers(have map[string]bool, sig string) bool {
	if len(have) == 0 {
		return false
	}
	for _, c := range strings.Split(sig, ", ") {
		c = strings.ToLower(strings.Trim(strings.TrimPrefix(c, "s."), "`"))
		if !have[c] {
			return false
		}
	}
	return true
}
