package app

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// contractFile is the TypeScript twin of the UI contract, generated from the
// Go types by contractTS. The frontend checks its own types against it at
// compile time (frontend/src/lib/contract.check.ts).
const contractFile = "../frontend/src/lib/contract.gen.ts"

// TestContractTSIsCurrent fails when a Go type or method of the UI contract
// changed without the generated TypeScript: a renamed JSON tag, a new field,
// a new call. `make contract` (UPDATE_CONTRACT=1) rewrites the file.
func TestContractTSIsCurrent(t *testing.T) {
	want, err := contractTS()
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(contractFile)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if bytes.Equal(have, want) {
		return
	}
	if os.Getenv("UPDATE_CONTRACT") == "1" {
		if err := os.WriteFile(contractFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", filepath.Clean(contractFile))
		return
	}
	t.Fatalf("%s is out of date with the Go types of the UI contract: run `make contract` and fix what the frontend check then reports", filepath.Clean(contractFile))
}

func TestContractTSNamesEveryCall(t *testing.T) {
	out, err := contractTS()
	if err != nil {
		t.Fatal(err)
	}
	src := string(out)
	for _, bound := range []any{&UI{}, &App{}} {
		typ := reflect.TypeOf(bound)
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			if !strings.Contains(src, "\n  "+m.Name+": {") {
				t.Errorf("%s.%s is missing from the generated contract", typ.Elem().Name(), m.Name)
			}
		}
	}
	for _, want := range []string{
		"export interface Info {", "  device: string;", "export interface Change {", "  doc?: unknown;",
		"  parents: string[];", "  records: StoreRecord[];", "Records: { args: [string, string, number]; result: RecordPage };",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("generated contract lacks %q", want)
		}
	}
}

// tsWriter turns Go types into TypeScript declarations.
type tsWriter struct {
	decls map[string]string // TS name -> declaration
	names map[reflect.Type]string
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// contractTS returns the generated TypeScript: an interface per Go struct
// reachable from the bound methods of UI and App, and UICalls/AppCalls
// listing each call's arguments and result.
func contractTS() ([]byte, error) {
	w := &tsWriter{decls: map[string]string{}, names: map[reflect.Type]string{}}
	var b strings.Builder
	b.WriteString("// Code generated from the Go types of the UI contract (app/contract_test.go,\n")
	b.WriteString("// `make contract`). DO NOT EDIT. lib/contract.check.ts checks the frontend's\n")
	b.WriteString("// own types against these at compile time.\n")
	calls := map[string]string{}
	for _, bound := range []struct {
		name string
		v    any
	}{{"UICalls", &UI{}}, {"AppCalls", &App{}}} {
		var c strings.Builder
		fmt.Fprintf(&c, "\n/** The calls of Go's %s, by method name. */\nexport interface %s {\n", reflect.TypeOf(bound.v).Elem().Name(), bound.name)
		typ := reflect.TypeOf(bound.v)
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			var args []string
			for j := 1; j < m.Type.NumIn(); j++ {
				s, err := w.ts(m.Type.In(j))
				if err != nil {
					return nil, fmt.Errorf("%s.%s argument %d: %w", bound.name, m.Name, j, err)
				}
				args = append(args, s)
			}
			result := "void"
			if m.Type.NumOut() > 0 && m.Type.Out(0) != reflect.TypeFor[error]() {
				s, err := w.ts(m.Type.Out(0))
				if err != nil {
					return nil, fmt.Errorf("%s.%s result: %w", bound.name, m.Name, err)
				}
				result = s
			}
			fmt.Fprintf(&c, "  %s: { args: [%s]; result: %s };\n", m.Name, strings.Join(args, ", "), result)
		}
		c.WriteString("}\n")
		calls[bound.name] = c.String()
	}
	names := make([]string, 0, len(w.decls))
	for n := range w.decls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.WriteString(w.decls[n])
	}
	b.WriteString(calls["UICalls"])
	b.WriteString(calls["AppCalls"])
	return []byte(b.String()), nil
}

// ts returns the TypeScript type of t, declaring the structs it needs.
func (w *tsWriter) ts(t reflect.Type) (string, error) {
	if t == reflect.TypeFor[time.Time]() {
		return "string", nil // RFC 3339
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
		return "unknown", nil // e.g. json.RawMessage: any JSON
	}
	if t.Implements(textMarshaler) {
		return "string", nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean", nil
	case reflect.String:
		return "string", nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number", nil
	case reflect.Interface:
		return "unknown", nil
	case reflect.Pointer:
		s, err := w.ts(t.Elem())
		return s + " | null", err
	case reflect.Slice, reflect.Array:
		s, err := w.ts(t.Elem())
		if strings.Contains(s, " ") {
			s = "(" + s + ")"
		}
		return s + "[]", err
	case reflect.Map:
		s, err := w.ts(t.Elem())
		return "Record<string, " + s + ">", err
	case reflect.Struct:
		return w.declare(t)
	}
	return "", fmt.Errorf("no TypeScript for Go type %s", t)
}

// declare writes the interface of struct t once and returns its name.
func (w *tsWriter) declare(t reflect.Type) (string, error) {
	if n, ok := w.names[t]; ok {
		return n, nil
	}
	name := t.Name()
	if name == "Record" {
		name = "StoreRecord" // Record would hide TypeScript's own Record<K, V>
	}
	if _, taken := w.decls[name]; taken || name == "" {
		return "", fmt.Errorf("two Go types named %q (%s): give one another name", name, t)
	}
	w.names[t] = name
	w.decls[name] = "" // reserve while the fields are walked
	var b strings.Builder
	fmt.Fprintf(&b, "\n/** Go's %s.%s. */\nexport interface %s {\n", filepath.Base(t.PkgPath()), t.Name(), name)
	if err := w.fields(&b, t); err != nil {
		return "", err
	}
	b.WriteString("}\n")
	w.decls[name] = b.String()
	return name, nil
}

// fields writes t's JSON fields, flattening embedded structs as
// encoding/json does.
func (w *tsWriter) fields(b *strings.Builder, t reflect.Type) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if err := w.fields(b, f.Type); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		s, err := w.ts(f.Type)
		if err != nil {
			return fmt.Errorf("%s.%s: %w", t.Name(), f.Name, err)
		}
		opt := ""
		if strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero") {
			opt = "?"
		}
		fmt.Fprintf(b, "  %s%s: %s;\n", name, opt, s)
	}
	return nil
}
