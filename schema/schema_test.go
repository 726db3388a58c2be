package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const inspections = `{"collections":[{"name":"inspections","policy":"field-merge","fields":[
 {"name":"site","type":"text","required":true},
 {"name":"temp","type":"number"},
 {"name":"defects","type":"integer"},
 {"name":"passed","type":"boolean"},
 {"name":"risk","type":"enum","options":["low","high"]},
 {"name":"at","type":"datetime"},
 {"name":"notes","type":"note"},
 {"name":"tags","type":"list"}]}]}`

func mustParse(tb testing.TB, s string) *Set {
	tb.Helper()
	set, err := Parse([]byte(s))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return set
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "empty or truncated"},
		{"syntax line", "{\n\"collections\": [\n  {\"name\": \"a\",,}\n]}", "line 3"},
		{"type line", "{\n\"collections\": [\n  {\"name\": 5}\n]}", `line 3: field "collections.name" must be string`},
		{"unknown key", `{"collections":[{"name":"a","fields":[],"colour":1}]}`, `unknown field "colour"`},
		{"no collections", `{"collections":[]}`, "no collections declared"},
		{"bad name", `{"collections":[{"name":"A b","fields":[]}]}`, `collection #1 "A b": name must be`},
		{"twice", `{"collections":[{"name":"a","fields":[]},{"name":"a","fields":[]}]}`, `collection #2 "a": declared twice`},
		{"reserved name", `{"collections":[{"name":"fieldsync_devices","fields":[]}]}`, `reserved for fieldsync`},
		{"bad policy", `{"collections":[{"name":"a","policy":"newest","fields":[]}]}`, `unknown policy "newest"`},
		{"bad type", `{"collections":[{"name":"a","fields":[{"name":"x","type":"date"}]}]}`, `field #1 "x": unknown type "date"`},
		{"reserved", `{"collections":[{"name":"a","fields":[{"name":"version","type":"text"}]}]}`, `"version": name is reserved`},
		{"field twice", `{"collections":[{"name":"a","fields":[{"name":"x","type":"text"},{"name":"x","type":"note"}]}]}`, `field #2 "x": declared twice`},
		{"enum no options", `{"collections":[{"name":"a","fields":[{"name":"x","type":"enum"}]}]}`, "at least one option"},
		{"enum repeated", `{"collections":[{"name":"a","fields":[{"name":"x","type":"enum","options":["a","a"]}]}]}`, `option "a" is empty or repeated`},
		{"options on text", `{"collections":[{"name":"a","fields":[{"name":"x","type":"text","options":["a"]}]}]}`, "only allowed on enum"},
		{"trailing data", `{"collections":[{"name":"a","fields":[]}]} {}`, "unexpected data"},
		{"title not a field", `{"collections":[{"name":"a","title":"site","fields":[{"name":"x","type":"text"}]}]}`, `title "site" is not one of its fields`},
		{"title a number", `{"collections":[{"name":"a","title":"x","fields":[{"name":"x","type":"number"}]}]}`, `title "x" is a number field`},
		{"unknown rule", `{"collections":[{"name":"a","rules":{"x":"max"},"fields":[{"name":"x","type":"number"}]}]}`, `collection #1 "a": rules: field "x": unknown rule "max"`},
		{"higher on text", `{"collections":[{"name":"a","rules":{"x":"higher"},"fields":[{"name":"x","type":"text"}]}]}`, `rules: field "x": rule "higher" compares numbers, so it fits number, integer and datetime fields, not a text field`},
		{"join on number", `{"collections":[{"name":"a","rules":{"x":"join"},"fields":[{"name":"x","type":"number"}]}]}`, `rule "join" joins texts`},
		{"union on note", `{"collections":[{"name":"a","rules":{"x":"union"},"fields":[{"name":"x","type":"note"}]}]}`, `rule "union" joins lists, so it fits list fields, not a note field`},
		{"rule field missing", `{"collections":[{"name":"a","rules":{"temp":"higher"},"fields":[{"name":"x","type":"number"}]}]}`, `rules: field "temp" is not one of its fields`},
		{"rules not a map", `{"collections":[{"name":"a","rules":["x"],"fields":[]}]}`, `field "collections.rules" must be`},
		{"options on list", `{"collections":[{"name":"a","fields":[{"name":"x","type":"list","options":["a"]}]}]}`, "only allowed on enum"},
		{"reference without source", `{"collections":[{"name":"s","reference":{"key":"id"},"fields":[]}]}`, `"s": a reference needs a query or a table`},
		{"reference with both", `{"collections":[{"name":"s","reference":{"key":"id","query":"SELECT 1","table":"dfs.x"},"fields":[]}]}`, `a query or a table (one of them)`},
		{"reference without key", `{"collections":[{"name":"s","reference":{"table":"dfs.tmp.x"},"fields":[]}]}`, `needs a key`},
		{"reference not a select", `{"collections":[{"name":"s","reference":{"key":"id","query":"DROP TABLE x"},"fields":[]}]}`, `must be a SELECT`},
		{"reference two statements", `{"collections":[{"name":"s","reference":{"key":"id","query":"SELECT 1; DROP TABLE x"},"fields":[]}]}`, `one statement`},
		{"reference bad param", `{"collections":[{"name":"s","reference":{"key":"id","query":"SELECT * FROM t WHERE r = ${Region}"},"fields":[]}]}`, `parameter ${Region}`},
		{"reference map to nothing", `{"collections":[{"name":"s","reference":{"key":"id","table":"dfs.tmp.x","map":{"Site Name":"nme"}},"fields":[{"name":"name","type":"text"}]}]}`, `map sends column "Site Name" to "nme", which is not one of its fields`},
		{"reference map twice", `{"collections":[{"name":"s","reference":{"key":"id","table":"dfs.tmp.x","map":{"a":"name","b":"name"}},"fields":[{"name":"name","type":"text"}]}]}`, `map sends both "a" and "b" to field "name"`},
		{"reference bad schedule", `{"collections":[{"name":"s","reference":{"key":"id","table":"dfs.tmp.x","schedule":"sometimes"},"fields":[]}]}`, `schedule "sometimes"`},
		{"reference policy", `{"collections":[{"name":"s","policy":"lww","reference":{"key":"id","table":"dfs.tmp.x"},"fields":[]}]}`, `read-only on devices, so it has no conflict policy`},
		{"reference rules", `{"collections":[{"name":"s","rules":{"n":"higher"},"reference":{"key":"id","table":"dfs.tmp.x"},"fields":[{"name":"n","type":"number"}]}]}`, `no merge rules`},
		{"options from nothing", `{"collections":[{"name":"a","fields":[{"name":"site","type":"text","options_from":{"collection":"sites","field":"name"}}]}]}`, `options_from names collection "sites", which is not declared`},
		{"options from a plain collection", `{"collections":[{"name":"a","fields":[{"name":"site","type":"text","options_from":{"collection":"a","field":"site"}}]}]}`, `which is not a reference collection`},
		{"options from a missing field", `{"collections":[{"name":"a","fields":[{"name":"site","type":"text","options_from":{"collection":"s","field":"nme"}}]},{"name":"s","reference":{"key":"id","table":"dfs.tmp.x"},"fields":[{"name":"name","type":"text"}]}]}`, `options_from names field "nme", which "s" does not declare`},
		{"options from on a number", `{"collections":[{"name":"a","fields":[{"name":"site","type":"number","options_from":{"collection":"s","field":"name"}}]},{"name":"s","reference":{"key":"id","table":"dfs.tmp.x"},"fields":[{"name":"name","type":"text"}]}]}`, `options_from fits text fields, not a number field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %q", tt.in, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	set, err := Load(filepath.Join("..", "docs", "examples", "collections.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := set.Collection("inspections")
	if err != nil {
		t.Fatal(err)
	}
	have := map[Type]bool{}
	for _, f := range c.Fields {
		have[f.Type] = true
	}
	for _, want := range []Type{TypeText, TypeNumber, TypeBoolean, TypeEnum, TypeDateTime, TypeNote} {
		if !have[want] {
			t.Errorf("example inspections has no %s field", want)
		}
	}
	if c.Title != "site" {
		t.Errorf("example inspections has title %q, want site (what names an inspection)", c.Title)
	}
	if _, err := set.Collection("nope"); !errors.Is(err, ErrUnknownCollection) {
		t.Errorf("Collection(nope) = %v, want ErrUnknownCollection", err)
	}
}

func TestLoadNamesFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(p, []byte("{\n\"collections\": 3}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Load error = %v, want the path and line 2", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c, err := mustParse(t, inspections).Collection("inspections")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  string
		bad  []string // fields named in the error; nil means valid
	}{
		{"minimal", `{"site":"A"}`, nil},
		{"full", `{"site":"A","temp":-1.5e3,"defects":3,"passed":true,"risk":"low","at":"2026-11-23T08:30:00+01:00","notes":"a\nb"}`, nil},
		{"epoch datetime", `{"site":"A","at":1700000000000}`, nil},
		{"undeclared kept", `{"site":"A","extra":{"x":[1,2]}}`, nil},
		{"nulls ok", `{"site":"A","temp":null,"risk":null}`, nil},
		{"missing required", `{"temp":1}`, []string{"site is required"}},
		{"empty required", `{"site":""}`, []string{"site is required"}},
		{"null required", `{"site":null}`, []string{"site is required"}},
		{"wrong types", `{"site":1,"temp":"1","passed":"yes","notes":false}`, []string{"site must be text", "temp must be a number", "passed must be true or false", "notes must be text"}},
		{"integer", `{"site":"A","defects":1.5}`, []string{"defects must be a whole number"}},
		{"integer overflow", `{"site":"A","defects":99999999999999999999}`, []string{"defects must be a whole number"}},
		{"number overflow", `{"site":"A","temp":1e999}`, []string{"temp is out of range"}},
		{"enum", `{"site":"A","risk":"medium"}`, []string{`risk must be one of low, high, not "medium"`}},
		{"datetime", `{"site":"A","at":"yesterday"}`, []string{"at must be a date-time"}},
		{"list", `{"site":"A","tags":["a","b"]}`, nil},
		{"list of numbers", `{"site":"A","tags":["a",1]}`, []string{"tags must be a list of texts, not a list holding a number"}},
		{"list not a list", `{"site":"A","tags":"a"}`, []string{"tags must be a list of texts, not text"}},
		{"not object", `[1]`, []string{"not a JSON object"}},
		{"null doc", `null`, []string{"not a JSON object"}},
		{"trailing", `{"site":"A"} 1`, []string{"data after"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := c.Validate([]byte(tt.doc))
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("Validate(%s) = %v, want nil", tt.doc, err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Validate(%s) = %v, want a *ValidationError", tt.doc, err)
			}
			if len(ve.Problems) != len(tt.bad) {
				t.Errorf("got %d problems (%v), want %d", len(ve.Problems), err, len(tt.bad))
			}
			for _, want := range tt.bad {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestCheckTypes(t *testing.T) {
	t.Parallel()
	c, err := mustParse(t, inspections).Collection("inspections")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, doc string
		bad       []string // fields named in the error; nil means valid
	}{
		{"missing required is another declaration's business", `{"temp":1}`, nil},
		{"an enum option from a newer declaration", `{"site":"A","risk":"medium"}`, nil},
		{"wrong types", `{"site":1,"temp":"1","risk":3}`, []string{"site must be text", "temp must be a number", "risk must be text"}},
		{"not an object", `"x"`, []string{"not a JSON object"}},
		{"broken JSON", `{"site":`, []string{"not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := c.CheckTypes([]byte(tt.doc))
			if tt.bad == nil {
				if err != nil {
					t.Fatalf("CheckTypes(%s) = %v, want nil", tt.doc, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("CheckTypes(%s) = %v, want an invalid record", tt.doc, err)
			}
			for _, want := range tt.bad {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestColumns(t *testing.T) {
	t.Parallel()
	c, _ := mustParse(t, inspections).Collection("inspections")
	cols := c.Columns()
	byName := map[string]Column{}
	for _, col := range cols {
		if _, dup := byName[col.Name]; dup {
			t.Fatalf("column %s twice", col.Name)
		}
		byName[col.Name] = col
	}
	want := map[string]SQLType{"change_id": SQLVarchar, "edited_at": SQLBigInt, "site": SQLVarchar, "temp": SQLDouble,
		"defects": SQLBigInt, "passed": SQLBoolean, "risk": SQLVarchar, "at": SQLBigInt, "notes": SQLVarchar, "doc": SQLVarchar}
	for name, typ := range want {
		if byName[name].Type != typ {
			t.Errorf("column %s type = %q, want %q", name, byName[name].Type, typ)
		}
	}
	if cols[len(cols)-1].Name != DocColumn {
		t.Errorf("last column = %s, want doc", cols[len(cols)-1].Name)
	}
	if c.EffectivePolicy() != PolicyFieldMerge {
		t.Errorf("policy = %s", c.EffectivePolicy())
	}
	if (&Collection{}).EffectivePolicy() != PolicyManual {
		t.Error("default policy is not manual")
	}
}

func TestColumnText(t *testing.T) {
	t.Parallel()
	c, _ := mustParse(t, inspections).Collection("inspections")
	m, err := DecodeDoc([]byte(`{"site":" A ","temp":12345678901234567890.5,"defects":-7,"passed":false,"at":"1970-01-01T00:00:01.5Z","risk":"oops","notes":null}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field, want string
		ok          bool
	}{
		{"site", " A ", true},
		{"temp", "12345678901234567890.5", true},
		{"defects", "-7", true},
		{"passed", "false", true},
		{"at", "1500", true},
		{"risk", "", false},
		{"notes", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			f, _ := c.Field(tt.field)
			got, ok := f.ColumnText(m[tt.field])
			if got != tt.want || ok != tt.ok {
				t.Errorf("ColumnText(%s) = %q,%v want %q,%v", tt.field, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(inspections))
	f.Add([]byte(`{"collections":[{"name":"a","fields":[]}]}`))
	f.Add([]byte("{\n\"collections\": [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := Parse(b)
		if err != nil {
			if set != nil {
				t.Fatal("Parse returned a set with an error")
			}
			return
		}
		for _, c := range set.Collections {
			if !identRE.MatchString(c.Name) {
				t.Fatalf("accepted bad collection name %q", c.Name)
			}
			for _, fl := range c.Fields {
				if !identRE.MatchString(fl.Name) || reserved[fl.Name] {
					t.Fatalf("accepted bad field name %q", fl.Name)
				}
				_ = c.Validate([]byte(`{}`))
			}
		}
	})
}

func TestRulesAndReference(t *testing.T) {
	t.Parallel()
	set := mustParse(t, `{"collections":[
 {"name":"readings","policy":"manual",
  "rules":{"value":"higher","at":"lower","notes":"join","crew":"union","who":"server","site":"newest"},"fields":[
  {"name":"site","type":"text","options_from":{"collection":"sites","field":"name"}},
  {"name":"value","type":"number"},
  {"name":"at","type":"datetime"},
  {"name":"notes","type":"note"},
  {"name":"crew","type":"list"},
  {"name":"who","type":"enum","options":["a","b"]}]},
 {"name":"sites","reference":{"query":"SELECT * FROM dfs.ref.`+"`sites.csvh`"+` WHERE region = ${region} AND ${region} <> ${device}","key":"site_id","map":{"site_name":"name"}},
  "fields":[{"name":"name","type":"text"},{"name":"region","type":"text"}]}]}`)
	r, _ := set.Collection("readings")
	s, _ := set.Collection("sites")
	if !r.HasRules() || s.HasRules() || r.IsReference() || !s.IsReference() {
		t.Errorf("HasRules/IsReference wrong: %v %v %v %v", r.HasRules(), s.HasRules(), r.IsReference(), s.IsReference())
	}
	if got := strings.Join(set.LogNames(), ","); got != "readings" {
		t.Errorf("LogNames = %s", got)
	}
	if refs := set.References(); len(refs) != 1 || refs[0].Name != "sites" {
		t.Errorf("References = %v", refs)
	}
	ref := s.Reference
	if ref.EffectiveSchedule() != DefaultReferenceSchedule || ref.ColumnOf("name") != "site_name" || ref.ColumnOf("region") != "region" {
		t.Errorf("schedule %s, columns %s %s", ref.EffectiveSchedule(), ref.ColumnOf("name"), ref.ColumnOf("region"))
	}
	if got := strings.Join(ref.Params(), ","); got != "device,region" {
		t.Errorf("Params = %s", got)
	}
	quote := func(v string) (string, error) { return "'" + strings.ReplaceAll(v, "'", "''") + "'", nil }
	sql, err := ref.Bind(map[string]string{"region": "n'orth", "device": "d1"}, quote)
	if err != nil || sql != "SELECT * FROM dfs.ref.`sites.csvh` WHERE region = 'n''orth' AND 'n''orth' <> 'd1'" {
		t.Errorf("Bind = %s, %v", sql, err)
	}
	if _, err := ref.Bind(map[string]string{"device": "d1"}, quote); err == nil || !strings.Contains(err.Error(), "${region}") {
		t.Errorf("Bind without region = %v, want an error naming ${region}", err)
	}
	if (&Reference{Table: "dfs.tmp.`x`"}).SourceSQL() != "SELECT * FROM dfs.tmp.`x`" {
		t.Error("SourceSQL of a table")
	}
	if r.Rule("value") != MergeHigher || r.Rule("other") != "" {
		t.Errorf("Rule = %q %q", r.Rule("value"), r.Rule("other"))
	}
	if MergeHigher.Words() != "higher value" {
		t.Error(MergeHigher.Words())
	}
}

func TestLoadRulesExample(t *testing.T) {
	t.Parallel()
	set, err := Load(filepath.Join("..", "docs", "examples", "collections-rules.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := set.Collection("readings")
	s, _ := set.Collection("sites")
	if r == nil || s == nil || !r.HasRules() || !s.IsReference() || len(s.Reference.Params()) != 1 {
		t.Fatalf("example: readings %+v sites %+v", r, s)
	}
}
