package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/store"
)

// TestIntegrationAuditInDrill: a resolution made on device A reaches Drill
// once, in its change's row, although A's pushes are broken the ways a
// killed push breaks them (lost requests, partial batches, lost answers)
// and retried; <coll>_resolutions shows it once with its resolver,
// <coll>_history lists every version once, and device B, which pulled it,
// has the audit entry with the resolver.
func TestIntegrationAuditInDrill(t *testing.T) {
	t.Parallel()
	real := realDrill(t)
	fd := &faultyDrill{Drill: real, rng: rand.New(rand.NewPCG(7, 9)), faults: map[string]int{}}
	set, name := itSchema(t)
	coll := name("inspections")
	now := time.Now().UnixMilli()
	a := mustNode(t, "a", now, fd, func(o *Options) { o.Schema = set; o.BatchRows = 2 })
	b := mustNode(t, "b", now, real, func(o *Options) { o.Schema = set })
	ctx := context.Background()
	syncClean := func(n *node) {
		t.Helper()
		for round := 0; ; round++ {
			if round > 60 {
				t.Fatalf("%s: no clean sync after %d rounds; faults %v", n.device, round, fd.faults)
			}
			rep, err := n.ag.SyncNow(ctx)
			if err == nil && rep.ViewsError == "" {
				return
			}
			if err != nil && !errors.Is(err, errInjected) {
				t.Fatalf("%s: sync failed for another reason: %v", n.device, err)
			}
		}
	}
	a.edit(t, coll, "r", `{"site":"base"}`)
	a.edit(t, coll, "other", `{"site":"other"}`)
	syncClean(a)
	b.sync(t)
	a.edit(t, coll, "r", `{"site":"from a"}`)
	b.clk.Advance(time.Second)
	b.edit(t, coll, "r", `{"site":"from b"}`)
	b.sync(t)
	syncClean(a)
	res, err := a.ag.Resolve(ctx, coll, "r", Choice{Take: TakeDevice, Author: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	// More edits, so the resolution shares its batches with others.
	a.edit(t, coll, "other", `{"site":"other 2"}`)
	a.edit(t, coll, "third", `{"site":"third"}`)
	for range 3 {
		syncClean(a)
	}
	t.Logf("faults injected: %v", fd.faults)
	if fd.faults["partial write"]+fd.faults["lost answer"] == 0 {
		t.Errorf("no push was broken mid-way: %v", fd.faults)
	}
	b.sync(t)

	// Drill: once in the log, once in the view, with the resolver.
	assertExactlyOnceSQL(t, real, coll, 7)
	rows, err := real.Query(ctx, fmt.Sprintf("SELECT `record_id`, `change_id`, `resolved_by`, `device`, `how`, `chosen_version`, `leaves`, `doc`, `hour` "+
		"FROM `dfs`.`fieldsync`.`%s_resolutions` WHERE `resolved_by` = 'ann'", coll))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("resolutions by ann: %v, want one row", rows)
	}
	r := rows[0]
	want := map[string]any{"record_id": "r", "change_id": res.ChangeID, "resolved_by": "ann", "device": "a", "how": "device",
		"chosen_version": res.Resolution.Chosen, "leaves": strings.Join([]string{`["` + res.Parents[0], res.Parents[1] + `"]`}, `","`),
		"doc": `{"site":"from a"}`}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("resolutions view: %s = %v, want %v (row %v)", k, r[k], v, r)
		}
	}
	if res.Resolution.Chosen == "" {
		t.Errorf("the resolution names no chosen version: %+v", res.Resolution)
	}
	// The history of one record, in one hour partition: every version once.
	hist, err := real.Query(ctx, fmt.Sprintf("SELECT `change_id`, `version`, `author`, `device`, `resolution` FROM `dfs`.`fieldsync`.`%s_history` "+
		"WHERE `record_id` = 'r' AND `hour` >= '%s' ORDER BY `version`", coll, time.UnixMilli(now).UTC().Add(-time.Hour).Format("2006010215")))
	if err != nil {
		t.Fatal(err)
	}
	local, err := b.st.History(ctx, coll, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || len(local) != 4 {
		t.Fatalf("history of r: Drill %v, device b %d versions; want 4 each", hist, len(local))
	}
	for i, h := range hist {
		if h["change_id"] != local[i].ChangeID || h["device"] != local[i].Device {
			t.Errorf("history row %d: %v, device b has %+v", i, h, local[i])
		}
	}
	if hist[3]["change_id"] != res.ChangeID || hist[3]["resolution"] == nil || hist[2]["resolution"] != nil {
		t.Errorf("history: the resolution is not the last version, or not alone with a resolution: %v", hist)
	}
	// Device b: the pulled resolution's audit entry, with its resolver.
	es, err := b.st.AuditOf(ctx, coll, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Actor != "ann" || es[0].ChangeID != res.ChangeID || !strings.Contains(string(es[0].Detail), `"how":"device"`) {
		t.Errorf("device b's audit of r: %+v", es)
	}
}

// TestAuditViewSQL: every audit view reads the log through an
// aggregate whose grouping starts with the partition, never a window, so
// a filter on hour or record_id reaches the scan (checked against the real
// Drillbit by TestIntegrationAuditInDrill's answers; here, the SQL).
func TestAuditViewSQL(t *testing.T) {
	t.Parallel()
	set, err := schema.Parse([]byte(`{"collections":[{"name":"sites","fields":[{"name":"site","type":"text"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	a := mustNode(t, "a", 1_700_000_000_000, newFakeDrill(), func(o *Options) { o.Schema = set })
	stmts, err := a.ag.auditViewSQL("sites")
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range []struct{ view, must string }{
		{"`sites_history`", "GROUP BY u.`hour`"},
		{"`sites_resolutions`", "WHERE t.`fieldsync_resolution` IS NOT NULL"},
	} {
		q := stmts[i]
		if !strings.Contains(q, tt.view) || !strings.Contains(q, tt.must) || strings.Contains(q, " OVER ") {
			t.Errorf("%s: %s", tt.view, q)
		}
	}
}

func TestDecodeResolution(t *testing.T) {
	t.Parallel()
	big := `{"how":"x","note":"` + strings.Repeat("n", store.MaxResolutionBytes) + `"}`
	for _, tt := range []struct {
		name string
		cell any
		how  string
		bad  string
	}{
		{"null", nil, "", ""},
		{"empty", "", "", ""},
		{"json null", "null", "", ""},
		{"resolution", `{"how":"server","chosen":"001700000000000-0000-a","note":"ok","extra":1}`, "server", ""},
		{"list", `[1]`, "", "not a JSON object of a resolution"},
		{"wrong type", `{"how":5}`, "", "not a JSON object of a resolution"},
		{"not json", `{how`, "", "not a JSON object of a resolution"},
		{"number cell", 5.0, "", "is not text"},
		{"too big", big, "", "more than the"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := decodeResolution(Row{schema.ResolutionColumn: tt.cell})
			switch {
			case tt.bad != "":
				if err == nil || !strings.Contains(err.Error(), tt.bad) {
					t.Errorf("err = %v, want %q", err, tt.bad)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			case tt.how == "" && res != nil, tt.how != "" && (res == nil || res.How != tt.how):
				t.Errorf("resolution = %+v, want how %q", res, tt.how)
			}
		})
	}
}
