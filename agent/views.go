package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/schema"
)

// viewSQL returns the statements that create a collection's analyst views:
// <collection>_current (one row per live record: the change with the
// highest version, deletes removed) and <collection>_conflicts (every leaf
// of every record whose version graph has more than one leaf). Parents are
// JSON text; FLATTEN fails on an empty list, so creates are filtered out
// before it.
func (a *Agent) viewSQL(coll string) (sig string, stmts []string, err error) {
	logTable, err := a.table(coll, "/changes")
	if err != nil {
		return "", nil, err
	}
	current, err := a.table(coll+"_current", "")
	if err != nil {
		return "", nil, err
	}
	conflicts, err := a.table(coll+"_conflicts", "")
	if err != nil {
		return "", nil, err
	}
	cols, _ := a.columns(coll)
	// Batches written before a field was declared lack its column, which
	// Drill then reads as a nullable INT: a schema change that sort and
	// window operators refuse. So the innermost SELECT names every column
	// and casts each field to its type; the window works on that.
	var inner, outer []string
	inner = append(inner, "t.`op`")
	for _, c := range cols {
		if c.Name == "batch_rows" || c.Name == "parents" || c.Name == "op" || c.Name == schema.ResolutionColumn {
			continue
		}
		id, err := drill.Ident(c.Name)
		if err != nil {
			return "", nil, err
		}
		outer = append(outer, "s."+id)
		switch {
		case c.Field == "":
			inner = append(inner, "t."+id)
		case c.Type == schema.SQLVarchar:
			inner = append(inner, fmt.Sprintf("CAST(t.%s AS VARCHAR(%d)) AS %s", id, MaxTypedText, id))
		default:
			inner = append(inner, fmt.Sprintf("CAST(t.%s AS %s) AS %s", id, c.Type, id))
		}
	}
	list := strings.Join(outer, ", ")
	stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s FROM ("+
		"SELECT u.*, ROW_NUMBER() OVER (PARTITION BY u.`record_id` ORDER BY u.`version` DESC) AS `rn` FROM ("+
		"SELECT %s FROM %s t) u"+
		") s WHERE s.`rn` = 1 AND s.`op` <> 'delete'", current, list, strings.Join(inner, ", "), logTable))
	meta := "`record_id`, `version`, `change_id`, `op`, `device`, `author`, `edited_at`, `doc`"
	leaves := fmt.Sprintf("SELECT c.`record_id`, c.`version`, c.`change_id`, c.`op`, c.`device`, c.`author`, c.`edited_at`, c.`doc` FROM (SELECT %[1]s FROM %[2]s) c LEFT JOIN ("+
		"SELECT DISTINCT f.`record_id`, f.`parent` FROM (SELECT p.`record_id`, FLATTEN(convert_fromJSON(p.`parents`)) AS `parent` FROM (SELECT q.`record_id`, q.`parents` FROM %[2]s q WHERE q.`parents` <> '[]') p) f"+
		") k ON k.`record_id` = c.`record_id` AND k.`parent` = c.`version` WHERE k.`parent` IS NULL", meta, logTable)
	stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE VIEW %s AS "+
		"SELECT l.`record_id`, l.`version`, l.`change_id`, l.`op`, l.`device`, l.`author`, l.`edited_at`, l.`doc`, n.`leaves` FROM (%s) l JOIN ("+
		"SELECT x.`record_id`, COUNT(DISTINCT x.`version`) AS `leaves` FROM (%s) x GROUP BY x.`record_id` HAVING COUNT(DISTINCT x.`version`) > 1"+
		") n ON n.`record_id` = l.`record_id`", conflicts, leaves, leaves))
	return list, stmts, nil
}

// refreshViews creates each collection's views once per process, unless the
// existing current-state view already has every declared column. A
// collection with nothing in Drill yet is skipped.
func (a *Agent) refreshViews(ctx context.Context, rep *Report) error {
	for _, coll := range a.schema.LogNames() {
		sig, stmts, err := a.viewSQL(coll)
		if err != nil {
			return fmt.Errorf("views: %w", err)
		}
		a.mu.Lock()
		same := a.views[coll] == sig
		a.mu.Unlock()
		if same {
			continue
		}
		have, err := a.viewColumns(ctx, coll+"_current")
		if err != nil {
			return fmt.Errorf("views of %s: %w", coll, err)
		}
		if covers(have, sig) {
			// Never replace a view made from a newer declaration (more
			// fields) with one from an older: agents of a fleet update
			// at different times.
			a.mu.Lock()
			a.views[coll] = sig
			a.mu.Unlock()
			continue
		}
		ok := true
		for _, q := range stmts {
			if _, err := a.dr.Query(ctx, q); err != nil {
				if isNotFound(err) {
					ok = false
					break
				}
				return fmt.Errorf("views of %s: %w", coll, err)
			}
		}
		if ok {
			a.mu.Lock()
			a.views[coll] = sig
			a.mu.Unlock()
			rep.ViewsRefreshed++
		}
	}
	return a.refreshAuditViews(ctx)
}

// viewColumns returns the lower-case column names of a view in the
// workspace (none when it does not exist).
func (a *Agent) viewColumns(ctx context.Context, view string) (map[string]bool, error) {
	ws, err := drill.String(a.plugin + "." + a.workspace)
	if err != nil {
		return nil, err
	}
	name, err := drill.String(view)
	if err != nil {
		return nil, err
	}
	rows, err := a.dr.Query(ctx, "SELECT `COLUMN_NAME` FROM INFORMATION_SCHEMA.`COLUMNS` WHERE `TABLE_SCHEMA` = "+ws+" AND `TABLE_NAME` = "+name)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(rows))
	for _, r := range rows {
		if s, ok := r["COLUMN_NAME"].(string); ok {
			out[strings.ToLower(s)] = true
		}
	}
	return out, nil
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
