package drill

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The files under testdata/ are replies recorded from a real Drill 1.22.0
// Drillbit by testdata/record.sh.

func mustReadTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// serveFile answers with a recorded reply.
func serveFile(tb testing.TB, status int, name string) http.HandlerFunc {
	body := mustReadTestdata(tb, name)
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}

func mustNewClient(tb testing.TB, opts Options) *Client {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	s := httptest.NewServer(h)
	tb.Cleanup(s.Close)
	return s
}

func TestQueryReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		file    string
		wantErr func(t *testing.T, err error)
	}{
		{"completed", 200, "query_ok.json", nil},
		{"failed with 200", 200, "query_failed.json", func(t *testing.T, err error) {
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is not a *QueryError", err)
			}
			if qe.State != "FAILED" || !strings.Contains(qe.Message, "no_such_table") || qe.Status != 200 {
				t.Errorf("QueryError = %+v, want FAILED with Drill's message naming no_such_table", qe)
			}
		}},
		{"submission refused with 500", 500, "query_500.json", func(t *testing.T, err error) {
			var qe *QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is not a *QueryError", err)
			}
			if qe.Status != 500 || qe.Message == "" {
				t.Errorf("QueryError = %+v, want status 500 with a message", qe)
			}
		}},
		{"login redirect", 307, "empty", func(t *testing.T, err error) {
			if !IsAuthError(err) {
				t.Fatalf("error %v is not an AuthError", err)
			}
			if !strings.Contains(err.Error(), "requires a login") {
				t.Errorf("message %q does not tell the user to log in", err)
			}
		}},
		{"forbidden", 403, "empty", func(t *testing.T, err error) {
			if !IsAuthError(err) {
				t.Fatalf("error %v is not an AuthError", err)
			}
		}},
		{"bad request", 400, "empty", func(t *testing.T, err error) {
			var he *HTTPError
			if !errors.As(err, &he) || he.Status != 400 {
				t.Fatalf("error %v is not an HTTPError 400", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got queryRequest
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/query.json" || r.Method != http.MethodPost {
					http.NotFound(w, r)
					return
				}
				if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
					t.Errorf("request body: %v", err)
				}
				if tt.status == 307 {
					w.Header().Set("Location", "/mainLogin")
				}
				serveFile(t, tt.status, tt.file)(w, r)
			}))
			c := mustNewClient(t, Options{Endpoints: []string{srv.URL}})
			res, err := c.Query(context.Background(), "SELECT * FROM no_such_table", WithDefaultSchema("dfs.fieldsync"))
			if got.QueryType != "SQL" || got.AutoLimit != "0" || got.DefaultSchema != "dfs.fieldsync" ||
				got.Options[optRESTVerboseErrors] != "true" || got.Options[optVerboseErrors] != "true" ||
				got.Options[optIdentifierMaxLength] != "65536" ||
				!strings.HasPrefix(got.Query, "/* fieldsync:") || !strings.HasSuffix(got.Query, " */\nSELECT * FROM no_such_table") {
				t.Errorf("request = %+v, want SQL, autoLimit 0, default schema, verbose errors, long identifiers and the tagged SQL", got)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				checkQueryOK(t, res)
				return
			}
			if err == nil {
				t.Fatal("Query succeeded, want an error")
			}
			tt.wantErr(t, err)
		})
	}
}

// checkQueryOK checks the decoded testdata/query_ok.json.
func checkQueryOK(t *testing.T, res *Result) {
	t.Helper()
	if res.QueryID == "" || res.State != "COMPLETED" || len(res.Rows) != 2 {
		t.Fatalf("result = %+v", res)
	}
	wantCols := []string{"i", "f", "s", "b", "n"}
	if strings.Join(res.Columns, ",") != strings.Join(wantCols, ",") {
		t.Errorf("columns = %v, want %v", res.Columns, wantCols)
	}
	r := res.Rows[0]
	if v, err := r.Int64("i"); err != nil || v != 9223372036854775807 {
		t.Errorf("i = %v, %v", v, err)
	}
	if v, err := r.Float64("f"); err != nil || v != 0.1 {
		t.Errorf("f = %v, %v", v, err)
	}
	if v, err := r.String("s"); err != nil || v != "it's" {
		t.Errorf("s = %q, %v", v, err)
	}
	if v, err := r.Bool("b"); err != nil || !v {
		t.Errorf("b = %v, %v", v, err)
	}
	if !r.IsNull("n") {
		t.Errorf("n = %v, want NULL", r["n"])
	}
	if _, err := r.String("n"); !errors.Is(err, ErrNull) {
		t.Errorf("String(n) error = %v, want ErrNull", err)
	}
	if v, err := res.Rows[1].Int64("i"); err != nil || v != -9223372036854775808 {
		t.Errorf("row 1 i = %v, %v", v, err)
	}
}

func TestFailover(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	good := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		serveFile(t, 200, "status.json")(w, r)
	}))
	down := deadURL(t)
	unavailable := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	c := mustNewClient(t, Options{Endpoints: []string{down, unavailable.URL, good.URL}})
	for i := 0; i < 3; i++ {
		st, err := c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != "Running!" {
			t.Errorf("status = %q", st.Status)
		}
	}
	if c.Endpoint() != good.URL {
		t.Errorf("Endpoint() = %s, want the healthy %s", c.Endpoint(), good.URL)
	}
	if hits.Load() != 3 {
		t.Errorf("healthy endpoint got %d calls, want 3", hits.Load())
	}

	all := mustNewClient(t, Options{Endpoints: []string{down, unavailable.URL}})
	_, err := all.Status(context.Background())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 503 {
		t.Errorf("error %v does not carry the 503 of the second endpoint", err)
	}
	var ne *net.OpError
	if !errors.As(err, &ne) {
		t.Errorf("error %v does not carry the connection error of the first endpoint", err)
	}
	if !strings.Contains(err.Error(), down) || !strings.Contains(err.Error(), unavailable.URL) {
		t.Errorf("error %q does not name each endpoint", err)
	}
}

// deadURL returns the URL of a port that refuses connections.
func deadURL(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	_ = l.Close()
	return u
}

// formDrill imitates Drill's FORM authentication: j_security_check sets a
// session; a call without a valid session gets 307 to /mainLogin.
type formDrill struct {
	mu       sync.Mutex
	sessions map[string]bool
	logins   int
	next     int
}

func (f *formDrill) expireAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions = map[string]bool{}
}

func (f *formDrill) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/j_security_check" {
		f.logins++
		if r.PostFormValue("j_username") != "ann" || r.PostFormValue("j_password") != "secret" {
			w.Header().Set("Location", "/login?error=true")
			w.WriteHeader(http.StatusFound)
			return
		}
		f.next++
		id := "s" + string(rune('0'+f.next))
		f.sessions[id] = true
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: "/"})
		w.Header().Set("Location", "/")
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	ck, err := r.Cookie("JSESSIONID")
	if err != nil || !f.sessions[ck.Value] {
		w.Header().Set("Location", "/mainLogin")
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if r.URL.Path == "/storage/dfs.json" { // an admin-only resource
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"Running!"}`)
}

func TestFormAuth(t *testing.T) {
	t.Parallel()
	fd := &formDrill{sessions: map[string]bool{}}
	srv := newServer(t, fd)
	c := mustNewClient(t, Options{Endpoints: []string{srv.URL}, Auth: AuthForm, User: "ann", Password: "secret"})
	ctx := context.Background()
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if fd.logins != 1 {
		t.Errorf("logins = %d after two calls, want 1 (the session is reused)", fd.logins)
	}
	fd.expireAll()
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("call after session expiry: %v", err)
	}
	if fd.logins != 2 {
		t.Errorf("logins = %d after expiry, want 2", fd.logins)
	}
	_, err := c.StoragePlugin(ctx, "dfs")
	if !IsAuthError(err) || !strings.Contains(err.Error(), "does not allow user") {
		t.Errorf("403 error = %v, want an AuthError saying the user is not allowed", err)
	}
	if fd.logins != 2 {
		t.Errorf("logins = %d after a 403, want still 2 (a new login cannot help)", fd.logins)
	}

	bad := mustNewClient(t, Options{Endpoints: []string{srv.URL}, Auth: AuthForm, User: "ann", Password: "wrong"})
	_, err = bad.Status(ctx)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("wrong password: error = %v, want *AuthError", err)
	}
	want := `Drill refused the credentials for user "ann" at ` + srv.URL
	if !strings.Contains(err.Error(), want) {
		t.Errorf("message %q, want it to say %q", err, want)
	}
}

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("Location", "/mainLogin")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		if u != "ann" || p != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		serveFile(t, 200, "status.json")(w, r)
	}))
	tests := []struct {
		name     string
		opts     Options
		wantAuth bool
	}{
		{"good", Options{Auth: AuthBasic, User: "ann", Password: "secret"}, false},
		{"wrong password", Options{Auth: AuthBasic, User: "ann", Password: "nope"}, true},
		{"no credentials", Options{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Endpoints = []string{srv.URL}
			_, err := mustNewClient(t, tt.opts).Status(context.Background())
			if got := IsAuthError(err); got != tt.wantAuth {
				t.Fatalf("error = %v, IsAuthError = %v, want %v", err, got, tt.wantAuth)
			}
		})
	}
}

func TestCustomCA(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(serveFile(t, 200, "status.json"))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		opts   Options
		wantOK bool
	}{
		{"CA PEM", Options{CAPEM: caPEM}, true},
		{"CA file", Options{CAFile: caFile}, true},
		{"system roots only", Options{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Endpoints = []string{srv.URL}
			_, err := mustNewClient(t, tt.opts).Status(context.Background())
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ua x509.UnknownAuthorityError
			if !errors.As(err, &ua) {
				t.Fatalf("error = %v, want an x509.UnknownAuthorityError", err)
			}
		})
	}
	if _, err := New(Options{CAPEM: []byte("not a certificate")}); err == nil {
		t.Error("New accepted a CA PEM without a certificate")
	}
	if _, err := New(Options{CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("New accepted a missing CA file")
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"bad URL":         {Endpoints: []string{"drill:8047"}},
		"ftp":             {Endpoints: []string{"ftp://x"}},
		"unknown auth":    {Auth: "kerberos", User: "a"},
		"basic, no user":  {Auth: AuthBasic},
		"form, no user":   {Auth: AuthForm},
		"empty endpoint":  {Endpoints: []string{""}},
		"no host at all":  {Endpoints: []string{"http://"}},
		"relative path":   {Endpoints: []string{"/drill"}},
		"spaces in host":  {Endpoints: []string{"http://a b"}},
		"missing CA file": {CAFile: "/nonexistent/ca.pem"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(o); err == nil {
				t.Errorf("New(%+v) succeeded", o)
			}
		})
	}
}

func TestCancelOnContextEnd(t *testing.T) {
	t.Parallel()
	var (
		mu        sync.Mutex
		running   string // the SQL of the query in flight
		cancelled = make(chan string, 1)
	)
	ctx, cancel := context.WithCancel(context.Background())
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/query.json":
			var q queryRequest
			_ = json.NewDecoder(r.Body).Decode(&q)
			mu.Lock()
			running = q.Query
			mu.Unlock()
			cancel() // the caller gives up while Drill still runs the query
			<-r.Context().Done()
		case "/profiles/running.json":
			mu.Lock()
			q := running
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"runningQueries": []map[string]any{
				{"queryId": "other", "query": "SELECT 1", "user": "anonymous", "state": "RUNNING"},
				{"queryId": "2a5a0f6c-0000-0000-0000-000000000001", "query": q, "user": "anonymous", "state": "RUNNING"},
			}})
		case "/profiles/cancel/2a5a0f6c-0000-0000-0000-000000000001":
			if !strings.Contains(r.Header.Get("Accept"), "text/plain") {
				// Drill's cancel resource produces text/plain only.
				http.Error(w, `{"errorMessage" : "HTTP 406 Not Acceptable"}`, http.StatusInternalServerError)
				return
			}
			cancelled <- "2a5a0f6c-0000-0000-0000-000000000001"
			_, _ = io.WriteString(w, "Cancelled query 2a5a0f6c-0000-0000-0000-000000000001 on locally running node.")
		default:
			http.NotFound(w, r)
		}
	}))
	c := mustNewClient(t, Options{Endpoints: []string{srv.URL}})
	_, err := c.Query(ctx, "SELECT * FROM big")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	select {
	case id := <-cancelled:
		if id != "2a5a0f6c-0000-0000-0000-000000000001" {
			t.Errorf("cancelled %s", id)
		}
	default:
		t.Fatal("Query returned without cancelling the running query")
	}
}

func TestEnsureWorkspace(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		saved []byte
		posts int
	)
	orig := mustReadTestdata(t, "storage_dfs.json")
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/storage/dfs.json" && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			if saved != nil {
				_, _ = w.Write(saved)
				return
			}
			_, _ = w.Write(orig)
		case r.URL.Path == "/storage/dfs.json" && r.Method == http.MethodPost:
			posts++
			saved, _ = io.ReadAll(r.Body)
			serveFile(t, 200, "storage_saved.json")(w, r)
		case r.URL.Path == "/storage/nope.json":
			serveFile(t, 200, "storage_missing.json")(w, r) // Drill answers 200 with "config": null
		default:
			http.NotFound(w, r)
		}
	}))
	c := mustNewClient(t, Options{Endpoints: []string{srv.URL}})
	ctx := context.Background()
	changed, err := c.EnsureWorkspace(ctx, "dfs", "fieldsync2", "/data/fs2", true)
	if err != nil || !changed {
		t.Fatalf("EnsureWorkspace = %v, %v; want changed", changed, err)
	}
	changed, err = c.EnsureWorkspace(ctx, "dfs", "fieldsync2", "/data/fs2", true)
	if err != nil || changed {
		t.Fatalf("second EnsureWorkspace = %v, %v; want unchanged", changed, err)
	}
	if posts != 1 {
		t.Errorf("posts = %d, want 1", posts)
	}
	var before, after struct {
		Name   string                     `json:"name"`
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(orig, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(saved, &after); err != nil {
		t.Fatal(err)
	}
	for k, v := range before.Config {
		if k == "workspaces" {
			continue
		}
		if !jsonEqual(t, v, after.Config[k]) {
			t.Errorf("config %s changed: %s -> %s", k, v, after.Config[k])
		}
	}
	var wsBefore, wsAfter map[string]json.RawMessage
	_ = json.Unmarshal(before.Config["workspaces"], &wsBefore)
	_ = json.Unmarshal(after.Config["workspaces"], &wsAfter)
	for k, v := range wsBefore {
		if !jsonEqual(t, v, wsAfter[k]) {
			t.Errorf("workspace %s changed: %s -> %s", k, v, wsAfter[k])
		}
	}
	if !jsonEqual(t, wsAfter["fieldsync2"], []byte(`{"location":"/data/fs2","writable":true,"defaultInputFormat":null,"allowAccessOutsideWorkspace":false}`)) {
		t.Errorf("new workspace = %s", wsAfter["fieldsync2"])
	}
	if _, err := c.StoragePlugin(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("StoragePlugin(nope) error = %v, want ErrNotFound", err)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func TestCluster(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serveFile(t, 200, "cluster.json"))
	cl, err := mustNewClient(t, Options{Endpoints: []string{srv.URL}}).Cluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cl.CurrentVersion != "1.22.0" || len(cl.Drillbits) != 1 || !cl.Drillbits[0].Current || cl.Drillbits[0].Version != "1.22.0" {
		t.Errorf("cluster = %+v", cl)
	}
}

func TestZeroClient(t *testing.T) {
	t.Parallel()
	var c Client
	if got := c.Endpoint(); got != DefaultEndpoint {
		t.Errorf("zero Client endpoint = %s, want %s", got, DefaultEndpoint)
	}
}

func TestFormAuthConcurrent(t *testing.T) {
	t.Parallel()
	fd := &formDrill{sessions: map[string]bool{}}
	srv := newServer(t, fd)
	c := mustNewClient(t, Options{Endpoints: []string{deadURL(t), srv.URL}, Auth: AuthForm, User: "ann", Password: "secret",
		Logger: slog.New(slog.DiscardHandler)})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Go(func() {
			_, err := c.Status(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	fd.mu.Lock()
	defer fd.mu.Unlock()
	if fd.logins != 1 {
		t.Errorf("20 concurrent calls logged in %d times, want 1", fd.logins)
	}
}

// TestQueryRetriesPlanRace: a query that Drill failed while planning
// because what it read changed meanwhile is sent again; other failures are
// not. The failing replies are messages Drill 1.22 gave in CI (see
// planRace).
func TestQueryRetriesPlanRace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failures  int    // replies of failFile before query_ok.json
		failFile  string // the failing reply
		wantCalls int
		wantOK    bool
	}{
		{"a plugin being saved, then the query runs", 1, "query_store_race.json", 2, true},
		{"a table dropped while planning, then the query runs", 2, "query_scan_race.json", 3, true},
		{"races up to the last retry", planRaceRetries, "query_store_race.json", planRaceRetries + 1, true},
		{"a race that does not end gives up", planRaceRetries + 5, "query_scan_race.json", planRaceRetries + 1, false},
		{"other failures are not retried", 1, "query_failed.json", 1, false},
		{"a damaged parquet file is not a race", 3, "query_scan_corrupt.json", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n := int(calls.Add(1)); n <= tt.failures {
					serveFile(t, 200, tt.failFile)(w, r)
					return
				}
				serveFile(t, 200, "query_ok.json")(w, r)
			}))
			c := mustNewClient(t, Options{Endpoints: []string{srv.URL}})
			res, err := c.Query(context.Background(), "SELECT 1")
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("Drill got %d queries, want %d", got, tt.wantCalls)
			}
			if !tt.wantOK {
				var qe *QueryError
				if !errors.As(err, &qe) {
					t.Fatalf("Query error = %v, want a *QueryError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkQueryOK(t, res)
		})
	}
}

func TestQueryPlanRaceRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		serveFile(t, 200, "query_store_race.json")(w, r)
	}))
	// The caller gives up while the client waits to send the query again.
	log := slog.New(cancelOnWarn{cancel})
	c := mustNewClient(t, Options{Endpoints: []string{srv.URL}, Logger: log})
	_, err := c.Query(ctx, "SELECT 1")
	if !planRace(err) {
		t.Fatalf("Query error = %v, want the race Drill reported", err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("Drill got %d queries after the context ended, want 1", got)
	}
}

// cancelOnWarn is a slog handler that calls cancel on a warning.
type cancelOnWarn struct{ cancel context.CancelFunc }

func (h cancelOnWarn) Enabled(context.Context, slog.Level) bool { return true }
func (h cancelOnWarn) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.cancel()
	}
	return nil
}
func (h cancelOnWarn) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cancelOnWarn) WithGroup(string) slog.Handler      { return h }
