package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent"
	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/config/configtest"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/store"
)

// drillQuery runs sql on the shared test Drillbit and returns its rows.
func drillQuery(tb testing.TB, url, sql string) []drill.Row {
	tb.Helper()
	cl, err := drill.New(drill.Options{Endpoints: []string{url}})
	if err != nil {
		tb.Fatal(err)
	}
	res, err := cl.Query(context.Background(), sql)
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return res.Rows
}

func rowInt(tb testing.TB, r drill.Row, col string) int64 {
	tb.Helper()
	n, err := r.Int64(col)
	if err != nil {
		tb.Fatalf("column %s of %v: %v", col, r, err)
	}
	return n
}

// TestIngestKilledAndConcurrent kills `fieldsync ingest --once` with
// SIGKILL at random moments many times, then runs two at once on a new
// table, then one to the end: every inbox row is applied exactly once (one change per
// applied row, no change id twice in the log), the rejected rows are
// listed with why, and a device pulls every change without a conflict.
func TestIngestKilledAndConcurrent(t *testing.T) {
	url := drilltest.URL(t)
	dev, ws, loc := isolatedDeviceAt(t, "ingdev", url)
	const n = 240
	importN(t, dev, n, "g")
	dev.must("", "sync")
	// The ingester: a server with its own data dir, small batches so a
	// pass writes many, and no settle time (the tables are whole).
	srv := newDevice(t, "ingsrv", url, ws, "FIELDSYNC_DRILL_BATCH_ROWS=20", "FIELDSYNC_INGEST_SETTLE=1ms")
	srv.args = append(srv.args[:2:2], srv.args[4:]...) // no --device: the ingester has none

	tbl := func(name string) string { return fmt.Sprintf("dfs.%s.`inspections/inbox/%s`", ws, name) }
	cur := fmt.Sprintf("dfs.%s.`inspections_current`", ws)
	for _, q := range []string{
		// Every record's site corrected, and a note from the analyst.
		"CREATE TABLE " + tbl("bulk") + " AS SELECT record_id, CONCAT(site, ' (checked)') AS site, 'ana' AS author, 'audit' AS reason FROM " + cur,
		// Twenty records deleted.
		"CREATE TABLE " + tbl("deletes") + " AS SELECT record_id, 'delete' AS op, 'ana' AS author FROM " + cur + " WHERE record_id < 'g00020'",
		// Two rows that cannot apply.
		"CREATE TABLE " + tbl("bad") + " AS SELECT 'nope' AS record_id, 'x' AS site, 'ana' AS author FROM (VALUES(1)) " +
			"UNION ALL SELECT 'g00001' AS record_id, 'y' AS site, '' AS author FROM (VALUES(1))",
	} {
		drillQuery(t, url, q)
	}
	const applied, rejected = n + 20 + (n - 20), 2

	log := fmt.Sprintf("dfs.%s.`inspections/changes`", ws)
	serverChanges := func(t *testing.T) int64 {
		r := drillQuery(t, url, "SELECT COUNT(*) AS n FROM "+log+" WHERE device = 'server'")
		return rowInt(t, r[0], "n")
	}
	ledgerDir := filepath.Join(loc, "inspections", "ingested", "bulk")
	// Kill points cover the pass: a round kills the ingester once it has
	// written k more batches (k random, up to every batch not written
	// yet; 0 kills it at a random moment of its first second, while it
	// starts and reads). A random delay alone mostly fell after the pass's
	// end, where a kill proves nothing.
	allBatches := (n+19)/20 + 1 // the bulk table's, then the deletes'
	rng := rand.New(rand.NewPCG(11, uint64(os.Getpid())))
	midPass := 0
	for round := range 10 {
		before := serverBatches(t, loc)
		k := rng.IntN(max(allBatches-before, 0) + 1)
		c := srv.startChild("ingest", "--once")
		exited := make(chan struct{})
		go func() { _, _ = c.Process.Wait(); close(exited) }()
		deadline := time.After(time.Duration(rng.IntN(1000)) * time.Millisecond)
		if k > 0 {
			deadline = time.After(time.Minute)
		}
	wait:
		for {
			select {
			case <-exited:
				break wait
			case <-deadline:
				break wait
			case <-time.After(5 * time.Millisecond):
				if k > 0 && serverBatches(t, loc)-before >= k {
					break wait
				}
			}
		}
		if err := c.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatalf("round %d: kill: %v", round, err)
		}
		<-exited
		if _, err := os.Stat(ledgerDir); err == nil {
			t.Logf("round %d (k=%d): killed after the ledger was written", round, k)
			continue
		}
		got := serverChanges(t)
		t.Logf("round %d (k=%d): killed with %d server change(s) in Drill, no ledger", round, k, got)
		if got > 0 && got < applied {
			midPass++
		}
	}
	if midPass == 0 {
		t.Errorf("no kill landed mid-pass (some of the table's changes in Drill, its ledger not written): the kills prove nothing")
	}
	// Two at once, to their ends, on a table neither has seen: every
	// live record's site corrected again.
	for attempt := 0; ; attempt++ {
		if _, err := os.Stat(ledgerDir); err == nil {
			break
		}
		if attempt == 10 {
			t.Fatal("the first table is not ingested after 10 passes")
		}
		srv.must("", "ingest", "--once")
	}
	drillQuery(t, url, "CREATE TABLE "+tbl("again")+" AS SELECT record_id, CONCAT(site, ' again') AS site, 'bo' AS author FROM "+cur)
	a, aout := startChildOutput(t, srv, "ingest", "--once")
	b, bout := startChildOutput(t, srv, "ingest", "--once")
	for i, c := range []*exec.Cmd{a, b} {
		out := []*bytes.Buffer{aout, bout}[i]
		if err := c.Wait(); err != nil {
			t.Errorf("concurrent ingester %d: %v\n%s", i, err, out)
		} else if strings.Contains(out.String(), "waiting:") {
			t.Logf("concurrent ingester %d waited for the other:\n%s", i, out)
		}
	}
	// Then passes until none waits (a batch a killed pass left to Drill
	// may still be being written).
	var st struct {
		Last struct {
			Waiting []string `json:"waiting"`
		} `json:"last"`
		Error string `json:"error"`
	}
	for attempt := 0; ; attempt++ {
		out := srv.must("", "ingest", "--once", "--json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("ingest --json: %v: %s", err, out)
		}
		if len(st.Last.Waiting) == 0 {
			break
		}
		if attempt == 10 {
			t.Fatalf("tables still waiting: %v", st.Last.Waiting)
		}
		time.Sleep(time.Second)
	}

	r := drillQuery(t, url, "SELECT COUNT(*) AS n, COUNT(DISTINCT change_id) AS d FROM "+log)[0]
	if rowInt(t, r, "n") != rowInt(t, r, "d") {
		t.Errorf("the log holds %d rows but %d distinct change ids", rowInt(t, r, "n"), rowInt(t, r, "d"))
	}
	if got := serverChanges(t); got != applied {
		t.Errorf("the log holds %d changes made by the server, want %d (one per applied inbox row)", got, applied)
	}
	r = drillQuery(t, url, fmt.Sprintf("SELECT COUNT(*) AS n, COUNT(DISTINCT l.change_id) AS d FROM "+
		"(SELECT DISTINCT inbox_table, `row`, change_id FROM dfs.%s.`inspections/inbox_log` WHERE status = 'applied') l "+
		"JOIN (SELECT change_id FROM %s) c ON c.change_id = l.change_id", ws, log))[0]
	if rowInt(t, r, "n") != applied || rowInt(t, r, "d") != applied {
		t.Errorf("applied inbox rows with their change in the log: %d (%d distinct), want %d", rowInt(t, r, "n"), rowInt(t, r, "d"), applied)
	}
	rej := drillQuery(t, url, fmt.Sprintf("SELECT record_id, why_rejected FROM dfs.%s.`inspections_inbox_rejected` ORDER BY record_id", ws))
	if len(rej) != rejected || !strings.Contains(fmt.Sprint(rej[0]["why_rejected"]), "author is missing") ||
		!strings.Contains(fmt.Sprint(rej[1]["why_rejected"]), "unknown record") {
		t.Errorf("rejected rows = %v, want g00001 (no author) and nope (unknown)", rej)
	}

	// The device pulls every change once, without a conflict.
	dev.must("", "sync")
	if out := dev.must("", "conflicts", "list"); !strings.Contains(out, "no open conflicts") {
		t.Errorf("conflicts after the ingest: %s", out)
	}
	exp := dev.must("", "export", "--collection", "inspections")
	lines := strings.Split(strings.TrimSpace(exp), "\n")
	if len(lines) != n-20 || !strings.Contains(lines[0], "(checked) again") || strings.Count(exp, "(checked) again") != n-20 {
		t.Errorf("export after the ingest: %d records, want %d all with the corrected site:\n%.400s", len(lines), n-20, exp)
	}
	if out := srv.must("", "status"); !strings.Contains(out, "ingest:     last pass") {
		t.Errorf("status does not tell about the ingester:\n%s", out)
	}
}

// serverBatches counts the batch directories the ingester made in a
// workspace's inspections change log (on this machine's file system).
func serverBatches(tb testing.TB, loc string) int {
	tb.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(loc, "inspections", "changes"), func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() && strings.Contains(e.Name(), "_server_") {
			n++
			return fs.SkipDir
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// startChildOutput is startChild that keeps what the child prints (both
// streams) for the caller to read after Wait.
func startChildOutput(tb testing.TB, d *device, cmd ...string) (*exec.Cmd, *bytes.Buffer) {
	tb.Helper()
	args, err := json.Marshal(append(append([]string{}, cmd...), d.args...))
	if err != nil {
		tb.Fatal(err)
	}
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(append(os.Environ(), d.env...), childEnv+"=1", childArgsEnv+"="+string(args))
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		tb.Fatal(err)
	}
	return c, &out
}

// TestIngestReportsFailure: a pass that cannot reach Drill exits 1 with the
// reason, and status and doctor tell IT about it afterwards.
func TestIngestReportsFailure(t *testing.T) {
	t.Parallel()
	d := newDevice(t, "ing-offline", "http://127.0.0.1:9", "fieldsync")
	d.args = append(d.args[:2:2], d.args[4:]...) // the ingester has no device name
	code, _, errs := d.run("", "ingest", "--once")
	if code != 1 || !strings.Contains(errs, "Drill cannot be reached") {
		t.Fatalf("ingest against a closed port: exit %d, stderr %q", code, errs)
	}
	if out := d.must("", "status"); !strings.Contains(out, "ingest:     last pass") || !strings.Contains(out, "ingest error:") {
		t.Errorf("status after a failed pass:\n%s", out)
	}
	_, out, _ := d.run("", "doctor", "--json")
	var checks []struct{ Name, Status, Detail string }
	if err := json.Unmarshal([]byte(out), &checks); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	found := false
	for _, c := range checks {
		if c.Name == "ingest" {
			found = true
			if c.Status != "fail" || !strings.Contains(c.Detail, "the last pass failed") {
				t.Errorf("doctor's ingest check = %+v", c)
			}
		}
	}
	if !found {
		t.Errorf("doctor has no ingest check: %s", out)
	}
	code, _, errs = d.run("", "ingest", "--once", "--device", "server")
	if code != 1 || !strings.Contains(errs, "name of changes made in Drill") {
		t.Errorf("a device named server: exit %d, stderr %q", code, errs)
	}
}

// TestConflictsNameTheServerSide: `fieldsync conflicts show` names an edit
// made in Drill "server (author)", and a device edit "author@device".
func TestConflictsNameTheServerSide(t *testing.T) {
	t.Parallel()
	cf := store.Conflict{Collection: "inspections", RecordID: "r1", Winner: "000000000000002-0000-server",
		Leaves: []store.Change{
			{Version: "000000000000001-0000-tab", Device: "tab", Author: "ann", Doc: []byte(`{"site":"A"}`)},
			{Version: "000000000000002-0000-server", Device: agent.ServerDevice, Author: "ana", Doc: []byte(`{"site":"B"}`)},
		}}
	var out strings.Builder
	printConflict(&out, cf)
	for _, want := range []string{"by ann@tab at", "by server (ana) at", `* site                 "A" | "B"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("conflicts show lacks %q:\n%s", want, out.String())
		}
	}
}

// TestIngestOnSchedule: without --once, ingest makes a pass at once, then
// waits for its schedule, and stops cleanly when its context ends (SIGTERM
// in main).
func TestIngestOnSchedule(t *testing.T) {
	t.Parallel()
	url := drilltest.URL(t)
	d := newDevice(t, "ing-sched", url, "fieldsync", "FIELDSYNC_INGEST_SCHEDULE=@every 1h")
	d.args = append(d.args[:2:2], d.args[4:]...) // the ingester has no device name
	dataDir := d.args[1]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, Env{Args: append([]string{"ingest"}, d.args...), Stdout: io.Discard, Stderr: &stderr,
			Environ: d.env, Keyring: configtest.Keyring{}})
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st, err := os.ReadFile(filepath.Join(dataDir, "ingest.json")); err == nil && strings.Contains(string(st), "last_success") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pass recorded within 2 minutes; stderr: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("ingest on a schedule exited %d when stopped; stderr: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("ingest on a schedule did not stop within a minute of its context ending")
	}
}
