package drill

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The VALUES batch form: a VALUES query with an explicit CAST on every
// literal. fieldsync writes batches with SelectJSON (see the notes in
// literal.go for why); this form is kept in the tests only, to measure
// against it (BenchmarkIntegrationBatchForms) and to keep proving the Drill
// quirks that ruled it out (TestIntegrationValuesTrims,
// TestIntegrationCastCharset, TestIntegrationLiteralRoundTrip).

// Int64 returns v as an exact-numeric literal. Drill types every int64,
// including -9223372036854775808, as BIGINT (proven by the integration
// tests).
func Int64(v int64) string { return strconv.FormatInt(v, 10) }

// TimestampMS returns an instant as BIGINT epoch milliseconds, the way
// fieldsync stores every time in Drill.
func TimestampMS(ms int64) string { return Int64(ms) }

// Float64 returns f as an approximate-numeric (DOUBLE) literal such as 1E-1,
// the shortest form that parses back to exactly f. NaN and infinities have no
// SQL literal and are rejected with ErrUnencodable. Drill reads -0 back as 0
// from a literal (Calcite folds it through BigDecimal); JSONRows keeps the
// sign.
func Float64(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%w: %v is not a finite number", ErrUnencodable, f)
	}
	return strings.ToUpper(strconv.FormatFloat(f, 'e', -1, 64)), nil
}

// Bool returns TRUE or FALSE.
func Bool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// Null returns a typed NULL: CAST(NULL AS t).
func Null(t Type) string { return Cast("NULL", t) }

// TimestampMSValue returns an instant as a BIGINT epoch-milliseconds value.
func TimestampMSValue(ms int64) Value { return Int64Value(ms) }

// Literal returns v as a bare SQL literal (no CAST).
func (v Value) Literal() (string, error) {
	if !v.Type().valid() {
		return "", fmt.Errorf("%w: unknown type %q", ErrUnencodable, v.typ)
	}
	if v.IsNull() {
		return "NULL", nil
	}
	switch v.typ {
	case BigInt:
		return Int64(v.i), nil
	case Double:
		return Float64(v.f)
	case Boolean:
		return Bool(v.b), nil
	default:
		return String(v.s)
	}
}

// MaxCastChars is the longest text a CAST to VARCHAR keeps: Drill's bare
// VARCHAR is VARCHAR(65535), and Calcite caps VARCHAR(n) at 65536, cutting
// longer text silently. Value.SQL refuses longer text; JSONRows has no
// limit.
const MaxCastChars = 65535

// SQL returns v as CAST(<literal> AS <type>). A VARCHAR is cast to
// VARCHAR(n) with n its length in characters (at least 1): the cast keeps
// trailing spaces that VALUES would otherwise trim, and a bare VARCHAR would
// mean VARCHAR(65535). Text longer than MaxCastChars characters is refused
// with ErrUnencodable because the cast would cut it. Drill fails such a CAST
// of text beyond Latin-1 unless its Calcite default charset is UTF-16LE (as
// in the Drill distribution); JSONRows has neither limit.
func (v Value) SQL() (string, error) {
	lit, err := v.Literal()
	if err != nil {
		return "", err
	}
	if v.Type() == VarChar && !v.IsNull() {
		if n := utf8.RuneCountInString(v.s); n > MaxCastChars {
			return "", fmt.Errorf("%w: text of %d characters is longer than the %d a Drill VARCHAR cast keeps; use JSONRows", ErrUnencodable, n, MaxCastChars)
		}
	}
	return Cast(lit, v.castType()), nil
}

func (v Value) castType() Type {
	if v.Type() != VarChar || v.IsNull() {
		return v.Type()
	}
	return VarChar + Type(fmt.Sprintf("(%d)", max(1, utf8.RuneCountInString(v.s))))
}

// SelectValues returns the same batch as a VALUES query with an explicit CAST
// on every literal:
//
//	SELECT * FROM (VALUES (CAST(1 AS BIGINT), CAST('a' AS VARCHAR(1))), ...) AS t(`id`, `name`)
//
// It exists to compare with SelectJSON: Drill's VALUES right-trims string
// literals (see TestIntegrationValuesTrims), so it is not exact for text with
// trailing spaces.
func SelectValues(cols []Column, rows [][]Value) (string, error) {
	if err := checkBatch(cols, rows); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("SELECT * FROM (VALUES ")
	for i, row := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, v := range row {
			if j > 0 {
				b.WriteString(", ")
			}
			s, err := v.SQL()
			if err != nil {
				return "", fmt.Errorf("row %d column %q: %w", i, cols[j].Name, err)
			}
			b.WriteString(s)
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS t(")
	for j, c := range cols {
		if j > 0 {
			b.WriteString(", ")
		}
		id, _ := Ident(c.Name)
		b.WriteString(id)
	}
	b.WriteByte(')')
	return b.String(), nil
}

func TestNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"int zero", Int64(0), "0"},
		{"int max", Int64(math.MaxInt64), "9223372036854775807"},
		{"int min", Int64(math.MinInt64), "-9223372036854775808"},
		{"int neg", Int64(-42), "-42"},
		{"ts", TimestampMS(1700000000123), "1700000000123"},
		{"true", Bool(true), "TRUE"},
		{"false", Bool(false), "FALSE"},
		{"null", Null(BigInt), "CAST(NULL AS BIGINT)"},
		{"cast", Cast("1", Double), "CAST(1 AS DOUBLE)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

func TestFloat64(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, 0.1, -0.1, 1e300, -1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 1.0 / 3, 123456789012345678} {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			t.Parallel()
			lit, err := Float64(f)
			if err != nil {
				t.Fatal(err)
			}
			back, err := strconv.ParseFloat(lit, 64)
			if err != nil || back != f {
				t.Fatalf("Float64(%v) = %s, parses back to %v (%v)", f, lit, back, err)
			}
			if !strings.Contains(lit, "E") {
				t.Fatalf("Float64(%v) = %s, want an approximate (E) literal so Drill types it DOUBLE", f, lit)
			}
		})
	}
	if _, err := StringValue(strings.Repeat("x", MaxCastChars+1)).SQL(); !errors.Is(err, ErrUnencodable) {
		t.Errorf("SQL() of %d characters error = %v, want ErrUnencodable", MaxCastChars+1, err)
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := Float64(f); !errors.Is(err, ErrUnencodable) {
			t.Errorf("Float64(%v) error = %v, want ErrUnencodable", f, err)
		}
		if _, err := Float64Value(f).SQL(); !errors.Is(err, ErrUnencodable) {
			t.Errorf("Float64Value(%v).SQL() error = %v, want ErrUnencodable", f, err)
		}
	}
}

func TestValueSQL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    Value
		want string
	}{
		{StringValue("ab"), "CAST('ab' AS VARCHAR(2))"},
		{StringValue(""), "CAST('' AS VARCHAR(1))"},
		{StringValue("é"), `CAST(U&'\00E9' AS VARCHAR(1))`},
		{Int64Value(-1), "CAST(-1 AS BIGINT)"},
		{Float64Value(0.5), "CAST(5E-01 AS DOUBLE)"},
		{BoolValue(true), "CAST(TRUE AS BOOLEAN)"},
		{NullValue(Double), "CAST(NULL AS DOUBLE)"},
		{Value{}, "CAST(NULL AS VARCHAR)"},
		{TimestampMSValue(5), "CAST(5 AS BIGINT)"},
		{StringValue("a  "), "CAST('a  ' AS VARCHAR(3))"},
		{Int64Value(math.MinInt64), "CAST(-9223372036854775808 AS BIGINT)"},
		{Float64Value(0.1), "CAST(1E-01 AS DOUBLE)"},
		{TimestampMSValue(1700000000123), "CAST(1700000000123 AS BIGINT)"},
		{StringValue(strings.Repeat("é", MaxCastChars)), "CAST(U&'" + strings.Repeat(`\00E9`, MaxCastChars) + "' AS VARCHAR(65535))"},
	}
	for _, tt := range tests {
		t.Run(truncate(tt.want, 60), func(t *testing.T) {
			t.Parallel()
			got, err := tt.v.SQL()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("SQL() = %s, want %s", got, tt.want)
			}
		})
	}
}
