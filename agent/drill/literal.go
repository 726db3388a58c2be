package drill

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is THE one SQL literal encoder of fieldsync. Drill's REST API has
// no bind parameters, so every value that reaches SQL goes through here.
//
// String literals (Calcite 1.34 as built into Drill 1.22):
//   - A plain literal '...' may hold any character but the quote, which is
//     doubled. A backslash is an ordinary character (no C escapes).
//   - Characters outside Latin-1 only parse when the Drillbit's Calcite
//     default charset is UTF-16LE (saffron.properties, shipped in the Drill
//     distribution's conf/ but not in the drill-java-exec jar); otherwise the
//     query fails with "Failed to encode '...' in character set 'ISO-8859-1'".
//   - So String keeps printable ASCII as is and writes everything else
//     (control characters, newline, CR, tab, non-ASCII, and the backslash)
//     in a Unicode literal U&'...' as \XXXX escapes: UTF-16 code units, so a
//     character beyond U+FFFF is a surrogate pair (Calcite has no
//     \+XXXXXX). The SQL text is then pure printable ASCII: no charset
//     dependence, no raw newlines, no way for "--", ";" or a quote to end
//     the literal. TestIntegrationStringLiterals proves every hostile text.
//   - NUL is an ordinary character (U&'\0000', proven to round-trip through
//     a CTAS); invalid UTF-8 is rejected with ErrUnencodable, since it
//     cannot round-trip at all.
//
// CASTs: a CAST of text to VARCHAR(n) gives it the default charset, so on a
// Drillbit without saffron.properties it fails ("Failed to encode") for
// characters beyond Latin-1, even from a U& literal; and Drill's bare VARCHAR
// is VARCHAR(65535) while Calcite caps VARCHAR(n) at 65536, so a cast cuts
// longer text (so SelectJSON never casts text).
//
// Batches: Drill's VALUES right-trims bare string literals (a CAST to
// VARCHAR(n) keeps the spaces) and turns DECIMAL into DOUBLE, and Calcite
// plans many VALUES rows slowly (a CTAS of 100 five-column rows: about 2.2 s
// against 0.24 s for the JSON form) and not at all from about 1,000 rows
// (StackOverflowError in the planner). JSONRows encodes a whole batch as
// ONE ASCII-only JSON array text inside ONE SQL literal, expanded in Drill
// with FLATTEN(convert_fromJSON(...)); SelectJSON builds that query with an
// explicit CAST per non-text column. It is exact for every value the
// integration tests throw at it (TestIntegrationLiteralRoundTrip), has no
// text length limit, keeps -0, and is the form to use. The VALUES form
// (SelectValues, with a CAST per literal) now lives in values_test.go, only
// to measure against it and to keep proving these quirks.

// ErrUnencodable is wrapped by every error of the literal encoder: the value
// cannot be written as a Drill SQL literal without changing it.
var ErrUnencodable = errors.New("drill: value cannot be encoded as a SQL literal")

// Type is a Drill SQL type that literals are cast to.
type Type string

// The SQL types the encoder writes.
const (
	VarChar Type = "VARCHAR"
	BigInt  Type = "BIGINT"
	Double  Type = "DOUBLE"
	Boolean Type = "BOOLEAN"
)

func (t Type) valid() bool {
	switch t {
	case VarChar, BigInt, Double, Boolean:
		return true
	}
	return false
}

// String returns s as a Drill SQL character literal: '...' with quotes
// doubled when s is printable ASCII, otherwise a Unicode literal U&'...' with
// every other character escaped. It fails (ErrUnencodable) on invalid UTF-8.
func String(s string) (string, error) {
	if err := checkText(s); err != nil {
		return "", err
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '\\' {
			plain = false
			break
		}
	}
	var b strings.Builder
	if plain {
		b.Grow(len(s) + 2)
		b.WriteByte('\'')
		for i := 0; i < len(s); i++ {
			if s[i] == '\'' {
				b.WriteByte('\'')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte('\'')
		return b.String(), nil
	}
	b.Grow(len(s)*2 + 4)
	b.WriteString("U&'")
	for _, r := range s {
		switch {
		case r == '\'':
			b.WriteString("''")
		case r == '\\':
			b.WriteString(`\\`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteRune(r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\%04X`, r)
		default:
			// Calcite's unescapeUnicode knows only \XXXX (UTF-16 code
			// units), not \+XXXXXX: write the surrogate pair.
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\%04X\%04X`, hi, lo)
		}
	}
	b.WriteByte('\'')
	return b.String(), nil
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: text is not valid UTF-8 (byte %d)", ErrUnencodable, firstInvalid(s))
	}
	return nil
}

func firstInvalid(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return i
			}
		}
	}
	return -1
}

// Cast wraps a literal or expression in CAST(expr AS t).
func Cast(expr string, t Type) string { return "CAST(" + expr + " AS " + string(t) + ")" }

// Ident returns name as a back-quoted Drill identifier, with backticks
// doubled. Names that are empty, not UTF-8, or hold control characters
// (Calcite's quoted identifiers cannot span lines) are rejected.
func Ident(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty identifier", ErrUnencodable)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: identifier %q is not valid UTF-8", ErrUnencodable, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", fmt.Errorf("%w: identifier %q holds control character %U", ErrUnencodable, name, r)
		}
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`", nil
}

// TablePath returns the quoted path of a table (a file or directory) inside
// a workspace, e.g. TablePath("dfs", "fieldsync", "a/b/c") is
// `dfs`.`fieldsync`.`a/b/c`. The table path is relative and made of
// non-empty segments other than "." and "..", so it cannot leave the
// workspace.
func TablePath(plugin, workspace, table string) (string, error) {
	if strings.HasPrefix(table, "/") || strings.HasSuffix(table, "/") {
		return "", fmt.Errorf("%w: table path %q must be relative, without a trailing slash", ErrUnencodable, table)
	}
	for _, seg := range strings.Split(table, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("%w: table path %q has an empty, . or .. segment", ErrUnencodable, table)
		}
	}
	var parts []string
	for _, p := range []string{plugin, workspace, table} {
		q, err := Ident(p)
		if err != nil {
			return "", err
		}
		parts = append(parts, q)
	}
	return strings.Join(parts, "."), nil
}

// Value is one typed cell of a batch, built by StringValue, Int64Value,
// Float64Value, BoolValue or NullValue. The zero Value is a
// NULL VARCHAR.
type Value struct {
	typ  Type
	null bool
	s    string
	i    int64
	f    float64
	b    bool
}

// StringValue returns a VARCHAR value.
func StringValue(s string) Value { return Value{typ: VarChar, s: s} }

// Int64Value returns a BIGINT value.
func Int64Value(v int64) Value { return Value{typ: BigInt, i: v} }

// Float64Value returns a DOUBLE value.
func Float64Value(f float64) Value { return Value{typ: Double, f: f} }

// BoolValue returns a BOOLEAN value.
func BoolValue(b bool) Value { return Value{typ: Boolean, b: b} }

// NullValue returns a NULL of type t.
func NullValue(t Type) Value { return Value{typ: t, null: true} }

// Type reports the SQL type of v.
func (v Value) Type() Type {
	if v.typ == "" {
		return VarChar
	}
	return v.typ
}

// IsNull reports whether v is a NULL.
func (v Value) IsNull() bool { return v.null || v.typ == "" }

// text returns the JSON-batch representation: every non-null value is a JSON
// string holding its exact text, so Drill's JSON reader never guesses a
// numeric type; the outer SELECT casts it.
func (v Value) text() (string, error) {
	switch v.Type() {
	case BigInt:
		return strconv.FormatInt(v.i, 10), nil
	case Double:
		if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
			return "", fmt.Errorf("%w: %v is not a finite number", ErrUnencodable, v.f)
		}
		return strconv.FormatFloat(v.f, 'g', -1, 64), nil
	case Boolean:
		return strconv.FormatBool(v.b), nil
	case VarChar:
		return v.s, checkText(v.s)
	}
	return "", fmt.Errorf("%w: unknown type %q", ErrUnencodable, v.typ)
}

// Column is one column of a batch: its name and SQL type.
type Column struct {
	Name string
	Type Type
}

func checkBatch(cols []Column, rows [][]Value) error {
	if len(cols) == 0 {
		return fmt.Errorf("%w: a batch needs at least one column", ErrUnencodable)
	}
	if len(rows) == 0 {
		return fmt.Errorf("%w: a batch needs at least one row", ErrUnencodable)
	}
	seen := make(map[string]bool, len(cols))
	for _, c := range cols {
		if !c.Type.valid() {
			return fmt.Errorf("%w: column %q has unknown type %q", ErrUnencodable, c.Name, c.Type)
		}
		if _, err := Ident(c.Name); err != nil {
			return err
		}
		if k := strings.ToLower(c.Name); seen[k] {
			return fmt.Errorf("%w: column %q appears twice (Drill names are case-insensitive)", ErrUnencodable, c.Name)
		} else {
			seen[k] = true
		}
	}
	for i, row := range rows {
		if len(row) != len(cols) {
			return fmt.Errorf("%w: row %d has %d values for %d columns", ErrUnencodable, i, len(row), len(cols))
		}
		for j, v := range row {
			if v.Type() != cols[j].Type {
				return fmt.Errorf("%w: row %d column %q: value of type %s in a %s column", ErrUnencodable, i, cols[j].Name, v.Type(), cols[j].Type)
			}
		}
	}
	return nil
}

// JSONRows encodes a batch as ONE SQL character literal holding a JSON array
// of objects (one per row, keyed by column name). The JSON text is pure
// printable ASCII: non-ASCII characters, control characters and the quote
// are written as \uXXXX escapes, so the literal never depends on Drill's
// charset and needs no SQL escaping. Every non-null value is a JSON string.
func JSONRows(cols []Column, rows [][]Value) (string, error) {
	if err := checkBatch(cols, rows); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("'[")
	for i, row := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		for j, v := range row {
			if j > 0 {
				b.WriteByte(',')
			}
			writeJSONString(&b, cols[j].Name)
			b.WriteByte(':')
			if v.IsNull() {
				b.WriteString("null")
				continue
			}
			t, err := v.text()
			if err != nil {
				return "", fmt.Errorf("row %d column %q: %w", i, cols[j].Name, err)
			}
			writeJSONString(&b, t)
		}
		b.WriteByte('}')
	}
	b.WriteString("]'")
	return b.String(), nil
}

// writeJSONString writes s (valid UTF-8) as an ASCII-only JSON string.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r >= 0x20 && r <= 0x7e && r != '\'':
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			for _, u := range []rune{0xd800 + r>>10, 0xdc00 + r&0x3ff} {
				b.WriteString(`\u`)
				b.WriteByte(hex[u>>12&0xf])
				b.WriteByte(hex[u>>8&0xf])
				b.WriteByte(hex[u>>4&0xf])
				b.WriteByte(hex[u&0xf])
			}
		default:
			b.WriteString(`\u`)
			b.WriteByte(hex[r>>12&0xf])
			b.WriteByte(hex[r>>8&0xf])
			b.WriteByte(hex[r>>4&0xf])
			b.WriteByte(hex[r&0xf])
		}
	}
	b.WriteByte('"')
}

// SelectJSON returns a SELECT that yields the batch with one typed column per
// Column, from JSONRows expanded by FLATTEN(convert_fromJSON(...)):
//
//	SELECT CAST(t.r.`id` AS BIGINT) AS `id`, ... FROM (SELECT FLATTEN(convert_fromJSON('[...]')) AS r FROM (VALUES(1))) AS t
//
// VARCHAR columns are not cast (Drill's bare VARCHAR is VARCHAR(65535) and a
// cast would cut longer text); convert_fromJSON already yields VARCHAR. Use
// it as the body of a CREATE TABLE ... AS.
func SelectJSON(cols []Column, rows [][]Value) (string, error) {
	lit, err := JSONRows(cols, rows)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	for j, c := range cols {
		if j > 0 {
			b.WriteString(", ")
		}
		id, _ := Ident(c.Name) // checked by JSONRows
		field := "t.r." + id
		if c.Type == VarChar {
			b.WriteString(field)
		} else {
			b.WriteString(Cast(field, c.Type))
		}
		b.WriteString(" AS ")
		b.WriteString(id)
	}
	b.WriteString(" FROM (SELECT FLATTEN(convert_fromJSON(")
	b.WriteString(lit)
	b.WriteString(")) AS r FROM (VALUES(1))) AS t")
	return b.String(), nil
}
