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
 {"name":"notes","type":"note"}]}]}`

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
