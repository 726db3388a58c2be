package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/service"
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

// TestQuarantineUnreadableBatches: batches that Drill cannot read at all
// (a 0-byte parquet file left by a killed CTAS, a directory that parses as
// a batch but is empty, a broken JSON file) are set aside after
// drill.pull_retries reads, and IT sees them through the commands it uses:
// status --json and doctor, also while the agent holds the store (doctor
// reads what the running fieldsync last wrote). After IT fixes them in the
// workspace, quarantine retry --all brings every one in.
func TestQuarantineUnreadableBatches(t *testing.T) {
	url := drilltest.URL(t)
	d, _, loc := isolatedDeviceAt(t, "cli-unreadable", url, "FIELDSYNC_DRILL_PULL_RETRIES=2")
	importN(t, d, 2, "u")
	d.must("", "sync") // creates the workspace
	changes := filepath.Join(loc, "inspections", "changes")
	ms := time.Now().UnixMilli() - 1000
	batch := func(seq int) string { return fmt.Sprintf("%015d_dead_%012d", ms+int64(seq), seq) }
	zero, empty, broken := batch(1), batch(2), batch(3)
	for _, b := range []string{zero, empty, broken} {
		if err := os.MkdirAll(filepath.Join(changes, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(changes, zero, "0_0_0.parquet"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(changes, broken, "0_0_0.json"), []byte(`{"change_id":"x","doc":`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("first read: %s", d.must("", "sync"))
	t.Logf("second read: %s", d.must("", "sync"))

	var st struct {
		Status struct {
			Quarantined int      `json:"quarantined"`
			Reasons     []string `json:"quarantine_reasons"`
		} `json:"status"`
		Source string `json:"source"`
	}
	out := d.must("", "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Status.Quarantined != 3 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	for _, want := range []struct{ batch, reason string }{
		// The workspace fieldsync creates has no default format, so Drill
		// itself refuses the empty directory (in one with a default
		// format it reads no rows: agent/hostile_test.go).
		{zero, "Drill could not read the batch: Unexpected exception during fragment initialization: Error while applying rule DrillScanRule"},
		{empty, "Drill could not read the batch: VALIDATION ERROR: No files were found"},
		{broken, "Drill could not read the batch: Unexpected end-of-input"},
	} {
		found := false
		for _, r := range st.Status.Reasons {
			found = found || strings.Contains(r, "batch "+want.batch+" of inspections: "+want.reason)
		}
		if !found {
			t.Errorf("status --json: no reason for %s saying %q: %q", want.batch, want.reason, st.Status.Reasons)
		}
	}
	code, out, _ := d.run("", "doctor")
	if code != 0 || !strings.Contains(out, "[WARN] quarantine         3 pulled row(s) or batch(es) quarantined (never applied); newest: batch ") ||
		!strings.Contains(out, "fieldsync quarantine retry --all") {
		t.Errorf("doctor (exit %d):\n%s", code, out)
	}

	// The agent holds the store: doctor reads what it last wrote, as
	// status does.
	agentRuns := d.startChild("agent")
	stopAgent := func() {
		_ = agentRuns.Process.Signal(syscall.SIGTERM)
		_ = agentRuns.Wait()
	}
	defer stopAgent()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if rs, err := service.ReadRunningStatus(d.dataDir()); err == nil && rs.PID == agentRuns.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent wrote no status.json in 60 s")
		}
	}
	code, out, _ = d.run("", "doctor")
	if code != 0 || !strings.Contains(out, "[ok  ] store              in use by the running fieldsync") ||
		!strings.Contains(out, "[WARN] quarantine         3 pulled row(s) or batch(es) quarantined (never applied); newest: batch ") ||
		!strings.Contains(out, fmt.Sprintf("(from the running fieldsync (pid %d)", agentRuns.Process.Pid)) {
		t.Errorf("doctor while the agent runs (exit %d):\n%s", code, out)
	}
	stopAgent()

	// IT replaces each bad batch with what it should have held, and
	// retries them all.
	for i, b := range []string{zero, empty, broken} {
		dir := filepath.Join(changes, b)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("fixed-%d", i)
		row := fmt.Sprintf(`{"change_id":%q,"record_id":%q,"op":"put","version":"%015d-0000-dead","parents":"[]","device":"dead","author":"it",`+
			`"edited_at":1,"batch_rows":1,"doc":"{\"site\":\"fixed by IT\",\"passed\":true,\"risk\":\"low\",\"inspected_at\":1}"}`, id, id, ms)
		if err := os.WriteFile(filepath.Join(dir, "0_0_0.json"), []byte(row), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out := d.must("", "quarantine", "retry", "--all"); !strings.Contains(out, "released 3 item(s) of 3 batch(es)") ||
		!strings.Contains(out, "pulled 3 change(s); 0 quarantined again; 0 item(s) in quarantine now") {
		t.Errorf("quarantine retry --all:\n%s", out)
	}
	if out := d.must("", "export", "--collection", "inspections"); strings.Count(out, "fixed by IT") != 3 {
		t.Errorf("export after the retry:\n%s", out)
	}
	if out := d.must("", "status", "--json"); json.Unmarshal([]byte(out), &st) != nil || st.Status.Quarantined != 0 {
		t.Errorf("status --json after the retry:\n%s", out)
	}
}
