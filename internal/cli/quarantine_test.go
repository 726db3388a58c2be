package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// TestQuarantineCommands: an analyst writes a batch with a bad row into
// the workspace with plain SQL; the device syncs everything else, and IT
// sees the row in status, status --json, doctor and quarantine list/show,
// fixes it in Drill and retries.
func TestQuarantineCommands(t *testing.T) {
	url := drilltest.URL(t)
	d, ws := isolatedDevice(t, "cli-quarantine", url)
	importN(t, d, 2, "q")
	d.must("", "sync") // creates the workspace
	cl, err := drill.New(drill.Options{Endpoints: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("dfs.`%s`.`inspections/changes/%015d_analyst_%012d`", ws, 1_700_000_000_000, 1)
	write := func(parents string) {
		t.Helper()
		row := func(id, parents string) string {
			return fmt.Sprintf("SELECT '%s' AS change_id, '%s' AS record_id, 'put' AS op, '001700000000000-0000-analyst' AS version, "+
				"'%s' AS parents, 'analyst' AS device, CAST(1 AS BIGINT) AS edited_at, CAST(2 AS BIGINT) AS batch_rows, "+
				`'{"site":"by SQL","passed":true,"risk":"low","inspected_at":1}' AS doc FROM (VALUES(1))`, id, id, parents)
		}
		ctx := context.Background()
		if _, err := cl.Query(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Query(ctx, "CREATE TABLE "+table+" AS "+row("sql-good", "[]")+" UNION ALL "+row("sql-bad", parents)); err != nil {
			t.Fatal(err)
		}
	}
	write("{not json")
	if out := d.must("", "sync"); !strings.Contains(out, "quarantined 1 pulled row(s)") {
		t.Errorf("sync: %s", out)
	}
	if out := d.must("", "status"); !strings.Contains(out, "quarantine: 1 pulled row(s) or batch(es) kept out") || !strings.Contains(out, "parents is not a JSON list") {
		t.Errorf("status:\n%s", out)
	}
	var st struct {
		Status struct {
			Quarantined int      `json:"quarantined"`
			Reasons     []string `json:"quarantine_reasons"`
		} `json:"status"`
	}
	if out := d.must("", "status", "--json"); json.Unmarshal([]byte(out), &st) != nil || st.Status.Quarantined != 1 || len(st.Status.Reasons) != 1 {
		t.Errorf("status --json:\n%s", out)
	}
	code, out, _ := d.run("", "doctor")
	if code != 0 || !strings.Contains(out, "[WARN] quarantine") || !strings.Contains(out, "sql-bad") || !strings.Contains(out, "[ok  ] clock "+url) {
		t.Errorf("doctor (exit %d):\n%s", code, out)
	}
	var list struct {
		Items []struct {
			ID       uint64 `json:"id"`
			ChangeID string `json:"change_id"`
			Reason   string `json:"reason"`
		} `json:"items"`
	}
	if out := d.must("", "quarantine", "list", "--json"); json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].ChangeID != "sql-bad" {
		t.Fatalf("quarantine list --json:\n%s", out)
	}
	id := fmt.Sprint(list.Items[0].ID)
	if out := d.must("", "quarantine", "list"); !strings.HasPrefix(out, id+"\t") {
		t.Errorf("quarantine list:\n%s", out)
	}
	if out := d.must("", "quarantine", "show", id); !strings.Contains(out, `row as read: {`) || !strings.Contains(out, "fieldsync quarantine retry "+id) {
		t.Errorf("quarantine show:\n%s", out)
	}
	if out := d.must("", "export", "--collection", "inspections"); !strings.Contains(out, "sql-good") || strings.Contains(out, "sql-bad") {
		t.Errorf("export after the quarantine:\n%s", out)
	}
	// Usage errors say what to type.
	for _, args := range [][]string{{"quarantine"}, {"quarantine", "show"}, {"quarantine", "retry"}, {"quarantine", "show", "x"}, {"quarantine", "drop"}} {
		if code, _, errs := d.run("", args...); code != 2 || !strings.Contains(errs, "quarantine") {
			t.Errorf("fieldsync %v: exit %d, %s", args, code, errs)
		}
	}
	if code, _, errs := d.run("", "quarantine", "show", "999"); code != 1 || !strings.Contains(errs, "not quarantined") {
		t.Errorf("show of an unknown item: exit %d, %s", code, errs)
	}
	// IT fixes the row in Drill and retries: it arrives.
	write("[]")
	if out := d.must("", "quarantine", "retry", id); !strings.Contains(out, "released 1 item(s) of 1 batch(es)") || !strings.Contains(out, "pulled 1 change(s); 0 quarantined again; 0 item(s)") {
		t.Errorf("quarantine retry:\n%s", out)
	}
	if out := d.must("", "quarantine", "list"); !strings.Contains(out, "nothing is quarantined") {
		t.Errorf("quarantine list after the retry:\n%s", out)
	}
	if out := d.must("", "export", "--collection", "inspections"); !strings.Contains(out, "sql-bad") {
		t.Errorf("export after the retry:\n%s", out)
	}
}
