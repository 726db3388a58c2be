package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/drilltest"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// writeCSV replaces a CSV file (with a header line) in the shared
// Drillbit's dfs.fieldsync workspace, atomically, and returns its table
// name there.
func writeCSV(t testing.TB, name string, lines ...string) string {
	t.Helper()
	dir := drilltest.WorkspaceDir(t)
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
	return "dfs.fieldsync.`" + name + "`"
}

// refSchema declares a reference collection of sites read from table and
// a collection whose site field takes its options from it, and returns the
// set and the name of the sites collection.
func refSchema(t testing.TB, table, extra string) (*schema.Set, string) {
	t.Helper()
	prefix := fmt.Sprintf("ref%d_%d", time.Now().UnixNano()%1_000_000_000, itSeq.Add(1))
	set, err := schema.Parse(fmt.Appendf(nil, `{"collections":[
 {"name":"%s_visits","fields":[{"name":"site","type":"text","options_from":{"collection":"%s_sites","field":"name"}}]},
 {"name":"%s_sites","reference":{"query":"SELECT * FROM %s WHERE region = ${region}","key":"site_id","map":{"site_name":"name"}%s},
  "fields":[{"name":"name","type":"text","required":true},{"name":"region","type":"text"},{"name":"lat","type":"number"},{"name":"open","type":"boolean"}]}]}`,
		prefix, prefix, prefix, strings.ReplaceAll(table, "`", "\\u0060"), extra))
	if err != nil {
		t.Fatal(err)
	}
	return set, prefix + "_sites"
}

func refRows(t *testing.T, n *node, coll string) string {
	t.Helper()
	p, err := n.st.RefRows(context.Background(), coll, store.RefQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range p.Rows {
		out = append(out, r.Key+"="+string(r.Doc))
	}
	return strings.Join(out, " ")
}

func refResult(t testing.TB, rs []RefResult, coll string) RefResult {
	t.Helper()
	for _, r := range rs {
		if r.Collection == coll {
			return r
		}
	}
	t.Fatalf("no result for %s in %+v", coll, rs)
	return RefResult{}
}

// TestIntegrationReference makes a CSV in a dfs workspace a read-only
// collection on two devices with different scopes, then changes, adds and
// removes rows in the CSV and checks what reaches each device, and that an
// unchanged source costs no row reads.
func TestIntegrationReference(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	ctx := context.Background()
	csv := fmt.Sprintf("ref%d_sites.csvh", time.Now().UnixNano())
	table := writeCSV(t, csv,
		"site_id,site_name,region,lat,open",
		"S1,North well,north,1.5,yes",
		"S2,South gate,south,2,no",
		"S3,Quay 3,north,,true",
		"S4,Bad lat,north,abc,true",
		"S6,Mill,north,6,false")
	set, sites := refSchema(t, table, "")
	mk := func(device, region string, pageRows int) *node {
		return mustNode(t, device, time.Now().UnixMilli(), d, func(o *Options) {
			o.Schema, o.Scope, o.RefPageRows = set, map[string]string{"region": region}, pageRows
		})
	}
	north, south := mk("north1", "north", 2), mk("south1", "south", 0)

	rep := north.sync(t)
	r := refResult(t, rep.References, sites)
	if r.Added != 3 || r.RowErrors != 1 || r.RowsRead != 4 || r.Unchanged || r.Error != "" {
		t.Errorf("north's first pull: %+v, want 3 added of 4 rows read and 1 row error", r)
	}
	want := `S1={"lat":1.5,"name":"North well","open":true,"region":"north"} S3={"name":"Quay 3","open":true,"region":"north"} S6={"lat":6,"name":"Mill","open":false,"region":"north"}`
	if got := refRows(t, north, sites); !strings.HasPrefix(got, want) {
		t.Errorf("north sees %s, want %s …", got, want)
	}
	st, ok, err := north.st.RefState(ctx, sites)
	if err != nil || !ok || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], `row "S4": column lat for field lat: "abc" does not convert to a number`) {
		t.Errorf("north's row errors: %q (%v)", st.Errors, err)
	}
	south.sync(t)
	if got := refRows(t, south, sites); got != `S2={"lat":2,"name":"South gate","open":false,"region":"south"}` {
		t.Errorf("south sees %s, want only S2", got)
	}
	if has, _ := north.st.RefHas(ctx, sites, "name", "Mill"); !has {
		t.Error("the options index lacks Mill")
	}

	// Unchanged: one aggregate, no row read; and not due again before the
	// schedule (hourly).
	rs, err := north.ag.PullReferences(ctx, true)
	if r := refResult(t, rs, sites); err != nil || !r.Unchanged || r.RowsRead != 0 {
		t.Errorf("re-pull of an unchanged source: %+v %v, want unchanged, 0 rows read", r, err)
	}
	if rep := north.sync(t); len(rep.References) != 0 {
		t.Errorf("a sync before the schedule pulled references: %+v", rep.References)
	}
	north.clk.Advance(61 * time.Minute)
	if rep := north.sync(t); len(rep.References) != 1 || !rep.References[0].Unchanged {
		t.Errorf("a sync after the schedule: %+v, want one unchanged check", rep.References)
	}

	// Change S1, remove S3, add S5; fix S4; and in south's scope change S2.
	writeCSV(t, csv,
		"site_id,site_name,region,lat,open",
		"S1,North well B,north,1.5,yes",
		"S2,South gate B,south,2.5,no",
		"S4,Fixed lat,north,4,true",
		"S5,New site,north,5,true",
		"S6,Mill,north,6,false")
	rs, _ = north.ag.PullReferences(ctx, true)
	if r := refResult(t, rs, sites); r.Added != 2 || r.Changed != 1 || r.Removed != 1 || r.RowsRead != 4 || r.RowErrors != 0 {
		t.Errorf("after the CSV changed: %+v, want S4 and S5 added, S1 changed, S3 removed, 4 rows read", r)
	}
	want = `S1={"lat":1.5,"name":"North well B","open":true,"region":"north"} S4={"lat":4,"name":"Fixed lat","open":true,"region":"north"} S5={"lat":5,"name":"New site","open":true,"region":"north"} S6={"lat":6,"name":"Mill","open":false,"region":"north"}`
	if got := refRows(t, north, sites); got != want {
		t.Errorf("north sees %s\nwant %s", got, want)
	}
	if has, _ := north.st.RefHas(ctx, sites, "name", "North well"); has {
		t.Error("the old name of S1 is still an option")
	}
	rs, _ = south.ag.PullReferences(ctx, true)
	if r := refResult(t, rs, sites); r.Unchanged || r.Changed != 1 || r.Added != 0 || r.Removed != 0 || r.RowsRead != 1 || r.Error != "" {
		t.Errorf("south after S2 changed: %+v, want S2 changed, 1 row read", r)
	}
	if got := refRows(t, south, sites); got != `S2={"lat":2.5,"name":"South gate B","open":false,"region":"south"}` {
		t.Errorf("south sees %s, want the changed S2 only", got)
	}
	if has, _ := south.st.RefHas(ctx, sites, "name", "South gate"); has {
		t.Error("the old name of S2 is still an option on south")
	}
	rs, _ = south.ag.PullReferences(ctx, true)
	if r := refResult(t, rs, sites); !r.Unchanged || r.RowsRead != 0 {
		t.Errorf("south's re-pull of its unchanged scope: %+v, want unchanged, 0 rows read", r)
	}
}

// TestIntegrationReferenceErrors checks the errors people see: a mapped
// column the source lacks, and a scope key the device does not set. The
// rows already pulled stay.
func TestIntegrationReferenceErrors(t *testing.T) {
	t.Parallel()
	d := realDrill(t)
	table := writeCSV(t, fmt.Sprintf("ref%d_err.csvh", time.Now().UnixNano()), "site_id,name,region", "S1,A,north")
	set, sites := refSchema(t, table, "")
	n := mustNode(t, "e1", time.Now().UnixMilli(), d, func(o *Options) { o.Schema = set })
	rep := n.sync(t)
	if r := refResult(t, rep.References, sites); !strings.Contains(r.Error, "${region}") || !strings.Contains(r.Error, "scope.region") {
		t.Errorf("without a region: %+v", r)
	}
	n.ag.opts.Scope = map[string]string{"region": "north"}
	rs, _ := n.ag.PullReferences(context.Background(), true)
	if r := refResult(t, rs, sites); !strings.Contains(r.Error, "the source has no column site_name") {
		t.Errorf("a missing column: %+v", r)
	}
	st, _, _ := n.st.RefState(context.Background(), sites)
	if !strings.Contains(st.LastError, "site_name") {
		t.Errorf("state last error = %q", st.LastError)
	}
}
