package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/store"
)

func TestReadInboxRows(t *testing.T) {
	t.Parallel()
	set := mustSchema(t)
	decl, err := set.Collection("inspections")
	if err != nil {
		t.Fatal(err)
	}
	num := json.Number("7")
	tests := []struct {
		name       string
		row        Row
		wantReject string // "" when the row applies
		wantOp     store.Op
		wantFields string
	}{
		{"one field", Row{"record_id": "r1", "site": "Quay", "author": "ana"}, "", store.OpPut, `{"site":"Quay"}`},
		{"column names in capitals", Row{"RECORD_ID": "r1", "Site": "Quay", "Author": "ana"}, "", store.OpPut, `{"site":"Quay"}`},
		{"NULL leaves a field", Row{"record_id": "r1", "site": nil, "count": num, "author": "ana"}, "", store.OpPut, `{"count":7}`},
		{"converted values", Row{"record_id": "r1", "temp": "1.5", "ok": "yes", "at": "2026-12-06", "risk": "high", "author": "ana"}, "", store.OpPut,
			`{"at":"2026-12-06T00:00:00Z","ok":true,"risk":"high","temp":1.5}`},
		{"delete", Row{"record_id": "r1", "op": "DELETE", "author": "ana", "reason": "test"}, "", store.OpDelete, `{}`},
		{"update word", Row{"record_id": "r1", "op": "update", "site": "x", "author": "ana"}, "", store.OpPut, `{"site":"x"}`},
		{"no record", Row{"site": "x", "author": "ana"}, "record_id is missing", "", ""},
		{"no author", Row{"record_id": "r1", "site": "x", "author": " "}, "author is missing", "", ""},
		{"author not text", Row{"record_id": "r1", "site": "x", "author": num}, "author is not text", "", ""},
		{"unknown op", Row{"record_id": "r1", "op": "merge", "author": "ana"}, `op "merge" is not update or delete`, "", ""},
		{"undeclared column", Row{"record_id": "r1", "colour": "red", "author": "ana"}, "column colour is not a declared field of inspections", "", ""},
		{"does not convert", Row{"record_id": "r1", "temp": "hot", "author": "ana"}, `field temp: "hot" does not convert to a number`, "", ""},
		{"not an option", Row{"record_id": "r1", "risk": "mid", "author": "ana"}, `field risk: "mid" is not one of low, high`, "", ""},
		{"delete that sets a field", Row{"record_id": "r1", "op": "delete", "site": "x", "author": "ana"}, "a delete sets field site", "", ""},
		{"nothing to change", Row{"record_id": "r1", "site": nil, "author": "ana"}, "the row changes no field", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := readInboxRows(decl, "inspections", "fix", []Row{tt.row})
			got := rows[0]
			if tt.wantReject != "" {
				if !strings.HasPrefix(got.reject, tt.wantReject) {
					t.Fatalf("reject = %q, want it to start with %q", got.reject, tt.wantReject)
				}
				return
			}
			if got.reject != "" {
				t.Fatalf("rejected: %s", got.reject)
			}
			fields, _ := encodeDoc(got.fields)
			if got.op != tt.wantOp || string(fields) != tt.wantFields {
				t.Errorf("op %q fields %s, want %q %s", got.op, fields, tt.wantOp, tt.wantFields)
			}
		})
	}
}

// TestInboxRowIdentity: a row's change id depends on the collection, the
// table's name, the row and its occurrence, never on the order Drill
// returned the rows in.
func TestInboxRowIdentity(t *testing.T) {
	t.Parallel()
	decl, err := mustSchema(t).Collection("inspections")
	if err != nil {
		t.Fatal(err)
	}
	a := Row{"record_id": "r2", "site": "A", "author": "ana"}
	b := Row{"record_id": "r1", "site": "B", "author": "ana"}
	twice := Row{"record_id": "r1", "site": "C", "author": "ana"}
	one := readInboxRows(decl, "inspections", "t", []Row{a, b, twice, twice})
	other := readInboxRows(decl, "inspections", "t", []Row{twice, a, twice, b})
	ids := map[string]bool{}
	for i := range one {
		if one[i].changeID != other[i].changeID || one[i].record != other[i].record || one[i].index != i {
			t.Errorf("row %d: %+v and %+v differ with the order Drill returned them in", i, one[i], other[i])
		}
		ids[one[i].changeID] = true
	}
	if len(ids) != 4 {
		t.Errorf("%d distinct change ids for 4 rows (two identical): %v", len(ids), ids)
	}
	if one[0].record != "r1" || one[3].record != "r2" {
		t.Errorf("rows are not sorted by record id: %+v", one)
	}
	for _, o := range [][2]string{{"inspections", "t2"}, {"other", "t"}} {
		if readInboxRows(decl, o[0], o[1], []Row{a})[0].changeID == one[3].changeID {
			t.Errorf("collection %s table %s gives the same change id", o[0], o[1])
		}
	}
	if n1, n2 := ingestBatchName("c", "t", 5, 0), ingestBatchName("c", "t", 5, 500); n1 == n2 || !strings.HasPrefix(n1, "000000000000005_server_") {
		t.Errorf("batch names %q %q", n1, n2)
	}
	if _, dev, ok := parseBatchName(ingestBatchName("c", "t", 5, 99_999)); !ok || dev != ServerDevice {
		t.Errorf("an ingest batch name does not parse as the server's: %v %q", ok, dev)
	}
}

func TestVersionAfter(t *testing.T) {
	t.Parallel()
	v := func(s string) string { return s }
	tests := []struct {
		name    string
		base    store.Version
		parents []string
		want    string
	}{
		{"no parents", store.Version{WallMS: 100, Node: "server"}, nil, "000000000000100-0000-server"},
		{"older parents", store.Version{WallMS: 100, Node: "server"}, []string{v("000000000000099-0005-a")}, "000000000000100-0000-server"},
		{"a parent ahead", store.Version{WallMS: 100, Node: "server"}, []string{v("000000000000200-0003-a"), v("000000000000150-0000-b")}, "000000000000200-0004-server"},
		{"parents ahead in either order", store.Version{WallMS: 100, Node: "server"}, []string{v("000000000000150-0000-b"), v("000000000000200-0003-a")}, "000000000000200-0004-server"},
		{"counter full", store.Version{WallMS: 100, Node: "server"}, []string{v("000000000000100-ffff-a")}, "000000000000101-0000-server"},
		{"same time, node after", store.Version{WallMS: 100, Node: "server"}, []string{v("000000000000100-0000-zed")}, "000000000000100-0001-server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := versionAfter(tt.base, tt.parents).String(); got != tt.want {
				t.Errorf("versionAfter = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRecordStateChange(t *testing.T) {
	t.Parallel()
	decl, err := mustSchema(t).Collection("inspections")
	if err != nil {
		t.Fatal(err)
	}
	put := func(id, version, doc string, parents ...string) store.Change {
		return store.Change{ChangeID: id, RecordID: "r", Op: store.OpPut, Version: version, Parents: parents, Doc: []byte(doc), Device: "a"}
	}
	del := func(id, version string, parents ...string) store.Change {
		return store.Change{ChangeID: id, RecordID: "r", Op: store.OpDelete, Version: version, Parents: parents, Device: "a"}
	}
	state := func(cs ...store.Change) *recordState {
		rs := &recordState{changes: map[string]store.Change{}}
		for _, c := range cs {
			rs.add(c)
		}
		return rs
	}
	update := inboxRow{changeID: "x", record: "r", op: store.OpPut, author: "ana", fields: map[string]any{"site": "New"}}
	remove := inboxRow{changeID: "x", record: "r", op: store.OpDelete, author: "ana"}
	v1, v2, v3 := "000000000000010-0000-a", "000000000000020-0000-a", "000000000000030-0000-b"
	tests := []struct {
		name        string
		rs          *recordState
		row         inboxRow
		wantReject  string
		wantDoc     string
		wantParents string
		// wantResolution is the resolution's how and winner before ("" for
		// none): an inbox row over an open conflict settles it.
		wantResolution string
	}{
		{"unknown record", nil, update, `unknown record "r"`, "", "", ""},
		{"update keeps the other fields", state(put("1", v1, `{"site":"Old","count":2}`), put("2", v2, `{"site":"Mid","count":3}`, v1)), update, "", `{"count":3,"site":"New"}`, v2, ""},
		{"update of a conflict: every leaf, the newest as base", state(put("1", v1, `{"site":"Old"}`), put("2", v2, `{"site":"A","count":1}`, v1), put("3", v3, `{"site":"B","count":2}`, v1)), update, "", `{"count":2,"site":"New"}`, v2 + "," + v3, "server " + v3},
		{"update of a deleted record", state(put("1", v1, `{"site":"Old"}`), del("2", v2, v1)), update, `record "r" is deleted`, "", "", ""},
		{"delete", state(put("1", v1, `{"site":"Old"}`)), remove, "", "", v1, ""},
		{"delete of a deleted record", state(put("1", v1, `{"site":"Old"}`), del("2", v2, v1)), remove, `record "r" is already deleted`, "", "", ""},
		{"the result must be valid", state(put("1", v1, `{"count":1}`)), inboxRow{changeID: "x", record: "r", op: store.OpPut, author: "ana", fields: map[string]any{"count": json.Number("2")}}, "the record would not be valid", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, why := tt.rs.change(decl, tt.row, 5)
			if tt.wantReject != "" {
				if !strings.HasPrefix(why, tt.wantReject) {
					t.Fatalf("why = %q, want %q", why, tt.wantReject)
				}
				return
			}
			if why != "" {
				t.Fatalf("rejected: %s", why)
			}
			if string(c.Doc) != tt.wantDoc || strings.Join(c.Parents, ",") != tt.wantParents || c.Device != ServerDevice || c.Author != "ana" {
				t.Errorf("change %+v doc %s, want doc %s parents %s", c, c.Doc, tt.wantDoc, tt.wantParents)
			}
			got := ""
			if r := c.Resolution; r != nil {
				got = r.How + " " + r.WinnerBefore
				if r.Note != "resolved through the inbox" {
					t.Errorf("note = %q", r.Note)
				}
			}
			if got != tt.wantResolution {
				t.Errorf("resolution %q, want %q", got, tt.wantResolution)
			}
			if pv, _ := store.ParseVersion(tt.rs.leaves[len(tt.rs.leaves)-1].Version); !pv.Less(mustVersion(t, c.Version)) {
				t.Errorf("version %s does not follow the leaves %v", c.Version, tt.rs.leaves)
			}
		})
	}
}

func mustVersion(tb testing.TB, s string) store.Version {
	tb.Helper()
	v, err := store.ParseVersion(s)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}
