package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/internal/drilltest"
)

// The integration tests run against real Drill 1.22.0 Drillbits from
// internal/drilltest (see drilltest_test.go). They never skip: without a
// Drillbit they fail and say how to start one.

func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

func TestIntegrationQuery(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	res, err := c.Query(context.Background(),
		"SELECT CAST(42 AS BIGINT) AS i, CAST(0.5 AS DOUBLE) AS f, 'x' AS s, TRUE AS b, CAST(NULL AS VARCHAR) AS n FROM (VALUES(1))")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.QueryID == "" || res.State != "COMPLETED" {
		t.Fatalf("result = %+v", res)
	}
	wantTypes := "BIGINT,FLOAT8,VARCHAR(1),BIT,VARCHAR(65535)"
	if got := strings.Join(res.Types, ","); got != wantTypes {
		t.Errorf("types = %s, want %s", got, wantTypes)
	}
	r := res.Rows[0]
	i, _ := r.Int64("i")
	f, _ := r.Float64("f")
	s, _ := r.String("s")
	b, _ := r.Bool("b")
	if i != 42 || f != 0.5 || s != "x" || !b || !r.IsNull("n") {
		t.Errorf("row = %v", r)
	}
}

func TestIntegrationQueryErrors(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	tests := []struct {
		name       string
		sql        string
		opts       []QueryOption
		wantStatus int
		wantMsg    string
	}{
		{"unknown table", "SELECT * FROM no_such_table_x", nil, 200, "From line 1, column 15 to line 1, column 29: Object 'no_such_table_x' not found"},
		{"syntax", "SELEC 1", nil, 200, "Non-query expression encountered in illegal context"},
		// Positions are those Drill gives for the untagged SQL.
		{"parse error position", "SELECT 1 FROM (VALUES(1)) WHERE WHERE", nil, 200, `Encountered "WHERE" at line 1, column 27.`},
		{"bad cast", "SELECT CAST('abc' AS BIGINT) FROM (VALUES(1))", nil, 200, "abc"},
		{"unknown default schema", "SELECT 1", []QueryOption{WithDefaultSchema("no_such.schema")}, 500, "Query submission failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Query(context.Background(), tt.sql, tt.opts...)
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("error = %v, want *QueryError", err)
			}
			if qe.Status != tt.wantStatus || !strings.Contains(qe.Message, tt.wantMsg) || !strings.Contains(qe.SQL, tt.sql) {
				t.Errorf("QueryError = %+v, want status %d and a message with %q", qe, tt.wantStatus, tt.wantMsg)
			}
		})
	}
}

func TestIntegrationCluster(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Status != "Running!" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	cl, err := c.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cl.CurrentVersion != "1.22.0" || len(cl.Drillbits) == 0 || cl.Drillbits[0].Version != "1.22.0" || cl.Drillbits[0].State != "ONLINE" {
		t.Errorf("cluster = %+v, want one ONLINE 1.22.0 Drillbit", cl)
	}
}

func TestIntegrationFailover(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{deadURL(t), drillURL(t)}})
	if _, err := c.Query(context.Background(), "SELECT 1 FROM (VALUES(1))"); err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != strings.TrimRight(drillURL(t), "/") {
		t.Errorf("Endpoint() = %s, want the live Drillbit", c.Endpoint())
	}
}

// TestIntegrationQueryTag proves the basis of cancellation: Drill keeps the
// leading /* fieldsync:<id> */ comment in the query text it lists, and
// answers a cancel of a finished query with a text reply.
func TestIntegrationQueryTag(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	ctx := context.Background()
	res, err := c.Query(ctx, "SELECT 1 AS one FROM (VALUES(1))")
	if err != nil {
		t.Fatal(err)
	}
	p, err := get[struct {
		Query string `json:"query"`
		User  string `json:"user"`
	}](ctx, c, "/profiles/"+res.QueryID+".json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Query, "/* fieldsync:") {
		t.Errorf("profile query text %q lost the tag", p.Query)
	}
	msg, err := c.Cancel(ctx, res.QueryID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, res.QueryID) {
		t.Errorf("cancel reply %q does not name the query", msg)
	}
}

func TestIntegrationAuth(t *testing.T) {
	t.Parallel()
	u := drillAuthURL(t)
	tests := []struct {
		name     string
		opts     Options
		wantAuth bool
	}{
		{"no credentials", Options{}, true},
		{"basic", Options{Auth: AuthBasic, User: drillAuthUser, Password: drillAuthPassword}, false},
		{"form", Options{Auth: AuthForm, User: drillAuthUser, Password: drillAuthPassword}, false},
		{"basic wrong password", Options{Auth: AuthBasic, User: drillAuthUser, Password: drillWrongPassword}, true},
		{"form wrong password", Options{Auth: AuthForm, User: drillAuthUser, Password: drillWrongPassword}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Endpoints = []string{u}
			c := mustNewClient(t, tt.opts)
			_, err := c.Query(context.Background(), "SELECT 1 FROM (VALUES(1))")
			if !tt.wantAuth {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v, want *AuthError", err)
			}
			if tt.opts.Auth != AuthNone {
				want := fmt.Sprintf("Drill refused the credentials for user %q at %s", drillAuthUser, strings.TrimRight(u, "/"))
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q, want %q", err, want)
				}
			} else if ae.Status != http.StatusTemporaryRedirect {
				t.Errorf("status = %d, want Drill's 307 to /mainLogin", ae.Status)
			}
		})
	}
}

// TestIntegrationFormRelogin ends the FORM session on the server (GET
// /logout) and checks that the next call logs in again by itself.
func TestIntegrationFormRelogin(t *testing.T) {
	t.Parallel()
	u := strings.TrimRight(drillAuthURL(t), "/")
	c := mustNewClient(t, Options{Endpoints: []string{u}, Auth: AuthForm, User: drillAuthUser, Password: drillAuthPassword})
	ctx := context.Background()
	if _, err := c.Query(ctx, "SELECT 1 FROM (VALUES(1))"); err != nil {
		t.Fatal(err)
	}
	resp, err := c.hc.Get(u + "/logout")
	if err != nil {
		t.Fatal(err)
	}
	drain(resp)
	if _, err := c.Query(ctx, "SELECT 2 FROM (VALUES(1))"); err != nil {
		t.Fatalf("query after the session ended: %v", err)
	}
}

// copyOfDFS saves a copy of the dfs plugin under a name of its own, removed
// when the test ends, and returns that name. Tests that save a plugin use
// such a copy: saving dfs itself can fail other tests' queries (planRace).
func copyOfDFS(t *testing.T, c *Client) string {
	t.Helper()
	ctx := context.Background()
	dfs, err := c.StoragePlugin(ctx, "dfs")
	if err != nil {
		t.Fatal(err)
	}
	name := uniqueName("it_fs")
	if err := c.SetStoragePlugin(ctx, &StoragePlugin{Name: name, Config: dfs.Config}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := c.send(context.Background(), http.MethodDelete, "/storage/"+name+".json", http.StatusOK, nil); err != nil {
			t.Errorf("remove plugin %s: %v", name, err)
		}
	})
	return name
}

func TestIntegrationEnsureWorkspace(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	ctx := context.Background()
	fs := copyOfDFS(t, c)
	before, err := c.StoragePlugin(ctx, fs)
	if err != nil {
		t.Fatal(err)
	}
	ws := uniqueName("it_ws")
	dir := t.TempDir()
	changed, err := c.EnsureWorkspace(ctx, fs, ws, dir, true)
	if err != nil || !changed {
		t.Fatalf("EnsureWorkspace = %v, %v", changed, err)
	}
	if changed, err := c.EnsureWorkspace(ctx, fs, ws, dir, true); err != nil || changed {
		t.Fatalf("second EnsureWorkspace = %v, %v; want no change", changed, err)
	}
	after, err := c.StoragePlugin(ctx, fs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(after.Config), ws) || !strings.Contains(string(after.Config), `"fieldsync"`) {
		t.Errorf("%s after = %s", fs, after.Config)
	}
	if len(after.Config) <= len(before.Config) {
		t.Errorf("%s config shrank: %d -> %d bytes", fs, len(before.Config), len(after.Config))
	}
	tbl, _ := TablePath(fs, ws, "t1")
	if _, err := c.Query(ctx, "CREATE TABLE "+tbl+" AS SELECT 1 AS one FROM (VALUES(1))"); err != nil {
		t.Fatalf("CTAS into the new workspace: %v", err)
	}
}

// TestIntegrationQueriesSurviveChangesWhilePlanning: Drill 1.22 fails a
// query planned while what it reads changes (see planRace); Query sends it
// again. A writer makes such a change ten times a second, as an
// administrator saving a plugin or devices rewriting their fleet rows
// would, only faster. About one query in ten is planned during a change:
// without the retry, each case fails all but surely.
func TestIntegrationQueriesSurviveChangesWhilePlanning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		every time.Duration // between changes
		// setup returns the query to run and the change to make, i = 0, 1...
		setup func(t *testing.T, c *Client) (query string, change func(i int) error)
		// tolerated says whether a failure is one Drill gives for reasons
		// the retry cannot tell from a real error.
		tolerated func(err error) bool
	}{
		{"a plugin being saved", 100 * time.Millisecond, func(t *testing.T, c *Client) (string, func(int) error) {
			// A copy of dfs of this test's own, so the saves disturb no
			// other test.
			name := copyOfDFS(t, c)
			tbl, _ := TablePath(name, "fieldsync", uniqueName("t"))
			mustCTAS(t, c, tbl, 1)
			dir := t.TempDir()
			return "SELECT one FROM " + tbl, func(i int) error {
				_, err := c.EnsureWorkspace(context.Background(), name, "toggled", dir, i%2 == 0)
				return err
			}
		}, func(error) bool { return false }},
		{"a table of the scanned directory dropped and created again", 300 * time.Millisecond, func(t *testing.T, c *Client) (string, func(int) error) {
			dir := uniqueName("fleet")
			table := func(i int) string {
				tbl, _ := TablePath("dfs", "fieldsync", fmt.Sprintf("%s/d%d", dir, i%3))
				return tbl
			}
			for i := range 3 {
				mustCTAS(t, c, table(i), 1)
			}
			all, _ := TablePath("dfs", "fieldsync", dir)
			return "SELECT count(*) AS n FROM " + all, func(i int) error {
				if _, err := c.Query(context.Background(), "DROP TABLE IF EXISTS "+table(i)); err != nil {
					return err
				}
				_, err := c.Query(context.Background(), "CREATE TABLE "+table(i)+" AS SELECT 1 AS one FROM (VALUES(1))")
				return err
			}
		}, func(err error) bool {
			// Planned while the dropped table's directory is being made
			// again, Drill can say the whole directory is not there.
			return strings.Contains(err.Error(), "not found within")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
			var retries warnCounter
			q := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}, Logger: slog.New(&retries)})
			query, change := tt.setup(t, c)
			stop := make(chan struct{})
			changed := make(chan int)
			go func() {
				n := 0
				defer func() { changed <- n }()
				for {
					select {
					case <-stop:
						return
					case <-time.After(tt.every):
					}
					if err := change(n); err != nil {
						t.Errorf("change: %v", err)
						return
					}
					n++
				}
			}()
			const queries = 80
			failed, tolerated := 0, 0
			for range queries {
				_, err := q.Query(context.Background(), query)
				switch {
				case err == nil:
				case tt.tolerated(err):
					tolerated++
				default:
					failed++
					t.Errorf("query while %s: %v", tt.name, err)
				}
			}
			close(stop)
			n := <-changed
			t.Logf("%d changes during %d queries: %d retries, %d queries failed, %d with a tolerated error", n, queries, retries.n.Load(), failed, tolerated)
			if n < 5 {
				t.Errorf("only %d changes happened during the queries; the test proves nothing", n)
			}
		})
	}
}

func mustCTAS(t *testing.T, c *Client, table string, n int) {
	t.Helper()
	if _, err := c.Query(context.Background(), fmt.Sprintf("CREATE TABLE %s AS SELECT %d AS one FROM (VALUES(1))", table, n)); err != nil {
		t.Fatal(err)
	}
}

// warnCounter is a slog handler that counts warnings.
type warnCounter struct{ n atomic.Int32 }

func (h *warnCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *warnCounter) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnCounter) WithGroup(string) slog.Handler      { return h }

// roundTripRow is one row of the literal round trip.
type roundTripRow struct {
	id int64
	s  *string
	i  *int64
	f  *float64
	b  *bool
}

func ptr[T any](v T) *T { return &v }

func roundTripRows() []roundTripRow {
	texts := []string{
		"", " ", "plain", "it's", "''", "'; DROP TABLE x; --", "-- comment", "/* not a comment */",
		`back\slash`, `\\`, `\'`, `\0041`, `\u0041`, "line\nbreak", "cr\rcr", "crlf\r\n", "tab\there",
		"  leading", "trailing  ", "  both  ", "\t\n ", "héllo wörld", "привет", "日本語テキスト",
		"emoji 😀🎉👩‍👩‍👧", "\u2028\u2029", "\x01\x1f\x7f", "\x00", "nul\x00inside", "\uFEFFbom",
		"\U0010FFFF", `{"json":"in text"}`, "U&'x'", "`tick`", "%_", "null", "NULL",
		strings.Repeat("0123456789abcdé😀 ", 6000), // about 100 kB, beyond VARCHAR's 65535
	}
	ints := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, math.MaxInt32 + 1, -1700000000123}
	floats := []float64{0, 0.1, -0.1, 1e300, -1e300, 1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 1.0 / 3, 123456789.123456789, math.Copysign(0, -1)}
	var rows []roundTripRow
	n := max(len(texts), len(ints), len(floats)) + 1
	for k := 0; k < n; k++ {
		r := roundTripRow{id: int64(k)}
		if k < len(texts) {
			r.s = ptr(texts[k])
		}
		if k < len(ints) {
			r.i = ptr(ints[k])
		}
		if k < len(floats) {
			r.f = ptr(floats[k])
		}
		if k%3 != 2 {
			r.b = ptr(k%3 == 0)
		}
		rows = append(rows, r)
	}
	return rows
}

func (r roundTripRow) values() []Value {
	v := []Value{Int64Value(r.id), NullValue(VarChar), NullValue(BigInt), NullValue(Double), NullValue(Boolean)}
	if r.s != nil {
		v[1] = StringValue(*r.s)
	}
	if r.i != nil {
		v[2] = Int64Value(*r.i)
	}
	if r.f != nil {
		v[3] = Float64Value(*r.f)
	}
	if r.b != nil {
		v[4] = BoolValue(*r.b)
	}
	return v
}

var roundTripCols = []Column{{"id", BigInt}, {"s", VarChar}, {"i", BigInt}, {"f", Double}, {"b", Boolean}}

// TestIntegrationLiteralRoundTrip writes rows full of hostile text and edge
// numbers with CREATE TABLE ... AS, in both batch forms, and reads them back
// byte for byte.
func TestIntegrationLiteralRoundTrip(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	all := roundTripRows()
	tests := []struct {
		name   string
		build  func([]Column, [][]Value) (string, error)
		filter func(roundTripRow) bool
	}{
		{"json flatten", SelectJSON, func(roundTripRow) bool { return true }},
		// VALUES with a CAST per literal: exact too, but only for Latin-1
		// text (see TestIntegrationCastCharset) of at most MaxCastChars
		// characters (Value.SQL refuses longer text).
		// It also loses the sign of a negative zero (Calcite folds the
		// literal through BigDecimal); JSONRows keeps it.
		{"values with casts", SelectValues, func(r roundTripRow) bool {
			if r.f != nil && *r.f == 0 && math.Signbit(*r.f) {
				return false
			}
			return r.s == nil || (utf8.RuneCountInString(*r.s) <= MaxCastChars && latin1(*r.s))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			var rows []roundTripRow
			var vals [][]Value
			for _, r := range all {
				if tt.filter(r) {
					rows = append(rows, r)
					vals = append(vals, r.values())
				}
			}
			sel, err := tt.build(roundTripCols, vals)
			if err != nil {
				t.Fatal(err)
			}
			tbl, err := TablePath("dfs", "fieldsync", "drillclient/"+uniqueName("roundtrip"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Query(ctx, "CREATE TABLE "+tbl+" AS "+sel); err != nil {
				t.Fatalf("CTAS: %v", err)
			}
			res, err := c.Query(ctx, "SELECT id, s, i, f, b FROM "+tbl+" ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rows) != len(rows) {
				t.Fatalf("read back %d rows, wrote %d", len(res.Rows), len(rows))
			}
			for k, want := range rows {
				checkRoundTripRow(t, res.Rows[k], want)
			}
		})
	}
}

func checkRoundTripRow(t *testing.T, got Row, want roundTripRow) {
	t.Helper()
	if id, err := got.Int64("id"); err != nil || id != want.id {
		t.Fatalf("row id = %v (%v), want %d", id, err, want.id)
	}
	if want.s == nil {
		if !got.IsNull("s") {
			t.Errorf("row %d: s = %q, want NULL", want.id, got["s"])
		}
	} else if s, err := got.String("s"); err != nil || s != *want.s {
		t.Errorf("row %d: s = %s (%v), want %s", want.id, truncate(fmt.Sprintf("%q", s), 80), err, truncate(fmt.Sprintf("%q", *want.s), 80))
	}
	if want.i == nil {
		if !got.IsNull("i") {
			t.Errorf("row %d: i = %v, want NULL", want.id, got["i"])
		}
	} else if i, err := got.Int64("i"); err != nil || i != *want.i {
		t.Errorf("row %d: i = %d (%v), want %d", want.id, i, err, *want.i)
	}
	if want.f == nil {
		if !got.IsNull("f") {
			t.Errorf("row %d: f = %v, want NULL", want.id, got["f"])
		}
	} else if f, err := got.Float64("f"); err != nil || f != *want.f {
		t.Errorf("row %d: f = %v (%v), want %v", want.id, f, err, *want.f)
	} else if math.Signbit(f) != math.Signbit(*want.f) {
		t.Errorf("row %d: f = %v, want %v (sign of zero)", want.id, got["f"], *want.f)
	}
	if want.b == nil {
		if !got.IsNull("b") {
			t.Errorf("row %d: b = %v, want NULL", want.id, got["b"])
		}
	} else if b, err := got.Bool("b"); err != nil || b != *want.b {
		t.Errorf("row %d: b = %v (%v), want %v", want.id, b, err, *want.b)
	}
}

// TestIntegrationStringLiterals sends every text of the round trip as a
// plain String literal (the form used outside batches) and reads it back.
func TestIntegrationStringLiterals(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	for _, r := range roundTripRows() {
		if r.s == nil {
			continue
		}
		lit, err := String(*r.s)
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Query(context.Background(), "SELECT "+lit+" AS s FROM (VALUES(1))")
		if err != nil {
			t.Fatalf("row %d: %v", r.id, err)
		}
		// A bare literal in a SELECT list keeps its text; only VALUES rows trim.
		if got, err := res.Rows[0].String("s"); err != nil || got != *r.s {
			t.Errorf("row %d: %s came back as %s (%v)", r.id, truncate(lit, 60), truncate(fmt.Sprintf("%q", got), 60), err)
		}
	}
}

// TestIntegrationValuesTrims documents the Drill quirk that makes bare
// string literals in VALUES unfit for exact text: Drill right-trims them.
// A CAST to VARCHAR(n) keeps the spaces (Value.SQL does that).
func TestIntegrationValuesTrims(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	ctx := context.Background()
	res, err := c.Query(ctx, "SELECT s FROM (VALUES ('a  '), ('bbbbbb')) AS t(s)")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := res.Rows[0].String("s"); got != "a" {
		t.Errorf("bare VALUES literal 'a  ' came back as %q; Drill no longer trims: revisit the literal docs", got)
	}
	v, err := StringValue("a  ").SQL()
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.Query(ctx, "SELECT s FROM (VALUES ("+v+"), (CAST('bbbbbb' AS VARCHAR(6)))) AS t(s)")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := res.Rows[0].String("s"); got != "a  " {
		t.Errorf("cast VALUES literal came back as %q, want %q", got, "a  ")
	}
	// And a bare VARCHAR cast cuts text at 65535 characters.
	res, err = c.Query(ctx, "SELECT CHAR_LENGTH(CAST(LPAD('x', 100000, 'y') AS VARCHAR)) AS n FROM (VALUES(1))")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.Rows[0].Int64("n"); n != MaxCastChars {
		t.Errorf("CAST AS VARCHAR kept %d characters, want %d", n, MaxCastChars)
	}
}

func latin1(s string) bool {
	for _, r := range s {
		if r > 0xff {
			return false
		}
	}
	return true
}

// TestIntegrationCastCharset documents why batches use JSONRows: on a
// Drillbit whose Calcite default charset is ISO-8859-1 (no
// saffron.properties on the classpath, as with the embedded test Drillbit),
// a bare U& literal holds any text, but a CAST of it to VARCHAR fails for
// characters beyond Latin-1. It fails loudly, never silently.
func TestIntegrationCastCharset(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	v, err := StringValue("привет").SQL()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "SELECT "+v+" AS s FROM (VALUES(1))")
	var qe *QueryError
	if !errors.As(err, &qe) || !strings.Contains(qe.Message, "Failed to encode") {
		t.Fatalf("error = %v; the Drillbit now casts non-Latin-1 text (UTF-16 default charset?): revisit the literal docs", err)
	}
}

// slowQuery is a query that runs for minutes on a small machine: a triple
// self-join of 2,000 rows on one key (8 billion joined rows).
func slowQuery(alias string) string {
	var b strings.Builder
	b.WriteString("[1")
	for i := 1; i < 2000; i++ {
		b.WriteString(",1")
	}
	b.WriteString("]")
	src := "(SELECT FLATTEN(convert_fromJSON('" + b.String() + "')) AS k FROM (VALUES(1)))"
	return "SELECT COUNT(*) AS " + alias + " FROM " + src + " a JOIN " + src + " b ON a.k = b.k JOIN " + src + " c ON b.k = c.k"
}

// TestIntegrationCancel cancels the context of a running query and checks
// that Drill cancelled the query itself (a closed connection alone leaves it
// running).
func TestIntegrationCancel(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	alias := uniqueName("cancel_it")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Query(ctx, slowQuery(alias))
		errc <- err
	}()
	id := waitRunning(t, c, alias, errc)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Query error = %v, want context.Canceled", err)
	}
	waitCancelled(t, c, id)
}

// TestIntegrationQueryTimeout runs a slow query with a short
// Options.QueryTimeout and checks that the query failed with
// ErrQueryTimeout and was cancelled in Drill.
func TestIntegrationQueryTimeout(t *testing.T) {
	t.Parallel()
	// The client logs the id of the query it cancels; on a loaded machine
	// the limit can pass before a poll of the running queries sees it, so
	// the id comes from there, and Drill's profile must say CANCELED.
	cancelled := make(chan string, 1)
	log := slog.New(cancelledIDs{slog.NewTextHandler(testWriter{t}, nil), cancelled})
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}, QueryTimeout: 3 * time.Second, Logger: log})
	alias := uniqueName("timeout_it")
	_, err := c.Query(context.Background(), slowQuery(alias))
	if !errors.Is(err, ErrQueryTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Query error = %v, want ErrQueryTimeout and context.DeadlineExceeded", err)
	}
	select {
	case id := <-cancelled:
		waitCancelled(t, c, id)
	default:
		t.Fatal("the client did not cancel the query in Drill")
	}
}

// cancelledIDs passes on the query_id of each "drill query cancelled" log.
type cancelledIDs struct {
	slog.Handler
	ids chan<- string
}

func (h cancelledIDs) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "drill query cancelled" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "query_id" {
				select {
				case h.ids <- a.Value.String():
				default:
				}
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

// waitRunning returns the id of the running query whose SQL holds alias,
// once Drill lists it; it fails the test when the query ends first.
func waitRunning(t *testing.T, c *Client, alias string, errc <-chan error) string {
	t.Helper()
	bg := context.Background()
	for {
		select {
		case err := <-errc:
			t.Fatalf("the slow query ended before it was seen running: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		running, err := c.RunningQueries(bg)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range running {
			if strings.Contains(q.Query, alias) {
				t.Cleanup(func() { _, _ = c.Cancel(bg, q.QueryID) }) // never leave it burning the shared Drillbit
				return q.QueryID
			}
		}
	}
}

// waitCancelled waits until Drill says query id was CANCELED. The client
// cancelled Drill's query before returning; Drill says so once the Drillbit
// has torn it down. Without that cancel the query would run for minutes:
// give up well before.
//
// The query's own profile is asked first; while a cancelled query's profile
// is being written (and, on a loaded machine, sometimes for good) Drill
// answers it with HTTP 500 "unable to serialize profile", so the list of
// finished queries, which carries the state as text, is asked as well. That
// list holds only the newest finished queries (100 by default), and with
// the other packages' tests sharing the Drillbit it can pass this one by
// before a poll sees it (CI, 2026-12-06: the profile answered 500 for the
// whole minute and the list never showed the id). When neither source can
// say, the query counts as cancelled once Drill has not listed it running
// for ten polls in a row (two seconds): the slow query runs for minutes
// unless something stopped it, and a query that failed or succeeded has
// a readable profile.
func waitCancelled(t *testing.T, c *Client, id string) {
	t.Helper()
	wait, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	var lastErr error
	gone := 0
	for wait.Err() == nil {
		state, err := queryState(wait, c, id)
		switch {
		case err != nil:
			lastErr = err
			if running(t, wait, c, id) {
				gone = 0
			} else if gone++; gone >= 10 {
				t.Logf("query %s: no longer running, its state unreadable (%v): counted as cancelled", id, err)
				return
			}
		case state == "CANCELED":
			return
		case state == "SUCCEEDED" || state == "FAILED":
			t.Fatalf("query %s ended in state %s, want CANCELED", id, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("query %s was not seen cancelled within a minute (last error: %v)", id, lastErr)
}

// running reports whether Drill lists query id among its running queries;
// an error asking counts as running, so it never ends the wait early.
func running(t *testing.T, ctx context.Context, c *Client, id string) bool {
	t.Helper()
	qs, err := c.RunningQueries(ctx)
	if err != nil {
		return true
	}
	for _, q := range qs {
		if q.QueryID == id {
			return true
		}
	}
	return false
}

// queryState is Drill's state of query id as text (QueryState's name), or
// "" while Drill has not finished it. The finished-queries list names the
// states as the Web UI does ("Succeeded", "Canceled", "Failed").
func queryState(ctx context.Context, c *Client, id string) (string, error) {
	p, perr := get[struct {
		State int `json:"state"` // UserBitShared.QueryResult.QueryState
	}](ctx, c, "/profiles/"+id+".json")
	if perr == nil {
		names := map[int]string{2: "SUCCEEDED", 3: "CANCELED", 4: "FAILED"} // the other states are not final
		return names[p.State], nil
	}
	done, err := get[struct {
		Finished []struct {
			QueryID string `json:"queryId"`
			State   string `json:"state"`
		} `json:"finishedQueries"`
	}](ctx, c, "/profiles/completed.json")
	if err != nil {
		return "", fmt.Errorf("profile: %v; finished queries: %w", perr, err)
	}
	for _, q := range done.Finished {
		if q.QueryID == id {
			return strings.ToUpper(q.State), nil
		}
	}
	return "", fmt.Errorf("profile: %w (and not among the finished queries)", perr)
}

// BenchmarkIntegrationReadFormats measures what one query over many small
// batch files costs the Drillbit per file, with the batches written as
// Parquet (what fieldsync writes) and as JSON (store.format), the same rows:
//
//	go test -run '^$' -bench IntegrationReadFormats -benchtime 5x ./agent/drill/
//
// A device pulling from a fleet reads one small file per other device and
// sync (docs/BENCHMARKS.md, issue 8), so this per-file cost is what grows
// with the fleet. The benchmark also checks that every row came back.
func BenchmarkIntegrationReadFormats(b *testing.B) {
	c := mustNewClient(b, Options{Endpoints: []string{drillURL(b)}, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	const files, perFile = 100, 10
	cols := []Column{{"change_id", VarChar}, {"record_id", VarChar}, {"doc", VarChar}, {"version", VarChar}, {"edited_at", BigInt}, {"batch_rows", BigInt}}
	doc := `{"site":"Site 12","species":"oak","height_m":12.5,"dbh_cm":40,"healthy":true,"note":"crown intact, bark sound, no visible pests"}`
	for _, format := range []string{"parquet", "json"} {
		dir := "drillclient/" + uniqueName("formats_"+format)
		for f := range files {
			var rows [][]Value
			for r := range perFile {
				rows = append(rows, []Value{StringValue(fmt.Sprintf("c%04d%02d", f, r)), StringValue(fmt.Sprintf("r%d-%d", f, r)), StringValue(doc),
					StringValue(fmt.Sprintf("%015d-0000-dev%d", 1_700_000_000_000+f, f%50)), Int64Value(int64(1_700_000_000_000 + f*1000 + r)), Int64Value(perFile)})
			}
			sel, err := SelectJSON(cols, rows)
			if err != nil {
				b.Fatal(err)
			}
			tbl, _ := TablePath("dfs", "fieldsync", fmt.Sprintf("%s/b%04d", dir, f))
			if _, err := c.Query(ctx, "CREATE TABLE "+tbl+" AS "+sel, WithOption("store.format", format)); err != nil {
				b.Fatal(err)
			}
		}
		tbl, _ := TablePath("dfs", "fieldsync", dir)
		// Session options that might lower the per-file cost of a read
		// of many small files: one fragment (no parallel plan), the
		// Parquet reader without its async page reader.
		variants := []struct {
			name string
			opts []QueryOption
		}{
			{"default", nil},
			{"slice_target", []QueryOption{WithOption("planner.slice_target", "1000000000")}},
			{"width1", []QueryOption{WithOption("planner.width.max_per_node", "1")}},
			{"sync_pages", []QueryOption{WithOption("store.parquet.reader.pagereader.async", "false")}},
		}
		for _, v := range variants {
			b.Run(format+"/"+v.name+"/files=100", func(b *testing.B) {
				for b.Loop() {
					res, err := c.Query(ctx, "SELECT change_id, record_id, doc, version, edited_at, batch_rows FROM "+tbl, v.opts...)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Rows) != files*perFile {
						b.Fatalf("%d rows, want %d", len(res.Rows), files*perFile)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/files, "ms/file")
			})
		}
	}
}

// BenchmarkIntegrationGroupRead measures how a device reads many batches of
// one hour partition with one query, against the real Drillbit: a filter
// on dir0 (an OR list, what fieldsync sent before) against a glob
// alternation naming the batches (what it sends now), for Parquet batches
// and, to size the other lever, JSON ones:
//
//	go test -run '^$' -bench IntegrationGroupRead -benchtime 3x ./agent/drill/
//
// The partition holds 3,000 batches (one CTAS copied into 3,000
// directories: an hour of a 500-device fleet), of which each query reads k.
func BenchmarkIntegrationGroupRead(b *testing.B) {
	c := mustNewClient(b, Options{Endpoints: []string{drillURL(b)}, Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	const batches = 3000
	root := uniqueName("groupread")
	cols := []Column{{"change_id", VarChar}, {"record_id", VarChar}, {"doc", VarChar}, {"version", VarChar}, {"edited_at", BigInt}, {"batch_rows", BigInt}}
	doc := `{"site":"Site 12","species":"oak","height_m":12.5,"dbh_cm":40,"healthy":true,"note":"crown intact, bark sound, no visible pests"}`
	for _, format := range []string{"parquet", "json"} {
		sel, err := SelectJSON(cols, [][]Value{{StringValue("c1"), StringValue("r1"), StringValue(doc), StringValue("001700000000000-0000-dev1"), Int64Value(1_700_000_000_000), Int64Value(1)}})
		if err != nil {
			b.Fatal(err)
		}
		seed, _ := TablePath("dfs", "fieldsync", "drillclient/"+root+"/seed_"+format)
		if _, err := c.Query(ctx, "CREATE TABLE "+seed+" AS "+sel, WithOption("store.format", format)); err != nil {
			b.Fatal(err)
		}
		ws := drilltest.WorkspaceDir(b)
		file := filepath.Join(ws, "drillclient", root, "seed_"+format, "0_0_0."+format)
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		part := filepath.Join(ws, "drillclient", root, format)
		for i := range batches {
			dir := filepath.Join(part, fmt.Sprintf("b%04d", i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "0_0_0."+format), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		for _, k := range []int{100, 300} {
			var names, ors []string
			for i := range k {
				n := fmt.Sprintf("b%04d", i*(batches/k))
				names = append(names, n)
				ors = append(ors, "`dir0` = '"+n+"'")
			}
			dirTable, _ := TablePath("dfs", "fieldsync", "drillclient/"+root+"/"+format)
			globTable, _ := TablePath("dfs", "fieldsync", "drillclient/"+root+"/"+format+"/{"+strings.Join(names, ",")+"}/*."+format)
			for _, v := range []struct{ name, sql string }{
				{"dir0", "SELECT `dir0` AS `b`, change_id, record_id, doc, version, edited_at, batch_rows FROM " + dirTable + " WHERE " + strings.Join(ors, " OR ") + " ORDER BY `dir0`, change_id"},
				{"glob", "SELECT `filepath` AS `b`, change_id, record_id, doc, version, edited_at, batch_rows FROM " + globTable + " ORDER BY `filepath`, change_id"},
			} {
				b.Run(fmt.Sprintf("%s/%s/read=%d_of_%d", format, v.name, k, batches), func(b *testing.B) {
					for b.Loop() {
						res, err := c.Query(ctx, v.sql)
						if err != nil {
							b.Fatal(err)
						}
						if len(res.Rows) != k {
							b.Fatalf("%d rows, want %d", len(res.Rows), k)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
				})
			}
		}
	}
}

// BenchmarkIntegrationBatchForms measures a CTAS of one batch in both forms
// against the real Drillbit:
//
//	go test -run '^$' -bench IntegrationBatchForms -benchtime 3x ./agent/drill/
//
// VALUES is measured at 100 rows only: at 1,000 rows Drill 1.22 fails to plan
// it (StackOverflowError in Calcite's VolcanoPlanner, reported as
// "Unexpected exception during fragment initialization: null").
func BenchmarkIntegrationBatchForms(b *testing.B) {
	c := mustNewClient(b, Options{Endpoints: []string{drillURL(b)}, Logger: slog.New(slog.DiscardHandler)})
	forms := []struct {
		name  string
		build func([]Column, [][]Value) (string, error)
		sizes []int
	}{{"json", SelectJSON, []int{100, 1000, 5000}}, {"values", SelectValues, []int{100}}}
	for _, f := range forms {
		for _, n := range f.sizes {
			var rows [][]Value
			for k := 0; k < n; k++ {
				rows = append(rows, []Value{Int64Value(int64(k)), StringValue(fmt.Sprintf("record %d with some text  ", k)),
					Int64Value(int64(k) * 1000003), Float64Value(float64(k) / 7), BoolValue(k%2 == 0)})
			}
			b.Run(fmt.Sprintf("%s/rows=%d", f.name, n), func(b *testing.B) {
				sel, err := f.build(roundTripCols, rows)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					tbl, _ := TablePath("dfs", "fieldsync", "drillclient/"+uniqueName("bench"))
					if _, err := c.Query(context.Background(), "CREATE TABLE "+tbl+" AS "+sel); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestIntegrationQueryEach: the rows of a real reply come one by one, in
// order, with the reply's other fields; an error of each stops the read
// and is returned; a query that fails is a *QueryError.
func TestIntegrationQueryEach(t *testing.T) {
	t.Parallel()
	c := mustNewClient(t, Options{Endpoints: []string{drillURL(t)}})
	ctx := context.Background()
	const n = 5000
	sql := fmt.Sprintf("SELECT CAST(`a`.`i` AS BIGINT) AS `i`, 'x' AS `s` FROM (SELECT FLATTEN(`r`) AS `i` FROM (SELECT convert_fromJSON('%s') AS `r` FROM (VALUES(1)))) AS `a` ORDER BY `i`",
		jsonRange(n))
	var got []int64
	res, err := c.QueryEach(ctx, sql, func(r Row) error {
		i, err := r.Int64("i")
		if s, _ := r.String("s"); err != nil || s != "x" {
			return fmt.Errorf("row %v: %v", r, err)
		}
		got = append(got, i)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.State != "COMPLETED" || res.QueryID == "" || len(res.Rows) != 0 || strings.Join(res.Columns, ",") != "i,s" {
		t.Errorf("result = %+v", res)
	}
	if len(got) != n || got[0] != 0 || got[n-1] != n-1 {
		t.Fatalf("%d rows, from %v", len(got), got[:min(3, len(got))])
	}
	stop := errors.New("enough")
	seen := 0
	if _, err := c.QueryEach(ctx, sql, func(Row) error {
		if seen++; seen == 10 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || seen != 10 {
		t.Errorf("stopped read = %v after %d rows, want %v after 10", err, seen, stop)
	}
	var qe *QueryError
	if _, err := c.QueryEach(ctx, "SELECT * FROM dfs.tmp.`no_such_table_each`", func(Row) error { return nil }); !errors.As(err, &qe) {
		t.Errorf("failed query = %v, want a *QueryError", err)
	}
}

// jsonRange is the JSON array [0,1,…,n-1].
func jsonRange(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strconv.Itoa(i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
