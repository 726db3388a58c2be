package drill

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// decodeCalciteString parses one Calcite character literal the way Drill's
// parser does: '...' with a doubled quote for a quote, or U&'...' whose body is then
// unescaped (\\ for a backslash, \XXXX for one UTF-16 code unit). It fails on
// anything Calcite would reject or read differently, including an unescaped
// quote inside the literal.
func decodeCalciteString(lit string) (string, error) {
	unicode := strings.HasPrefix(lit, "U&'")
	body := lit
	switch {
	case unicode:
		body = lit[2:]
	case strings.HasPrefix(lit, "'"):
	default:
		return "", fmt.Errorf("literal %q does not start with a quote", lit)
	}
	if len(body) < 2 || body[len(body)-1] != '\'' {
		return "", fmt.Errorf("literal %q does not end with a quote", lit)
	}
	body = body[1 : len(body)-1]
	var raw strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c < 0x20 || c > 0x7e {
			return "", fmt.Errorf("literal %q holds byte %#x outside printable ASCII", lit, c)
		}
		if c == '\'' {
			if i+1 >= len(body) || body[i+1] != '\'' {
				return "", fmt.Errorf("literal %q has an unescaped quote at %d", lit, i)
			}
			i++
		}
		raw.WriteByte(c)
	}
	if !unicode {
		return raw.String(), nil
	}
	s := raw.String()
	var units []uint16
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			units = append(units, uint16(s[i]))
			continue
		}
		if i+1 < len(s) && s[i+1] == '\\' {
			units = append(units, '\\')
			i++
			continue
		}
		if i+5 > len(s) {
			return "", fmt.Errorf("literal %q: short escape at %d", lit, i)
		}
		v, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
		if err != nil {
			return "", fmt.Errorf("literal %q: bad escape at %d: %w", lit, i, err)
		}
		units = append(units, uint16(v))
		i += 4
	}
	for i := 0; i < len(units); i++ { // Java would keep lone surrogates; Go cannot
		if utf16.IsSurrogate(rune(units[i])) {
			if i+1 >= len(units) || utf16.DecodeRune(rune(units[i]), rune(units[i+1])) == 0xfffd {
				return "", fmt.Errorf("literal %q: lone surrogate", lit)
			}
			i++
		}
	}
	return string(utf16.Decode(units)), nil
}

func decodeIdent(q string) (string, error) {
	if len(q) < 3 || q[0] != '`' || q[len(q)-1] != '`' {
		return "", fmt.Errorf("identifier %q is not back-quoted", q)
	}
	body := q[1 : len(q)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		if body[i] == '`' {
			if i+1 >= len(body) || body[i+1] != '`' {
				return "", fmt.Errorf("identifier %q has an unescaped backtick at %d", q, i)
			}
			i++
		}
		if body[i] == '\n' || body[i] == '\r' {
			return "", fmt.Errorf("identifier %q spans lines", q)
		}
		b.WriteByte(body[i])
	}
	return b.String(), nil
}

// literalSeeds is the shared seed corpus of the string fuzz targets and the
// table tests.
var literalSeeds = []string{
	"", " ", "plain", "it's", "''", "'", "a'b''c'''", `back\slash`, `\`, `\\`, `\0041`,
	"-- comment", "; DROP TABLE x;", "/* c */", "line\nbreak", "cr\rlf\r\n", "tab\there",
	"  lead and trail  ", "trail   ", "héllo", "привет", "日本語", "emoji 😀🎉", "\u2028\u2029",
	"\x7f\x01\x1f", "\x00", "a\x00b", "U&'x'", "`tick`", "\uFEFFbom", "\U0010FFFF", "ASCII ~!@#$%^&*()_+{}|:\"<>?",
}

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"", "''"},
		{"abc", "'abc'"},
		{"it's", "'it''s'"},
		{"-- x; y", "'-- x; y'"},
		{"a\nb", `U&'a\000Ab'`},
		{`C:\dir`, `U&'C:\\dir'`},
		{"é'", `U&'\00E9'''`},
		{"😀", `U&'\D83D\DE00'`},
		{"  x  ", "'  x  '"},
		{"a\x00b", `U&'a\0000b'`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := String(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("String(%q) = %s, want %s", tt.in, got, tt.want)
			}
			back, err := decodeCalciteString(got)
			if err != nil || back != tt.in {
				t.Errorf("decode(%s) = %q, %v; want %q", got, back, err, tt.in)
			}
		})
	}
}

func TestStringRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"\xff", "ok\xc3", "a\x00\xfe"} {
		t.Run(strconv.Quote(in), func(t *testing.T) {
			t.Parallel()
			_, err := String(in)
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("String(%q) error = %v, want ErrUnencodable", in, err)
			}
			if _, err := JSONRows([]Column{{"s", VarChar}}, [][]Value{{StringValue(in)}}); !errors.Is(err, ErrUnencodable) {
				t.Fatalf("JSONRows(%q) error = %v, want ErrUnencodable", in, err)
			}
		})
	}
}

func TestIdent(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a", "with space", "a`b", "``", "a/b/c", "ünï", "select"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q, err := Ident(name)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeIdent(q)
			if err != nil || back != name {
				t.Fatalf("Ident(%q) = %s, decodes to %q (%v)", name, q, back, err)
			}
		})
	}
	for _, bad := range []string{"", "a\nb", "a\rb", "nul\x00", "\xff", "del\x7f"} {
		if q, err := Ident(bad); !errors.Is(err, ErrUnencodable) {
			t.Errorf("Ident(%q) = %s, %v; want ErrUnencodable", bad, q, err)
		}
	}
}

func TestTablePath(t *testing.T) {
	t.Parallel()
	got, err := TablePath("dfs", "fieldsync", "inspections/changes/b1")
	if err != nil {
		t.Fatal(err)
	}
	if want := "`dfs`.`fieldsync`.`inspections/changes/b1`"; got != want {
		t.Errorf("TablePath = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "/abs", "a//b", "a/../b", "./a", "a/", "x\ny"} {
		if _, err := TablePath("dfs", "fieldsync", bad); !errors.Is(err, ErrUnencodable) {
			t.Errorf("TablePath(%q) error = %v, want ErrUnencodable", bad, err)
		}
	}
}

// unquoteSQL undoes a plain '...' literal.
func unquoteSQL(t testing.TB, lit string) string {
	t.Helper()
	s, err := decodeCalciteString(lit)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJSONRows(t *testing.T) {
	t.Parallel()
	cols := []Column{{"s", VarChar}, {"i", BigInt}, {"f", Double}, {"b", Boolean}}
	var rows [][]Value
	for _, s := range literalSeeds {
		rows = append(rows, []Value{StringValue(s), Int64Value(math.MinInt64), Float64Value(0.1), BoolValue(true)})
	}
	rows = append(rows, []Value{NullValue(VarChar), NullValue(BigInt), NullValue(Double), NullValue(Boolean)})
	lit, err := JSONRows(cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(lit, "'") != 2 {
		t.Fatalf("JSONRows literal holds a quote inside: %.200s", lit)
	}
	var got []map[string]*string
	if err := json.Unmarshal([]byte(unquoteSQL(t, lit)), &got); err != nil {
		t.Fatal(err)
	}
	for i, s := range literalSeeds {
		if g := got[i]["s"]; g == nil || *g != s {
			t.Errorf("row %d: s = %v, want %q", i, g, s)
		}
		if g := *got[i]["i"]; g != "-9223372036854775808" {
			t.Errorf("row %d: i = %s", i, g)
		}
		if g := *got[i]["f"]; g != "0.1" {
			t.Errorf("row %d: f = %s", i, g)
		}
	}
	if last := got[len(got)-1]; last["s"] != nil || last["i"] != nil || last["f"] != nil || last["b"] != nil {
		t.Errorf("null row came back as %v", last)
	}
}

func TestBatchRejects(t *testing.T) {
	t.Parallel()
	one := [][]Value{{StringValue("x")}}
	tests := []struct {
		name string
		cols []Column
		rows [][]Value
	}{
		{"no columns", nil, one},
		{"no rows", []Column{{"s", VarChar}}, nil},
		{"bad type", []Column{{"s", Type("TEXT")}}, one},
		{"bad name", []Column{{"a\nb", VarChar}}, one},
		{"duplicate name", []Column{{"a", VarChar}, {"A", VarChar}}, [][]Value{{StringValue("x"), StringValue("y")}}},
		{"short row", []Column{{"a", VarChar}, {"b", VarChar}}, one},
		{"type mismatch", []Column{{"a", BigInt}}, one},
		{"NaN", []Column{{"a", Double}}, [][]Value{{Float64Value(math.NaN())}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := SelectJSON(tt.cols, tt.rows); !errors.Is(err, ErrUnencodable) {
				t.Errorf("SelectJSON error = %v, want ErrUnencodable", err)
			}
			if _, err := SelectValues(tt.cols, tt.rows); !errors.Is(err, ErrUnencodable) {
				t.Errorf("SelectValues error = %v, want ErrUnencodable", err)
			}
		})
	}
}

func TestSelectForms(t *testing.T) {
	t.Parallel()
	cols := []Column{{"id", BigInt}, {"name", VarChar}}
	rows := [][]Value{{Int64Value(1), StringValue("a b ")}}
	got, err := SelectJSON(cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT CAST(t.r.`id` AS BIGINT) AS `id`, t.r.`name` AS `name` FROM (SELECT FLATTEN(convert_fromJSON('[{\"id\":\"1\",\"name\":\"a b \"}]')) AS r FROM (VALUES(1))) AS t"
	if got != want {
		t.Errorf("SelectJSON =\n%s\nwant\n%s", got, want)
	}
	got, err = SelectValues(cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	want = "SELECT * FROM (VALUES (CAST(1 AS BIGINT), CAST('a b ' AS VARCHAR(4)))) AS t(`id`, `name`)"
	if got != want {
		t.Errorf("SelectValues =\n%s\nwant\n%s", got, want)
	}
}

func FuzzStringLiteral(f *testing.F) {
	for _, s := range literalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lit, err := String(s)
		if err != nil {
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("String(%q) error %v does not wrap ErrUnencodable", s, err)
			}
			if checkText(s) == nil {
				t.Fatalf("String(%q) rejected valid text: %v", s, err)
			}
			return
		}
		back, err := decodeCalciteString(lit)
		if err != nil {
			t.Fatalf("String(%q) = %s: %v", s, lit, err)
		}
		if back != s {
			t.Fatalf("String(%q) = %s decodes to %q", s, lit, back)
		}
		j, err := JSONRows([]Column{{"s", VarChar}}, [][]Value{{StringValue(s)}})
		if err != nil {
			t.Fatalf("JSONRows(%q): %v", s, err)
		}
		var rows []map[string]string
		inner, err := decodeCalciteString(j)
		if err != nil {
			t.Fatalf("JSONRows(%q) = %s: %v", s, j, err)
		}
		if err := json.Unmarshal([]byte(inner), &rows); err != nil || len(rows) != 1 || rows[0]["s"] != s {
			t.Fatalf("JSONRows(%q) = %s decodes to %v (%v)", s, j, rows, err)
		}
	})
}

func FuzzIdent(f *testing.F) {
	for _, s := range append(literalSeeds, "a`b", "``x``") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		q, err := Ident(name)
		if err != nil {
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("Ident(%q) error %v does not wrap ErrUnencodable", name, err)
			}
			return
		}
		back, err := decodeIdent(q)
		if err != nil || back != name {
			t.Fatalf("Ident(%q) = %s decodes to %q (%v)", name, q, back, err)
		}
	})
}
