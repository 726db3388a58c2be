package bridge

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// testKey is the API key of the test servers.
const testKey = "test-key-0123456789abcdef"

// ctxKey marks contexts made by the test servers' BaseContext.
type ctxKey struct{}

// errInvalid stands for app.ErrInvalidInput.
var errInvalid = errors.New("invalid input")

// Greeting is a struct argument.
type Greeting struct {
	Name  string `json:"name"`
	Times int    `json:"times"`
}

// Fixture is the bound struct of the tests.
type Fixture struct{}

// Echo returns s.
func (Fixture) Echo(s string) string { return s }

// Add returns a+b.
func (Fixture) Add(a, b int) int { return a + b }

// Greet uses a struct argument and returns (T, error).
func (Fixture) Greet(g Greeting) (string, error) {
	if g.Name == "" {
		return "", fmt.Errorf("greet: a name is needed: %w", errInvalid)
	}
	return strings.Repeat("hello "+g.Name+"! ", g.Times), nil
}

// Marker returns the value the server's base context carries, proving that
// the method got the request's context.
func (Fixture) Marker(ctx context.Context) (string, error) {
	v, _ := ctx.Value(ctxKey{}).(string)
	return v, ctx.Err()
}

// Fail returns only an error.
func (Fixture) Fail() error { return errors.New("the record is locked by another device") }

// FailValue returns (T, error) with an error.
func (Fixture) FailValue() (int, error) { return 0, errors.New("the journal is full") }

// Nothing returns nothing.
func (Fixture) Nothing() {}

// Explode panics.
func (Fixture) Explode() { panic("boom") }

// Sum is variadic.
func (Fixture) Sum(base int, more ...int) int {
	for _, n := range more {
		base += n
	}
	return base
}

// Bytes takes a large argument.
func (Fixture) Bytes(s string) int { return len(s) }

// testAssets is a built UI.
func testAssets() fstest.MapFS {
	return fstest.MapFS{
		"index.html":    {Data: []byte("<!doctype html><title>fieldsync</title>")},
		"assets/app.js": {Data: []byte("console.log('fieldsync')")},
	}
}

// mustNewServer makes a Server over Fixture and serves its handler with
// httptest; opts fields left zero get test defaults.
func mustNewServer(tb testing.TB, opts Options) (*Server, *httptest.Server) {
	tb.Helper()
	if opts.Bound == nil {
		opts.Bound = []any{&Fixture{}}
	}
	if opts.APIKey == "" {
		opts.APIKey = testKey
	}
	if opts.Assets == nil {
		opts.Assets = testAssets()
	}
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.BaseContext = func(net.Listener) context.Context {
		return context.WithValue(context.Background(), ctxKey{}, "from-the-server")
	}
	ts.Start()
	tb.Cleanup(ts.Close)
	tb.Cleanup(func() { // runs first: ends the event streams so ts.Close returns
		if err := s.Stop(context.Background()); err != nil {
			tb.Errorf("Stop: %v", err)
		}
	})
	return s, ts
}

// request is one HTTP request of a test.
type request struct {
	method  string
	path    string
	host    string // empty: the server's own
	body    string
	headers map[string]string
	cookies []*http.Cookie
}

// response is what a test looks at.
type response struct {
	status  int
	header  http.Header
	body    string
	cookies []*http.Cookie
}

// errorText returns the "error" member of a JSON error body.
func (r response) errorText(tb testing.TB) string {
	tb.Helper()
	var v struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		tb.Fatalf("body %q is not a JSON error: %v", r.body, err)
	}
	return v.Error
}

// do sends req to ts without following redirects.
func do(tb testing.TB, ts *httptest.Server, req request) response {
	tb.Helper()
	if req.method == "" {
		req.method = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, req.method, ts.URL+req.path, strings.NewReader(req.body))
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	if req.host != "" {
		r.Host = req.host
	}
	for k, v := range req.headers {
		r.Header.Set(k, v)
	}
	for _, c := range req.cookies {
		r.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(r)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", req.method, req.path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b), cookies: resp.Cookies()}
}

// callHeaders are the headers of a correct call.
func callHeaders(s *Server) map[string]string {
	return map[string]string{
		HeaderAPIKey:   s.APIKey(),
		HeaderCSRF:     s.CSRFToken(),
		"Content-Type": "application/json",
	}
}

// port returns the port of ts.
func port(ts *httptest.Server) string {
	return ts.URL[strings.LastIndex(ts.URL, ":")+1:]
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id, name, data string
}

// stream is an open /api/events response.
type stream struct {
	r      *bufio.Reader
	cancel context.CancelFunc
}

// mustOpenStream opens /api/events with the API key header and, when set,
// Last-Event-ID.
func mustOpenStream(tb testing.TB, ts *httptest.Server, lastID string) *stream {
	tb.Helper()
	return openStream(tb, ts, "/api/events", lastID)
}

// openStream opens the event stream at path.
func openStream(tb testing.TB, ts *httptest.Server, path, lastID string) *stream {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
	if err != nil {
		cancel()
		tb.Fatalf("new request: %v", err)
	}
	r.Header.Set(HeaderAPIKey, testKey)
	if lastID != "" {
		r.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := ts.Client().Do(r)
	if err != nil {
		cancel()
		tb.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		tb.Fatalf("GET /api/events: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	st := &stream{r: bufio.NewReader(resp.Body), cancel: cancel}
	tb.Cleanup(func() {
		cancel()
		resp.Body.Close()
	})
	// The server writes its greeting after registering the client, so once
	// it is read no event emitted later can be missed.
	if c := st.next(tb, true); c.name != ":connected" {
		tb.Fatalf("first block of the stream is %+v, want the connected comment", c)
	}
	return st
}

// next reads the next block of the stream; comments come back with name
// ":<text>" when comments is set and are skipped otherwise.
func (st *stream) next(tb testing.TB, comments bool) sseEvent {
	tb.Helper()
	for {
		var ev sseEvent
		var comment string
		for {
			line, err := st.r.ReadString('\n')
			if err != nil {
				tb.Fatalf("read event stream: %v", err)
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				break
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "":
				comment = value
			case "id":
				ev.id = value
			case "event":
				ev.name = value
			case "data":
				ev.data = value
			}
		}
		if ev.name != "" || ev.data != "" {
			return ev
		}
		if comment != "" && comments {
			return sseEvent{name: ":" + comment}
		}
	}
}
