package agent

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/fieldsync/fieldsync/agent/drill"
)

// FleetDir is the directory of the workspace where every device keeps one
// row about itself, rewritten after each successful sync, so that IT can see
// the whole fleet with one query:
//
//	SELECT * FROM dfs.fieldsync.`fieldsync_devices` ORDER BY reported_at
//
// Collection names starting with "fieldsync_" are reserved for it.
const FleetDir = "fieldsync_devices"

// fleetColumns are the heartbeat table's columns, in order.
func fleetColumns() []drill.Column {
	return []drill.Column{
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

// heartbeat rewrites this device's row in the fleet table after a successful
// sync. prev is the status before the sync, so the row also tells IT about
// the failures this sync recovered from. A failure is logged, never fatal:
// the sync itself succeeded.
func (a *Agent) heartbeat(ctx context.Context, rep Report, prev Status) {
	if err := a.writeHeartbeat(ctx, rep, prev); err != nil {
		a.log.Warn("fleet heartbeat not written", "err", err)
	}
}

func (a *Agent) writeHeartbeat(ctx context.Context, rep Report, prev Status) error {
	host, _ := os.Hostname()
	stats, err := a.st.Stats(ctx)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	row := []drill.Value{
		drill.StringValue(a.device),
		drill.StringValue(host),
		drill.StringValue(runtime.GOOS + "/" + runtime.GOARCH),
		drill.StringValue(a.opts.AppVersion),
		drill.Int64Value(a.now().UnixMilli()),
		drill.Int64Value(rep.StartedAt),
		drill.Int64Value(int64(stats.Pending)),
		drill.Int64Value(stats.Conflicts),
		drill.Int64Value(int64(rep.Pushed)),
		drill.Int64Value(int64(rep.Pulled)),
		drill.Int64Value(int64(len(rep.Unpushable))),
		drill.Int64Value(int64(prev.Failures)),
		drill.StringValue(prev.LastError),
		drill.Int64Value(int64(stats.Quarantined)),
		drill.Int64Value(a.Status().ClockSkewMS),
	}
	sel, err := drill.SelectJSON(fleetColumns(), [][]drill.Value{row})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	table, err := drill.TablePath(a.plugin, a.workspace, FleetDir+"/"+a.device)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	// Drill has no CREATE OR REPLACE TABLE: readers may miss this device's
	// row for the moment between the two statements.
	if _, err := a.dr.Query(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
		return fmt.Errorf("fleet: drop %s: %w", table, err)
	}
	if _, err := a.dr.Query(ctx, "CREATE TABLE "+table+" AS "+sel); err != nil {
		return fmt.Errorf("fleet: write %s: %w", table, err)
	}
	return nil
}
