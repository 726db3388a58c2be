package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/agent/drill"
	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
)

// The cluster suite: devices against the development cluster of
// scripts/cluster.sh (ZooKeeper, two Drillbits in distributed mode, the
// dfs.fieldsync workspace on HDFS). scripts/test.sh runs these tests in a
// step of their own (go test -run '^TestCluster[A-Z]' -p 1), never in parallel,
// since a killed Drillbit affects every test using the cluster.
//
// TestClusterDrillbitKilledMidCompaction kills a Drillbit while a
// compaction pass runs through it.

// clusterNode is a device whose Drill client lists the cluster's Drillbits
// in the given order, so it talks to order[0] until that one fails.
func clusterNode(t *testing.T, c *drilltest.DevCluster, device string, set *schema.Set, order []int, tweak func(*Options)) (*node, *drill.Client) {
	t.Helper()
	var eps []string
	for _, i := range order {
		eps = append(eps, c.URL(i))
	}
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cl, err := drill.New(drill.Options{Endpoints: eps, DialTimeout: 3 * time.Second, Logger: log.With("device", device)})
	if err != nil {
		t.Fatal(err)
	}
	n := mustNode(t, device, time.Now().UnixMilli(), DrillClient(cl), func(o *Options) {
		o.Schema = set
		o.Logger = log.With("device", device)
		if tweak != nil {
			tweak(o)
		}
	})
	return n, cl
}

// testLog writes log records to the test's log, so a failed cluster test
// shows what the agents and their Drill clients did.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// clusterDrill is a client of Drillbit i alone.
func clusterDrill(t *testing.T, c *drilltest.DevCluster, i int) Drill {
	t.Helper()
	cl, err := drill.New(drill.Options{Endpoints: []string{c.URL(i)}})
	if err != nil {
		t.Fatal(err)
	}
	return DrillClient(cl)
}

// syncUntilOK syncs n until a sync succeeds, at most attempts times: after
// a Drillbit dies, the syncs that were running fail and the next ones
// repair what they left. It returns the failures seen.
func syncUntilOK(t *testing.T, n *node, attempts int) []error {
	t.Helper()
	var errs []error
	for range attempts {
		_, err := n.ag.SyncNow(context.Background())
		if err == nil {
			return errs
		}
		t.Logf("%s: sync failed (will retry): %v", n.device, err)
		errs = append(errs, err)
		time.Sleep(time.Second)
	}
	t.Fatalf("%s: no successful sync in %d attempts; last error: %v", n.device, attempts, errs[len(errs)-1])
	return errs
}

func TestClusterPushThroughOneDrillbitPullThroughAnother(t *testing.T) {
	c := drilltest.Cluster(t)
	set, name := itSchema(t)
	coll := name("inspections")
	small := func(o *Options) { o.BatchRows = 10 }
	a, ac := clusterNode(t, c, name("a"), set, []int{0, 1}, small)
	b, bc := clusterNode(t, c, name("b"), set, []int{1, 0}, small)
	for i := range 25 {
		a.edit(t, coll, fmt.Sprintf("r%02d", i), fmt.Sprintf(`{"site":"from a %d","temp":%d}`, i, i))
	}
	if rep := a.sync(t); rep.Pushed != 25 || rep.Batches != 3 {
		t.Fatalf("a pushed %+v, want 25 changes in 3 batches", rep)
	}
	if rep := b.sync(t); rep.Pulled != 25 || rep.PulledBatches != 3 {
		t.Fatalf("b pulled %+v, want 25 changes from 3 batches", rep)
	}
	if ac.Endpoint() != c.URL(0) || bc.Endpoint() != c.URL(1) {
		t.Errorf("a used %s (want %s), b used %s (want %s)", ac.Endpoint(), c.URL(0), bc.Endpoint(), c.URL(1))
	}
	edit := b.edit(t, coll, "r00", `{"site":"from b","temp":100}`)
	b.sync(t)
	if rep := a.sync(t); rep.Pulled != 1 {
		t.Fatalf("a pulled %+v, want b's edit", rep)
	}
	if got := a.record(t, coll, "r00"); got.Version != edit.Version || string(got.Doc) != `{"site":"from b","temp":100}` {
		t.Errorf("a has r00 = %s %s, want b's %s", got.Version, got.Doc, edit.Version)
	}
	if ma, mb := mirror(t, a, coll), mirror(t, b, coll); !slices.Equal(ma, mb) {
		t.Errorf("a and b differ:\n%s\n---\n%s", strings.Join(ma, "\n"), strings.Join(mb, "\n"))
	}
	for i := range 2 {
		assertExactlyOnceSQL(t, clusterDrill(t, c, i), coll, 26)
	}
}

// killSignal is an Events sink that reports, once, when a push has written
// at least after changes.
type killSignal struct {
	after int
	fired chan struct{}
}

func (k *killSignal) Emit(name string, payload any) {
	p, ok := payload.(Progress)
	if name != EventProgress || !ok || p.Phase != "push" || p.Done < k.after {
		return
	}
	select {
	case k.fired <- struct{}{}:
	default:
	}
}

func TestClusterDrillbitKilledMidPush(t *testing.T) {
	c := drilltest.Cluster(t)
	// Whatever happens here, the next tests get both Drillbits back.
	t.Cleanup(func() { c.StartDrillbit(t, 0) })
	set, name := itSchema(t)
	coll := name("inspections")
	const changes = 60
	sig := &killSignal{after: 10, fired: make(chan struct{}, 1)}
	a, ac := clusterNode(t, c, name("a"), set, []int{0, 1}, func(o *Options) {
		o.BatchRows = 5
		o.Events = sig
	})
	b, bc := clusterNode(t, c, name("b"), set, []int{1, 0}, nil)
	for i := range changes {
		a.edit(t, coll, fmt.Sprintf("r%02d", i), fmt.Sprintf(`{"site":"site %d","temp":%d}`, i, i))
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.ag.SyncNow(context.Background())
		done <- err
	}()
	select {
	case <-sig.fired:
	case err := <-done:
		t.Fatalf("the push ended before the kill: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("the push wrote nothing in 3 minutes")
	}
	c.Kill(t, 0) // Drillbit 1 dies while a's push goes on through it
	if err := <-done; err != nil {
		t.Logf("a's sync during the kill failed (expected; the next ones repair it): %v", err)
	}
	syncUntilOK(t, a, 5)
	if ac.Endpoint() != c.URL(1) {
		t.Errorf("a still uses %s after Drillbit 1 died, want %s", ac.Endpoint(), c.URL(1))
	}
	syncUntilOK(t, b, 5)
	if bc.Endpoint() != c.URL(1) {
		t.Errorf("b uses %s, want %s", bc.Endpoint(), c.URL(1))
	}
	assertExactlyOnceSQL(t, clusterDrill(t, c, 1), coll, changes)
	ma, mb := mirror(t, a, coll), mirror(t, b, coll)
	if len(mb) != changes || !slices.Equal(ma, mb) {
		t.Errorf("b has %d records, want %d, as a:\n%s\n---\n%s", len(mb), changes, strings.Join(ma, "\n"), strings.Join(mb, "\n"))
	}
	if st, err := a.st.Stats(context.Background()); err != nil || st.Pending != 0 {
		t.Errorf("a still has pending changes: %+v %v", st, err)
	}

	// Drillbit 1 comes back on its URL; a device that prefers it uses it
	// again and sees the same log.
	c.StartDrillbit(t, 0)
	d, dc := clusterNode(t, c, name("d"), set, []int{0, 1}, nil)
	if rep := d.sync(t); rep.Pulled != changes {
		t.Errorf("a new device pulled %+v through the restarted Drillbit, want %d changes", rep, changes)
	}
	if dc.Endpoint() != c.URL(0) {
		t.Errorf("the new device uses %s, want the restarted %s", dc.Endpoint(), c.URL(0))
	}
	assertExactlyOnceSQL(t, clusterDrill(t, c, 0), coll, changes)
}

func TestClusterViewsAnswerFromEveryDrillbit(t *testing.T) {
	c := drilltest.Cluster(t)
	set, name := itSchema(t)
	coll := name("inspections")
	a, _ := clusterNode(t, c, name("a"), set, []int{0, 1}, nil)
	b, _ := clusterNode(t, c, name("b"), set, []int{1, 0}, nil)
	a.edit(t, coll, "r", `{"site":"base","temp":1}`)
	a.edit(t, coll, "keep", `{"site":"kept","temp":5}`)
	a.sync(t)
	b.sync(t)
	a.edit(t, coll, "r", `{"site":"from a","temp":1}`)
	b.clk.Advance(time.Second)
	b.edit(t, coll, "r", `{"site":"from b","temp":2}`)
	a.sync(t)
	b.sync(t)
	a.sync(t)
	ctx := context.Background()
	queries := map[string]string{
		"current": fmt.Sprintf("SELECT `record_id`, `site`, `version` FROM `dfs`.`fieldsync`.`%s_current` ORDER BY `record_id`", coll),
		"conflicts": fmt.Sprintf("SELECT `record_id`, `version`, `device`, `leaves` FROM `dfs`.`fieldsync`.`%s_conflicts` "+
			"ORDER BY `version`", coll),
		"fleet": fmt.Sprintf("SELECT `device`, `pending` FROM `dfs`.`fieldsync`.`%s` WHERE `device` IN ('%s', '%s') ORDER BY `device`",
			FleetDir, a.device, b.device),
	}
	answers := map[string][]string{}
	for i := range 2 {
		d := clusterDrill(t, c, i)
		for what, q := range queries {
			rows, err := d.Query(ctx, q)
			if err != nil {
				t.Fatalf("Drillbit %d, %s: %v", i+1, what, err)
			}
			js, err := json.Marshal(rows)
			if err != nil {
				t.Fatal(err)
			}
			answers[what] = append(answers[what], string(js))
			switch what {
			case "current":
				if len(rows) != 2 || rows[0]["record_id"] != "keep" || rows[1]["site"] != "from b" {
					t.Errorf("Drillbit %d: current view %v", i+1, rows)
				}
			case "conflicts":
				if len(rows) != 2 || rows[0]["device"] != a.device || rows[1]["device"] != b.device {
					t.Errorf("Drillbit %d: conflicts view %v", i+1, rows)
				}
			case "fleet":
				if len(rows) != 2 {
					t.Errorf("Drillbit %d: fleet table %v, want a row per device", i+1, rows)
				}
			}
		}
	}
	for what, got := range answers {
		if got[0] != got[1] {
			t.Errorf("%s differs between the Drillbits:\n%s\n%s", what, got[0], got[1])
		}
	}
	// A snapshot refresh on HDFS rewrites the views over its generation
	// plus the tail: every Drillbit answers the same as before.
	if _, err := a.ag.RefreshSnapshot(ctx, coll, time.Now()); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		d := clusterDrill(t, c, i)
		for _, what := range []string{"current", "conflicts"} {
			rows, err := d.Query(ctx, queries[what])
			if err != nil {
				t.Fatalf("Drillbit %d, %s after the snapshot: %v", i+1, what, err)
			}
			js, err := json.Marshal(rows)
			if err != nil {
				t.Fatal(err)
			}
			if string(js) != answers[what][0] {
				t.Errorf("Drillbit %d: %s after the snapshot\n%s\nwant\n%s", i+1, what, js, answers[what][0])
			}
		}
	}
}

// hdfsList lists an HDFS directory of the cluster through WebHDFS; ok is
// false when the path does not exist.
func hdfsList(t *testing.T, c *drilltest.DevCluster, path string) (entries []hdfsStatus, ok bool) {
	t.Helper()
	return webhdfsList(t, c.WebHDFS(t), path)
}

// TestClusterHDFSTableLifecycle proves the statements the agent relies on
// with HDFS behind the workspace and two Drillbits in front of it: a CTAS
// through one Drillbit is listed and read through the other at once, it is
// really on HDFS, its directory's time is the Drillbit's clock, CREATE
// TABLE IF NOT EXISTS finds it, and DROP TABLE through the other Drillbit
// removes it for both.
func TestClusterHDFSTableLifecycle(t *testing.T) {
	c := drilltest.Cluster(t)
	_, name := itSchema(t)
	coll := name("hdfs")
	d0, d1 := clusterDrill(t, c, 0), clusterDrill(t, c, 1)
	ctx := context.Background()
	before, err := (&Agent{dr: d0}).serverMS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batch := batchName(before, "dev", 1)
	table := fmt.Sprintf("`dfs`.`fieldsync`.`%s/changes/%s`", coll, batch)
	rows, err := d0.Query(ctx, "CREATE TABLE "+table+" AS SELECT 'c1' AS `change_id` FROM (VALUES(1))")
	if n, ok := rowsWritten(rows); err != nil || !ok || n != 1 {
		t.Fatalf("CTAS through Drillbit 1: %v %v", rows, err)
	}
	listed, err := d1.Query(ctx, fmt.Sprintf("SHOW FILES IN `dfs`.`fieldsync`.`%s/changes`", coll))
	if err != nil || len(listed) != 1 || listed[0]["name"] != batch || listed[0]["isDirectory"] != true {
		t.Fatalf("SHOW FILES through Drillbit 2 right after the CTAS: %v %v", listed, err)
	}
	mt, err := asInt(listed[0]["modificationTime"])
	if err != nil || mt < before || mt > before+5*60_000 {
		t.Errorf("the batch directory's time is %d (%v), want at or after the Drillbit's clock %d before the CTAS", mt, err, before)
	}
	if r := queryOne(t, d1, "SELECT `change_id` FROM "+table); r["change_id"] != "c1" {
		t.Errorf("read through Drillbit 2: %v", r)
	}
	files, ok := hdfsList(t, c, fmt.Sprintf("/fieldsync/%s/changes/%s", coll, batch))
	if !ok || len(files) == 0 || !strings.HasSuffix(files[0].PathSuffix, ".parquet") || files[0].Length == 0 {
		t.Errorf("on HDFS the batch holds %+v, want a non-empty parquet file", files)
	}
	again, err := d1.Query(ctx, "CREATE TABLE IF NOT EXISTS "+table+" AS SELECT 'c2' AS `change_id` FROM (VALUES(1))")
	if _, wrote := rowsWritten(again); err != nil || wrote {
		t.Errorf("CREATE TABLE IF NOT EXISTS of an existing batch through Drillbit 2 wrote rows: %v %v", again, err)
	}
	if _, err := d1.Query(ctx, "DROP TABLE "+table); err != nil {
		t.Fatalf("DROP TABLE through Drillbit 2: %v", err)
	}
	listed, err = d0.Query(ctx, fmt.Sprintf("SHOW FILES IN `dfs`.`fieldsync`.`%s/changes`", coll))
	if err != nil || len(listed) != 0 {
		t.Errorf("SHOW FILES through Drillbit 1 after the DROP: %v %v", listed, err)
	}
	if _, ok := hdfsList(t, c, fmt.Sprintf("/fieldsync/%s/changes/%s", coll, batch)); ok {
		t.Error("the dropped batch is still on HDFS")
	}
	if _, err := d0.Query(ctx, "SELECT `change_id` FROM "+table); err == nil || !isNotFound(err) {
		t.Errorf("reading the dropped batch: %v, want not found", err)
	}
}

// hdfsCreate writes a file on HDFS through WebHDFS (the NameNode answers
// with a redirect to the DataNode that takes the bytes).
func hdfsCreate(t *testing.T, c *drilltest.DevCluster, path string, content []byte) {
	t.Helper()
	hc := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequest(http.MethodPut, c.WebHDFS(t)+"/webhdfs/v1"+path+"?op=CREATE&overwrite=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || loc == "" {
		t.Fatalf("WebHDFS CREATE %s: %s, no redirect to a DataNode", path, resp.Status)
	}
	req, err = http.NewRequest(http.MethodPut, loc, strings.NewReader(string(content)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WebHDFS CREATE %s on the DataNode: %s", path, resp.Status)
	}
}

// crashOnFirstCTAS stands for a Drillbit that dies while it writes a batch:
// the first CTAS leaves what a killed writer leaves on HDFS, a batch
// directory holding a 0_0_0.parquet of length 0 (its blocks never
// completed), and the call fails; later statements go through.
type crashOnFirstCTAS struct {
	Drill
	t       *testing.T
	c       *drilltest.DevCluster
	coll    string
	crashed bool
}

func (d *crashOnFirstCTAS) Query(ctx context.Context, sql string) ([]Row, error) {
	if d.crashed || !strings.HasPrefix(sql, "CREATE TABLE IF NOT EXISTS") {
		return d.Drill.Query(ctx, sql)
	}
	d.crashed = true
	marker := d.coll + "/changes/"
	i := strings.Index(sql, marker)
	j := strings.IndexByte(sql[i:], '`')
	batch := sql[i+len(marker) : i+j]
	hdfsCreate(d.t, d.c, "/fieldsync/"+marker+batch+"/0_0_0.parquet", nil)
	return nil, errors.New("injected: the Drillbit died during the CTAS (EOF)")
}

// TestClusterPartialBatchOnHDFSIsRepaired proves, on HDFS, the repair of
// a batch whose writer died mid-CTAS: Drill then reports the table as
// existing (CREATE TABLE IF NOT EXISTS writes nothing) but cannot read it
// ("not a Parquet file (length is too low: 0)"), and DROP TABLE removes
// it. The device's next sync verifies the batch, drops and rewrites it;
// another device then pulls every change exactly once.
func TestClusterPartialBatchOnHDFSIsRepaired(t *testing.T) {
	c := drilltest.Cluster(t)
	set, name := itSchema(t)
	coll := name("inspections")
	a, _ := clusterNode(t, c, name("a"), set, []int{0, 1}, nil)
	crash := &crashOnFirstCTAS{Drill: a.ag.dr, t: t, c: c, coll: coll}
	a.ag.dr = crash
	b, _ := clusterNode(t, c, name("b"), set, []int{1, 0}, nil)
	for i := range 5 {
		a.edit(t, coll, fmt.Sprintf("r%d", i), fmt.Sprintf(`{"site":"s%d"}`, i))
	}
	if _, err := a.ag.SyncNow(context.Background()); err == nil || !crash.crashed {
		t.Fatalf("the first sync survived the crashed CTAS: %v", err)
	}
	// What a reader sees meanwhile: the batch exists and cannot be read.
	d := clusterDrill(t, c, 1)
	if _, err := d.Query(context.Background(), fmt.Sprintf("SELECT COUNT(*) FROM `dfs`.`fieldsync`.`%s/changes`", coll)); err == nil {
		t.Error("reading the log with a partial batch in it worked; the test no longer shows what a killed writer leaves")
	} else {
		t.Logf("a reader of the log meanwhile: %v", err)
	}
	syncUntilOK(t, a, 3)
	syncUntilOK(t, b, 3)
	assertExactlyOnceSQL(t, d, coll, 5)
	if ma, mb := mirror(t, a, coll), mirror(t, b, coll); len(mb) != 5 || !slices.Equal(ma, mb) {
		t.Errorf("b has %d records, want a's 5:\n%s\n---\n%s", len(mb), strings.Join(ma, "\n"), strings.Join(mb, "\n"))
	}
}

// ctasSignal is a Drill that reports, once, when a compacting CTAS starts.
type ctasSignal struct {
	Drill
	fired chan struct{}
}

func (d *ctasSignal) Query(ctx context.Context, sql string) ([]Row, error) {
	if strings.HasPrefix(sql, "CREATE TABLE ") && strings.Contains(sql, "compact_rn") {
		select {
		case d.fired <- struct{}{}:
		default:
		}
	}
	return d.Drill.Query(ctx, sql)
}

func TestClusterDrillbitKilledMidCompaction(t *testing.T) {
	c := drilltest.Cluster(t)
	t.Cleanup(func() { c.StartDrillbit(t, 0) })
	set, name := itSchema(t)
	coll := name("inspections")
	const changes = 40
	a, _ := clusterNode(t, c, name("a"), set, []int{0, 1}, func(o *Options) { o.BatchRows = 4 })
	b, _ := clusterNode(t, c, name("b"), set, []int{1, 0}, nil)
	for i := range changes {
		a.edit(t, coll, fmt.Sprintf("r%02d", i), fmt.Sprintf(`{"site":"site %d","temp":%d}`, i, i))
	}
	if rep := a.sync(t); rep.Batches != changes/4 {
		t.Fatalf("a pushed %+v, want %d batches", rep, changes/4)
	}
	b.sync(t)
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cl, err := drill.New(drill.Options{Endpoints: []string{c.URL(0), c.URL(1)}, DialTimeout: 3 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sig := &ctasSignal{Drill: DrillClient(cl), fired: make(chan struct{}, 1)}
	// Stale at once: no other compactor runs here, so an unreadable entry
	// the dead Drillbit left is dropped by the next pass.
	comp, err := NewCompactor(CompactOptions{Drill: sig, Schema: set, Logger: log, Stale: time.Millisecond,
		Now: func() time.Time { return time.Now().Add(72 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := comp.Compact(context.Background(), coll)
		done <- err
	}()
	select {
	case <-sig.fired:
	case err := <-done:
		t.Fatalf("the compaction ended before its CTAS: %v", err)
	case <-time.After(3 * time.Minute):
		t.Fatal("the compaction wrote nothing in 3 minutes")
	}
	time.Sleep(300 * time.Millisecond)
	c.Kill(t, 0) // Drillbit 1 dies while the compaction's CTAS runs through it
	if err := <-done; err != nil {
		t.Logf("the pass during the kill failed (expected; the next ones finish it): %v", err)
	}
	// Passes through the surviving Drillbit until one has nothing to do.
	for pass := 0; ; pass++ {
		if pass == 5 {
			t.Fatal("compaction did not settle in 5 passes")
		}
		time.Sleep(time.Second)
		rep, err := comp.Compact(context.Background(), coll)
		if err != nil {
			t.Logf("pass %d: %v", pass, err)
			continue
		}
		t.Logf("pass %d: %+v", pass, rep.Logs[0])
		if len(rep.Logs[0].Written) == 0 && len(rep.Logs[0].Skipped) == 0 {
			break
		}
	}
	d1 := clusterDrill(t, c, 1)
	assertExactlyOnceSQL(t, d1, coll, changes)
	syncUntilOK(t, a, 5)
	syncUntilOK(t, b, 5)
	fresh, _ := clusterNode(t, c, name("fresh"), set, []int{1, 0}, nil)
	syncUntilOK(t, fresh, 5)
	ma, mb, mf := mirror(t, a, coll), mirror(t, b, coll), mirror(t, fresh, coll)
	if len(ma) != changes || !slices.Equal(ma, mb) || !slices.Equal(ma, mf) {
		t.Errorf("devices differ after the kill: a %d, b %d, fresh %d records, want %d each", len(ma), len(mb), len(mf), changes)
	}
	r := queryOne(t, d1, fmt.Sprintf("SELECT COUNT(*) AS n FROM `dfs`.`fieldsync`.`%s_current`", coll))
	if n, _ := asInt(r["n"]); n != changes {
		t.Errorf("%s_current holds %d rows, want %d", coll, n, changes)
	}
}
