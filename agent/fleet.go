package agent

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// FleetDir is the name of the fleet table: a view of the workspace with
// the latest heartbeat of every device, so that IT sees the whole fleet
// with one query:
//
//	SELECT * FROM dfs.fieldsync.`fieldsync_devices` ORDER BY reported_at
//
// Collection names starting with "fieldsync_" are reserved for it.
const FleetDir = "fieldsync_devices"

// HeartbeatDir is the append-only log behind the fleet table: after each
// successful sync a device writes one row,
//
//	fieldsync_heartbeats/<YYYYMMDDHH>/<device>_<ms>
//
// under the UTC hour of Drill's clock (estimated from this computer's skew),
// never rewriting or dropping anything, so a reader never misses a device.
// `fieldsync compact` folds closed hours into one entry per day (then per
// month) holding each device's latest heartbeat of that range.
const HeartbeatDir = "fieldsync_heartbeats"

// fleetColumns are the heartbeat table's columns, in order.
func fleetColumns() []drill.Column {
	return []drill.Column{
		{Name: "heartbeat_id", Type: drill.VarChar},
		{Name: "device", Type: drill.VarChar},
		{Name: "hostname", Type: drill.VarChar},
		{Name: "os", Type: drill.VarChar},
		{Name: "app_version", Type: drill.VarChar},
		{Name: "reported_at", Type: drill.BigInt},
		{Name: "sync_started_at", Type: drill.BigInt},
		{Name: "pending", Type: drill.BigInt},
		{Name: "conflicts", Type: drill.BigInt},
		{Name: "pushed", Type: drill.BigInt},
		{Name: "pulled", Type: drill.BigInt},
		{Name: "unpushable", Type: drill.BigInt},
		{Name: "failures_before", Type: drill.BigInt},
		{Name: "last_error_before", Type: drill.VarChar},
		{Name: "quarantined", Type: drill.BigInt},
		{Name: "clock_skew_ms", Type: drill.BigInt},
	}
}

// heartbeat appends this device's row to the fleet log after a successful
// sync. prev is the status before the sync, so the row also tells IT about
// the failures this sync recovered from. A failure is logged, never fatal:
// the sync itself succeeded.
func (a *Agent) heartbeat(ctx context.Context, rep Report, prev Status) {
	if err := a.writeHeartbeat(ctx, rep, prev); err != nil {
		a.log.Warn("fleet heartbeat not written", "err", err)
		return
	}
	if err := a.fleetView(ctx); err != nil {
		a.log.Info("fleet view not created", "err", err)
	}
}

func (a *Agent) writeHeartbeat(ctx context.Context, rep Report, prev Status) error {
	host, _ := os.Hostname()
	stats, err := a.st.Stats(ctx)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	st := a.Status()
	now := a.now().UnixMilli()
	drillMS := now - st.ClockSkewMS
	name := fmt.Sprintf("%s_%d", a.device, drillMS)
	row := []drill.Value{
		drill.StringValue(name),
		drill.StringValue(a.device),
		drill.StringValue(host),
		drill.StringValue(runtime.GOOS + "/" + runtime.GOARCH),
		drill.StringValue(a.opts.AppVersion),
		drill.Int64Value(now),
		drill.Int64Value(rep.StartedAt),
		drill.Int64Value(int64(stats.Pending)),
		drill.Int64Value(stats.Conflicts),
		drill.Int64Value(int64(rep.Pushed)),
		drill.Int64Value(int64(rep.Pulled)),
		drill.Int64Value(int64(len(rep.Unpushable))),
		drill.Int64Value(int64(prev.Failures)),
		drill.StringValue(prev.LastError),
		drill.Int64Value(int64(stats.Quarantined)),
		drill.Int64Value(st.ClockSkewMS),
	}
	sel, err := drill.SelectJSON(fleetColumns(), [][]drill.Value{row})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	table, err := drill.TablePath(a.plugin, a.workspace, HeartbeatDir+"/"+partitionOf(drillMS)+"/"+name)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	if _, err := a.dr.Query(ctx, "CREATE TABLE "+table+" AS "+sel); err != nil {
		return fmt.Errorf("fleet: write %s: %w", table, err)
	}
	return nil
}

// fleetView makes sure the fleet table's view is in Drill (see
// ensureViews). An older release's fleet table (a directory of the same
// name) stands in its way until `fieldsync compact` moves it into the
// heartbeat log.
func (a *Agent) fleetView(ctx context.Context) error {
	stmt, sig, err := fleetViewSQL(a.plugin, a.workspace)
	if err != nil {
		return err
	}
	_, err = a.ensureViews(ctx, []viewSet{{
		key:  FleetDir,
		cols: map[string]string{FleetDir: sig},
		hash: viewHash(stmt),
		make: func(ctx context.Context) (bool, error) {
			if _, err := a.dr.Query(ctx, stmt); err != nil {
				return false, fmt.Errorf("fleet view: %w", err)
			}
			return true, nil
		},
	}})
	return err
}

// fleetViewSQL returns the statement that creates the fleet table's view
// (each device's latest heartbeat) and its column list.
func fleetViewSQL(plugin, workspace string) (stmt, sig string, err error) {
	view, err := drill.TablePath(plugin, workspace, FleetDir)
	if err != nil {
		return "", "", err
	}
	log, err := drill.TablePath(plugin, workspace, HeartbeatDir)
	if err != nil {
		return "", "", err
	}
	var cols, sigs []string
	var inner []string
	for _, c := range fleetColumns()[1:] { // not heartbeat_id
		cols = append(cols, "h.`"+c.Name+"`")
		inner = append(inner, "l.`"+c.Name+"`")
		sigs = append(sigs, "s.`"+c.Name+"`")
	}
	stmt = fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s FROM ("+
		"SELECT %s, ROW_NUMBER() OVER (PARTITION BY l.`device` ORDER BY l.`reported_at` DESC) AS `rn` FROM %s l"+
		") h WHERE h.`rn` = 1", view, strings.Join(cols, ", "), strings.Join(inner, ", "), log)
	return stmt, strings.Join(sigs, ", "), nil
}
