package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/config"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// supportedDrill is the Drill release line fieldsync is tested against.
const supportedDrill = "1.22."

func checkSchedule(_ context.Context, d *doctor, _ Env, c config.Config) {
	if err := agent.CheckSpec(c.Schedule); err != nil {
		d.add("schedule", statusFail, err.Error(), "set schedule in the settings")
		return
	}
	d.add("schedule", statusOK, fmt.Sprintf("%s (%s)", agent.DescribeSpec(c.Schedule), c.Schedule), "")
}

func checkCollections(_ context.Context, d *doctor, _ Env, c config.Config) {
	if c.Collections == "" {
		d.add("collections", statusWarn, "no collections file is set: there is nothing to capture", "set collections in the settings (see docs/examples/collections.json)")
		return
	}
	set, err := schema.Load(c.Collections)
	if err != nil {
		d.add("collections", statusFail, trimErr(err), "fix the declarations file")
		return
	}
	d.add("collections", statusOK, fmt.Sprintf("%s: %s", c.Collections, strings.Join(set.Names(), ", ")), "")
}

func checkStore(ctx context.Context, d *doctor, _ Env, c config.Config) {
	path := filepath.Join(c.DataDir, storeFile)
	st, err := store.Open(ctx, path, &store.Options{Timeout: 2 * time.Second, DeviceID: c.Device})
	switch {
	case errors.Is(err, store.ErrLocked):
		d.add("store", statusOK, "in use by the running fieldsync: "+trimErr(err), "")
		return
	case err != nil:
		d.add("store", statusFail, trimErr(err), "see docs/OPERATIONS.md#store")
		return
	}
	defer st.Close()
	stats, err := st.Stats(ctx)
	if err != nil {
		d.add("store", statusFail, trimErr(err), "see docs/OPERATIONS.md#store")
		return
	}
	d.add("store", statusOK, fmt.Sprintf("%s: device %s, %d pending, %d conflicts", path, stats.DeviceID, stats.Pending, stats.Conflicts), "")
}

// checkDrill checks each Drillbit on its own so that IT sees which one is
// down, then the workspace through the fail-over client.
func checkDrill(ctx context.Context, d *doctor, env Env, c config.Config) {
	if len(c.Drill.URLs) == 0 {
		d.add("drill", statusWarn, "no Drillbit is configured: changes stay on this computer", "set drill.urls in the settings")
		return
	}
	up := 0
	for _, u := range c.Drill.URLs {
		one := c
		one.Drill.URLs = []string{u}
		cl, err := newDrillClient(env, one, nil)
		if err != nil {
			d.add("drill "+u, statusFail, trimErr(err), "fix the Drill settings")
			continue
		}
		cluster, err := cl.Cluster(ctx)
		if err != nil {
			d.add("drill "+u, statusFail, trimErr(err), drillHint(err))
			continue
		}
		if !strings.HasPrefix(cluster.CurrentVersion, supportedDrill) {
			d.add("drill "+u, statusWarn, fmt.Sprintf("Drill %s; fieldsync is tested with %sx", cluster.CurrentVersion, supportedDrill), "upgrade Drill or test this version first")
		} else {
			d.add("drill "+u, statusOK, fmt.Sprintf("Drill %s, %d Drillbit(s) in the cluster", cluster.CurrentVersion, len(cluster.Drillbits)), "")
		}
		if _, err := cl.Query(ctx, "SELECT 1 AS ok FROM (VALUES(1))"); err != nil {
			d.add("query "+u, statusFail, trimErr(err), drillHint(err))
			continue
		}
		up++
	}
	if up == 0 {
		return
	}
	cl, err := newDrillClient(env, c, nil)
	if err != nil {
		return
	}
	ws := c.Drill.Plugin + "." + c.Drill.Workspace
	res, err := cl.Query(ctx, "SHOW FILES IN "+ws)
	if err != nil {
		d.add("workspace", statusFail, trimErr(err), fmt.Sprintf("create the writable workspace %s in Drill's storage settings, or set drill.location", ws))
		return
	}
	d.add("workspace", statusOK, fmt.Sprintf("%s answers (%d entries)", ws, len(res.Rows)), "")
}

func drillHint(err error) string {
	switch {
	case drill.IsAuthError(err):
		return "check drill.user and run 'fieldsync login' to store the right password"
	case errors.Is(err, drill.ErrUnavailable):
		return "is the Drillbit running and reachable from here? (firewall, VPN, URL)"
	case strings.Contains(err.Error(), "certificate"):
		return "set drill.ca_file to the PEM of the CA that signed the Drillbit's certificate"
	}
	return "see the Drillbit's log"
}
