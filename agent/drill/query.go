package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNull is wrapped by the Row readers when the cell is NULL.
var ErrNull = errors.New("value is NULL")

// Result is the answer of a successful query.
type Result struct {
	QueryID string   // Drill's query id
	Columns []string // column names, in order
	Types   []string // Drill's type of each column (the reply's "metadata"), e.g. BIGINT, VARCHAR
	Rows    []Row
	State   string // COMPLETED
}

// Row is one result row: column name to value. Numbers are json.Number,
// text is string, booleans are bool, NULL is nil. Read cells with the typed
// methods.
type Row map[string]any

// IsNull reports whether the cell col is NULL or absent.
func (r Row) IsNull(col string) bool { return r[col] == nil }

// String returns the text cell col.
func (r Row) String(col string) (string, error) {
	switch v := r[col].(type) {
	case nil:
		return "", fmt.Errorf("drill: column %q: %w", col, ErrNull)
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	default:
		return "", fmt.Errorf("drill: column %q holds %T, not text", col, v)
	}
}

// numberText returns a numeric cell as text: Drill sends numbers as JSON
// numbers, and text columns may hold them too.
func (r Row) numberText(col, what string) (string, error) {
	switch v := r[col].(type) {
	case nil:
		return "", fmt.Errorf("drill: column %q: %w", col, ErrNull)
	case json.Number:
		return v.String(), nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("drill: column %q holds %T, not %s", col, v, what)
	}
}

// Int64 returns the integer cell col (BIGINT, INT, or text holding one).
func (r Row) Int64(col string) (int64, error) {
	s, err := r.numberText(col, "an integer")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("drill: column %q: %w", col, err)
	}
	return n, nil
}

// Float64 returns the numeric cell col (DOUBLE, FLOAT, or text holding one).
func (r Row) Float64(col string) (float64, error) {
	s, err := r.numberText(col, "a number")
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("drill: column %q: %w", col, err)
	}
	return f, nil
}

// Bool returns the BOOLEAN cell col.
func (r Row) Bool(col string) (bool, error) {
	switch v := r[col].(type) {
	case nil:
		return false, fmt.Errorf("drill: column %q: %w", col, ErrNull)
	case bool:
		return v, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("drill: column %q: %w", col, err)
		}
		return b, nil
	default:
		return false, fmt.Errorf("drill: column %q holds %T, not a boolean", col, v)
	}
}

// QueryOption adjusts one Query: WithOption, and in the tests the
// request's other fields (see options_test.go).
type QueryOption func(*queryRequest)

// WithOption sets a session option for one query, e.g. store.format =
// json for the CTAS of a batch written as JSON.
func WithOption(name, value string) QueryOption {
	return func(q *queryRequest) {
		if q.Options == nil {
			q.Options = map[string]string{}
		}
		q.Options[name] = value
	}
}

// queryRequest is the body of POST /query.json (Drill's QueryWrapper).
type queryRequest struct {
	Query         string            `json:"query"`
	QueryType     string            `json:"queryType"`
	AutoLimit     string            `json:"autoLimit"`
	DefaultSchema string            `json:"defaultSchema,omitempty"`
	Options       map[string]string `json:"options"`
}

// queryReply is the streamed reply of POST /query.json. On success:
// queryId, columns, metadata, attemptedAutoLimit, rows, queryState. On a
// failure before the first batch: queryId, then exception, errorMessage and
// stackTrace (only with drill.exec.http.rest.errors.verbose), queryState.
// On a failure after rows were sent: the rows so far, then queryState
// FAILED with no message.
type queryReply struct {
	QueryID      string   `json:"queryId"`
	Columns      []string `json:"columns"`
	Metadata     []string `json:"metadata"`
	Rows         []Row    `json:"rows"`
	QueryState   string   `json:"queryState"`
	Exception    string   `json:"exception"`
	ErrorMessage string   `json:"errorMessage"`

	streamed int // rows handed to QueryEach's each instead of kept in Rows
}

// eachError carries the error of QueryEach's each out of decodeReply.
type eachError struct{ err error }

func (e *eachError) Error() string { return e.err.Error() }

// decodeReply reads a query reply into reply. With each, the rows are
// handed to it one by one as they are read instead of kept (Drill sends
// "rows" before "queryState"); an error of each comes back as *eachError.
func decodeReply(d *json.Decoder, reply *queryReply, each func(Row) error) error {
	if each == nil {
		return d.Decode(reply)
	}
	if err := expectDelim(d, '{'); err != nil {
		return err
	}
	rest := map[string]json.RawMessage{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if key != "rows" {
			var v json.RawMessage
			if err := d.Decode(&v); err != nil {
				return err
			}
			rest[key] = v
			continue
		}
		t, err = d.Token()
		if err != nil {
			return err
		}
		if t == nil { // "rows": null
			continue
		}
		if dl, ok := t.(json.Delim); !ok || dl != '[' {
			return fmt.Errorf("rows: want an array, got %v", t)
		}
		for d.More() {
			var r Row
			if err := d.Decode(&r); err != nil {
				return err
			}
			reply.streamed++
			if err := each(r); err != nil {
				return &eachError{err: err}
			}
		}
		if err := expectDelim(d, ']'); err != nil {
			return err
		}
	}
	if err := expectDelim(d, '}'); err != nil {
		return err
	}
	b, err := json.Marshal(rest)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(reply)
}

// expectDelim reads the next token, which must be delim.
func expectDelim(d *json.Decoder, delim json.Delim) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	if dl, ok := t.(json.Delim); !ok || dl != delim {
		return fmt.Errorf("want %v, got %v", delim, t)
	}
	return nil
}

// submitError is the JSON body of a refused submission (HTTP 500), from
// Drill's GenericExceptionMapper.
type submitError struct {
	ErrorMessage string `json:"errorMessage"`
}

// The session options that ask Drill to put its error message into the
// REST reply: without the first, a FAILED reply carries no message at all.
const (
	optRESTVerboseErrors = "drill.exec.http.rest.errors.verbose"
	optVerboseErrors     = "exec.errors.verbose"
)

// IdentifierMaxLength is the longest SQL identifier every query may hold:
// Drill's default (planner.identifier_max_length, 1,024) is raised for
// each query, so that one table path can name many batches (a glob
// alternation, `{a,b,…}`) instead of a filter Drill applies only after
// listing the whole directory.
const (
	IdentifierMaxLength    = 65536
	optIdentifierMaxLength = "planner.identifier_max_length"
)

// Query runs sql and returns its rows. A query Drill cannot plan or run
// becomes a *QueryError with Drill's message, whether Drill says so with
// HTTP 200 and queryState FAILED or with HTTP 500. When ctx ends while the
// query runs, Query asks Drill to cancel it (a closed connection does not
// stop a Drill query), then returns ctx's error.
//
// The SQL is sent after a first line /* fieldsync:<id> */ that identifies
// it among the running queries for that cancel; line numbers in Drill's
// messages are corrected for it.
//
// Every query has a time limit (Options.QueryTimeout): past it, it is
// cancelled in Drill like a query whose context ended, and the error wraps
// ErrQueryTimeout.
//
// Failover: when the current Drillbit cannot be reached, the query goes to
// the next one. A connection that breaks after the query was sent can make
// a query run twice (once per Drillbit); write statements so that running
// them again is harmless (CREATE TABLE IF NOT EXISTS, then verify).
//
// A query that fails while Drill plans it because something it read changed
// under it (see planRace: a storage plugin being saved, a table of a scanned
// directory being dropped) is sent again, up to planRaceRetries times:
// Drill failed it before anything ran.
func (c *Client) Query(ctx context.Context, sql string, opts ...QueryOption) (*Result, error) {
	return c.run(ctx, sql, nil, opts)
}

// QueryEach runs sql like Query but hands each row to each as it is read
// from the reply, so the rows of a large result are never all in memory;
// the Result it returns has no rows. An error from each stops the read
// and is returned. The rows come before Drill's verdict on the query: when
// it then reports a failure, each has seen rows of a query that failed,
// so use it where acting on part of a result is harmless.
func (c *Client) QueryEach(ctx context.Context, sql string, each func(Row) error, opts ...QueryOption) (*Result, error) {
	return c.run(ctx, sql, each, opts)
}

// run is Query, with each when the rows are streamed.
func (c *Client) run(ctx context.Context, sql string, each func(Row) error, opts []QueryOption) (*Result, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(sql) == "" {
		return nil, errors.New("drill: empty query")
	}
	if d := c.opts.QueryTimeout; d > 0 {
		parent := ctx
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, ErrQueryTimeout)
		defer cancel()
		res, err := c.queryRetrying(ctx, sql, each, opts)
		if err != nil && parent.Err() == nil && errors.Is(context.Cause(ctx), ErrQueryTimeout) {
			return nil, fmt.Errorf("drill: query %q ran longer than %s: %w (%w)", truncate(sql, maxErrorSQL), d, ErrQueryTimeout, context.DeadlineExceeded)
		}
		return res, err
	}
	return c.queryRetrying(ctx, sql, each, opts)
}

// queryRetrying sends sql, again after a planRace.
func (c *Client) queryRetrying(ctx context.Context, sql string, each func(Row) error, opts []QueryOption) (*Result, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.query(ctx, sql, each, opts)
		if err == nil || attempt == planRaceRetries || !planRace(err) {
			return res, err
		}
		c.log.Warn("drill failed the query while planning it because what it read changed meanwhile; sending it again",
			"attempt", attempt+1, "err", err)
		t := time.NewTimer(planRaceWait(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// planRaceRetries is how many times a query that hit planRace is sent
// again. Three were not always enough on a loaded 2-core machine while a
// plugin was saved several times a second (1 query in 80 failed); five,
// with waits that do not keep step with the writer, have been.
const planRaceRetries = 5

// planRaceWait is the wait before retry n (0-based) of a query that hit
// planRace: 50 ms, 200 ms, 800 ms, then 2 s, each stretched by up to a
// quarter at random so that retries do not keep step with a writer that
// saves at a steady pace. The changes behind a race take milliseconds, so
// the first wait is short; at most about 6 s are spent in all.
func planRaceWait(n int) time.Duration {
	d := min(50*time.Millisecond<<(2*n), 2*time.Second)
	return d + mrand.N(d/4+1)
}

// planRace reports whether err is Drill failing a query while planning it
// because something it read changed meanwhile; the same query sent again
// then runs. Both cases were measured against Drill 1.22:
//
//   - A storage plugin being saved: the local persistent store rewrites the
//     plugin's file in place (truncate, then write), so a query planned while
//     POST /storage/{name}.json saves it reads an empty or partial file:
//     "Unable deserialize value for the path [.../sys.storage_plugins/...]".
//   - A table of a scanned directory being dropped (a device rewriting its
//     row of the fleet table, a partial batch being rewritten): the planner
//     listed the file and then cannot open it: "Error while applying rule
//     DrillScanRule...".
func planRace(err error) bool {
	var qe *QueryError
	if !errors.As(err, &qe) {
		return false
	}
	m := qe.Message
	if strings.Contains(m, "not a Parquet file") {
		// A file left damaged (a 0-byte parquet from a killed CTAS) fails
		// the same rule, but every time: sending it again only waits.
		return false
	}
	return strings.Contains(m, "Unable deserialize value for the path") && strings.Contains(m, "storage_plugins") ||
		strings.Contains(m, "Error while applying rule DrillScanRule")
}

// query sends sql once; see QueryEach for each.
func (c *Client) query(ctx context.Context, sql string, each func(Row) error, opts []QueryOption) (*Result, error) {
	tag := newTag()
	q := queryRequest{
		Query:     "/* " + tag + " */\n" + sql,
		QueryType: "SQL",
		AutoLimit: "0",
		Options: map[string]string{optRESTVerboseErrors: "true", optVerboseErrors: "true",
			optIdentifierMaxLength: strconv.Itoa(IdentifierMaxLength)},
	}
	for _, o := range opts {
		o(&q)
	}
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("drill: encode query: %w", err)
	}
	short := truncate(sql, maxErrorSQL)
	started := c.now()
	resp, _, err := c.do(ctx, request{method: http.MethodPost, path: "/query.json", body: body, contentType: "application/json"})
	if err != nil {
		if ctx.Err() != nil {
			c.cancelRunning(ctx, tag)
		}
		return nil, fmt.Errorf("drill: query %q: %w", short, err)
	}
	defer drain(resp)
	var reply queryReply
	d := json.NewDecoder(resp.Body)
	d.UseNumber()
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := decodeReply(d, &reply, each); err != nil {
			var ee *eachError
			if errors.As(err, &ee) {
				c.cancelRunning(ctx, tag) // the rest is not wanted
				return nil, ee.err
			}
			if ctx.Err() != nil {
				c.cancelRunning(ctx, tag)
				return nil, fmt.Errorf("drill: query %q: %w", short, context.Cause(ctx))
			}
			return nil, fmt.Errorf("drill: query %q: read reply: %w", short, err)
		}
	case resp.StatusCode == http.StatusInternalServerError:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var se submitError
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &se) == nil && se.ErrorMessage != "" {
			msg = se.ErrorMessage
		}
		if msg == "Query submission failed" {
			// Drill 1.22 keeps the cause in its log only.
			msg += " (Drill gives the cause only in the Drillbit log; usually a wrong default schema, session option or user name)"
		}
		return nil, &QueryError{SQL: short, State: "FAILED", Message: msg, Status: resp.StatusCode}
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, fmt.Errorf("drill: query %q: %w", short, &HTTPError{Method: http.MethodPost, URL: c.Endpoint() + "/query.json",
			Status: resp.StatusCode, Body: string(b), Location: resp.Header.Get("Location")})
	}
	c.log.Debug("drill query", "query_id", reply.QueryID, "state", reply.QueryState, "rows", len(reply.Rows)+reply.streamed, "took", c.now().Sub(started))
	if reply.QueryState != "COMPLETED" {
		qe := &QueryError{SQL: short, QueryID: reply.QueryID, State: reply.QueryState, Message: untag(reply.ErrorMessage), Status: resp.StatusCode}
		if qe.Message == "" && reply.QueryID != "" {
			qe.Message = untag(c.profileError(ctx, reply.QueryID))
		}
		return nil, qe
	}
	return &Result{QueryID: reply.QueryID, Columns: reply.Columns, Types: reply.Metadata, Rows: reply.Rows, State: reply.QueryState}, nil
}

// profileError reads the error of a finished query from its profile; Drill
// leaves it out of the REST reply when the query fails after sending rows.
func (c *Client) profileError(ctx context.Context, queryID string) string {
	p, err := get[struct {
		Error        string `json:"error"`
		VerboseError string `json:"verboseError"`
	}](ctx, c, "/profiles/"+url.PathEscape(queryID)+".json")
	if err != nil {
		c.log.Warn("drill profile read failed", "query_id", queryID, "err", err)
		return ""
	}
	if p.Error != "" {
		return p.Error
	}
	// Some failures carry only the verbose form; its first line says what.
	first, _, _ := strings.Cut(p.VerboseError, "\n")
	return first
}

// linePos matches the positions in Calcite's messages ("at line 1, column
// 5", "From line 1, column 15 to line 1, column 27").
var linePos = regexp.MustCompile(`\bline (\d+), column (\d+)`)

// untag moves the line numbers of Drill's message back by the tag line.
func untag(msg string) string {
	return linePos.ReplaceAllStringFunc(msg, func(m string) string {
		sub := linePos.FindStringSubmatch(m)
		n, err := strconv.Atoi(sub[1])
		if err != nil || n < 2 {
			return m
		}
		return "line " + strconv.Itoa(n-1) + ", column " + sub[2]
	})
}

func newTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails
	return "fieldsync:" + hex.EncodeToString(b[:])
}

// RunningQuery is one entry of /profiles/running.json.
type RunningQuery struct {
	QueryID   string `json:"queryId"`
	Query     string `json:"query"` // the first 150 characters of the SQL
	User      string `json:"user"`
	State     string `json:"state"`
	Foreman   string `json:"foreman"`
	StartTime int64  `json:"startTime"` // epoch ms
}

// RunningQueries lists the queries running on the cluster that the user may
// see.
func (c *Client) RunningQueries(ctx context.Context) ([]RunningQuery, error) {
	r, err := get[struct {
		RunningQueries []RunningQuery `json:"runningQueries"`
	}](ctx, c, "/profiles/running.json")
	if err != nil {
		return nil, fmt.Errorf("drill: running queries: %w", err)
	}
	return r.RunningQueries, nil
}

// Cancel asks Drill to cancel the query with the given id and returns
// Drill's answer text.
func (c *Client) Cancel(ctx context.Context, queryID string) (string, error) {
	b, err := c.sendAccept(ctx, http.MethodGet, "/profiles/cancel/"+url.PathEscape(queryID), "text/plain", http.StatusOK, nil)
	if err != nil {
		return "", fmt.Errorf("drill: cancel %s: %w", queryID, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// cancelRunning is the best-effort cancel of the query tagged tag, after
// its caller's context ended. It retries for a short while, since the query
// may not be registered as running yet.
func (c *Client) cancelRunning(ctx context.Context, tag string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.CancelTimeout)
	defer cancel()
	marker := "/* " + tag + " */"
	for attempt := 0; attempt < 5; attempt++ {
		running, err := c.RunningQueries(ctx)
		if err != nil {
			c.log.Warn("drill cancel: list running queries failed", "tag", tag, "err", err)
			return
		}
		for _, q := range running {
			if !strings.HasPrefix(q.Query, marker) {
				continue
			}
			msg, err := c.Cancel(ctx, q.QueryID)
			if err != nil {
				c.log.Warn("drill cancel failed", "query_id", q.QueryID, "err", err)
				return
			}
			c.log.Info("drill query cancelled", "query_id", q.QueryID, "reply", msg)
			return
		}
		select {
		case <-ctx.Done():
			c.log.Warn("drill cancel: query not found among running queries", "tag", tag)
			return
		case <-time.After(time.Duration(attempt+1) * 100 * time.Millisecond):
		}
	}
	c.log.Info("drill cancel: query not running (finished or never started)", "tag", tag)
}
