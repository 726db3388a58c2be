package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// heartbeatLog is the fleet's heartbeat log as compaction sees it: a
// compacted entry keeps each device's latest heartbeat of its range, so
// the fleet view reads at most a row per device per entry.
func heartbeatLog() compactLog {
	lg := compactLog{name: "fleet", dir: HeartbeatDir, key: "device", keep: "s.`reported_at` DESC"}
	lg.cols = fleetCasts("t.")
	return lg
}

// fleetCasts is the select list of the fleet columns over a table alias
// (prefix "t."), each cast to its type.
func fleetCasts(prefix string) []string {
	var cols []string
	for _, c := range fleetColumns() {
		id := "`" + c.Name + "`"
		if c.Type == drill.VarChar {
			cols = append(cols, fmt.Sprintf("CAST(%s%s AS VARCHAR(%d)) AS %s", prefix, id, maxTextCast, id))
		} else {
			cols = append(cols, fmt.Sprintf("CAST(%s%s AS BIGINT) AS %s", prefix, id, id))
		}
	}
	return cols
}

// migrateFleet moves the fleet table of older releases (a directory
// fieldsync_devices/<device> of one-row tables, rewritten by each device)
// into the heartbeat log, then drops it, so the fleet view of that name
// can be created. Devices of older releases write it again until they are
// upgraded; each pass moves what they wrote.
func (c *Compactor) migrateFleet(ctx context.Context, nowMS int64) error {
	dir, err := drill.TablePath(c.plugin, c.workspace, FleetDir)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	rows, err := showFiles(ctx, c.dr, dir)
	if err != nil {
		if isNotFound(err) || batchUnreadable(ctx, err) {
			return nil // no directory: nothing of an older release
		}
		return fmt.Errorf("compact: list %s: %w", FleetDir, err)
	}
	var tables []string
	for _, r := range rows {
		if isDir, ok := firstValue(r, "isDirectory", "IS_DIRECTORY", "is_directory").(bool); ok && isDir {
			tables = append(tables, firstString(r, "name", "FILE_NAME", "file_name"))
		}
	}
	const chunk = 200
	for i := 0; i < len(tables); i += chunk {
		part := tables[i:min(i+chunk, len(tables))]
		if err := c.migrateFleetTables(ctx, nowMS, i/chunk, part); err != nil {
			return err
		}
	}
	// The directory is empty now (unless an older device wrote meanwhile:
	// then the next pass moves that too).
	if _, err := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+dir); err != nil && !batchUnreadable(ctx, err) {
		return fmt.Errorf("compact: drop %s: %w", FleetDir, err)
	}
	return nil
}

// migrateFleetTables copies one chunk of an older release's fleet tables
// into one heartbeat entry, checks the copy, and drops them.
func (c *Compactor) migrateFleetTables(ctx context.Context, nowMS int64, n int, tables []string) error {
	name := fmt.Sprintf("%s/%s/migrated_%d_%d", HeartbeatDir, partitionOf(nowMS), nowMS, n)
	target, err := drill.TablePath(c.plugin, c.workspace, name)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	var sel []string
	casts := fleetCasts("t.")[1:]
	for _, tb := range tables {
		p, err := drill.TablePath(c.plugin, c.workspace, FleetDir+"/"+tb)
		if err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		sel = append(sel, "SELECT CONCAT(CAST(t.`device` AS VARCHAR(200)), '_', CAST(t.`reported_at` AS VARCHAR(20))) AS `heartbeat_id`, "+
			strings.Join(casts, ", ")+" FROM "+p+" t")
	}
	res, err := c.dr.Query(ctx, "CREATE TABLE "+target+" AS "+strings.Join(sel, " UNION ALL "))
	if err != nil {
		if batchUnreadable(ctx, err) {
			c.log.Warn("older fleet table not moved; the next pass tries again", "err", cutText(drillMessage(err), 400))
			return nil
		}
		return fmt.Errorf("compact: move the older fleet table: %w", err)
	}
	written, _ := rowsWritten(res)
	if written < int64(len(tables)) {
		c.log.Warn("older fleet table moved only in part; the next pass tries again", "rows", written, "tables", len(tables))
		return nil
	}
	for _, tb := range tables {
		p, err := drill.TablePath(c.plugin, c.workspace, FleetDir+"/"+tb)
		if err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		if _, err := c.dr.Query(ctx, "DROP TABLE IF EXISTS "+p); err != nil && !batchUnreadable(ctx, err) {
			return fmt.Errorf("compact: drop %s: %w", p, err)
		}
	}
	c.log.Info("moved the older fleet table into the heartbeat log", "devices", len(tables), "entry", name)
	return nil
}

// createFleetView (re)creates the fleet table's view, once the older
// release's table is out of its way; devices do so too, so a failure is
// only logged.
func (c *Compactor) createFleetView(ctx context.Context) {
	stmt, _, err := fleetViewSQL(c.plugin, c.workspace)
	if err == nil {
		_, err = c.dr.Query(ctx, stmt)
	}
	if err != nil {
		c.log.Info("fleet view not created", "err", err)
	}
}
