package bridge

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCallDispatch(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{})
	tests := []struct {
		name       string
		method     string
		body       string
		want       int
		wantResult string // JSON of the result
		wantErr    string // part of the error text
	}{
		{name: "string", method: "Echo", body: `["héllo"]`, want: 200, wantResult: `"héllo"`},
		{name: "two ints", method: "Add", body: `[2, 40]`, want: 200, wantResult: `42`},
		{name: "struct and (T, error)", method: "Greet", body: `[{"name":"Ada","times":1}]`, want: 200, wantResult: `"hello Ada! "`},
		{name: "spaces around the array", method: "Echo", body: " \n[\"x\"]\n ", want: 200, wantResult: `"x"`},
		{name: "context parameter", method: "Marker", body: `[]`, want: 200, wantResult: `"from-the-server"`},
		{name: "empty body is no arguments", method: "Marker", body: ``, want: 200, wantResult: `"from-the-server"`},
		{name: "nothing returned", method: "Nothing", body: `[]`, want: 200, wantResult: `null`},
		{name: "variadic none", method: "Sum", body: `[1]`, want: 200, wantResult: `1`},
		{name: "variadic many", method: "Sum", body: `[1, 2, 3, 4]`, want: 200, wantResult: `10`},
		{name: "null for a string", method: "Echo", body: `[null]`, want: 200, wantResult: `""`},

		{name: "error return", method: "Fail", body: `[]`, want: 500, wantErr: "the record is locked by another device"},
		{name: "(T, error) with error", method: "FailValue", body: `[]`, want: 500, wantErr: "the journal is full"},
		{name: "method error text", method: "Greet", body: `[{"name":""}]`, want: 500, wantErr: "greet: a name is needed: invalid input"},
		{name: "panic", method: "Explode", body: `[]`, want: 500, wantErr: "Fixture.Explode failed unexpectedly"},

		{name: "too few arguments", method: "Add", body: `[1]`, want: 400, wantErr: "Fixture.Add(int, int) takes 2 arguments, got 1"},
		{name: "too many arguments", method: "Echo", body: `["a", "b"]`, want: 400, wantErr: "takes 1 argument, got 2"},
		{name: "arguments for none", method: "Nothing", body: `[1]`, want: 400, wantErr: "takes 0 arguments, got 1"},
		{name: "variadic too few", method: "Sum", body: `[]`, want: 400, wantErr: "Fixture.Sum(int, ...int) takes at least 1 argument, got 0"},
		{name: "wrong type", method: "Add", body: `[1, "2"]`, want: 400, wantErr: "Fixture.Add: argument 2 (int): must be a whole number (int), not a JSON string"},
		{name: "wrong variadic type", method: "Sum", body: `[1, 2, true]`, want: 400, wantErr: "argument 3 (int)"},
		{name: "wrong field type", method: "Greet", body: `[{"name":"Ada","times":"twice"}]`, want: 400, wantErr: `argument 1 (bridge.Greeting): field "times" must be a whole number (int), not a JSON string`},
		{name: "object for a struct expected", method: "Greet", body: `["Ada"]`, want: 400, wantErr: "must be an object (bridge.Greeting)"},
		{name: "fraction for an int", method: "Add", body: `[1.5, 2]`, want: 400, wantErr: "argument 1 (int)"},
		{name: "not an array", method: "Echo", body: `{"s":"x"}`, want: 400, wantErr: "must be a JSON array of the arguments"},
		{name: "bare value", method: "Echo", body: `"x"`, want: 400, wantErr: "must be a JSON array"},
		{name: "null body", method: "Echo", body: `null`, want: 400, wantErr: "must be a JSON array"},
		{name: "broken json", method: "Echo", body: `["x"`, want: 400, wantErr: "not valid JSON"},
		{name: "trailing data", method: "Echo", body: `["x"] ["y"]`, want: 400, wantErr: "more data after the array"},

		{name: "unknown method", method: "Missing", body: `[]`, want: 404, wantErr: `there is no method "Fixture.Missing"; known methods: Fixture.Add,`},
		{name: "unknown struct", method: "", body: `[]`, want: 404, wantErr: "there is no method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := "/api/call/Fixture." + tt.method
			if tt.method == "" {
				path = "/api/call/Other.Echo"
			}
			resp := do(t, ts, request{method: "POST", path: path, body: tt.body, headers: callHeaders(s)})
			if resp.status != tt.want {
				t.Fatalf("status %d, want %d; body %s", resp.status, tt.want, resp.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if tt.want != http.StatusOK {
				if got := resp.errorText(t); !strings.Contains(got, tt.wantErr) {
					t.Errorf("error %q, want it to contain %q", got, tt.wantErr)
				}
				return
			}
			var v struct {
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal([]byte(resp.body), &v); err != nil {
				t.Fatalf("body %s: %v", resp.body, err)
			}
			if string(v.Result) != tt.wantResult {
				t.Errorf("result %s, want %s", v.Result, tt.wantResult)
			}
		})
	}
}

func TestCallHTTPErrors(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{MaxBodyBytes: 1024})
	big := `["` + strings.Repeat("x", 2000) + `"]`
	withType := func(ct string) map[string]string {
		h := callHeaders(s)
		h["Content-Type"] = ct
		return h
	}
	tests := []struct {
		name    string
		req     request
		want    int
		wantErr string
	}{
		{name: "body at the limit", req: request{method: "POST", path: "/api/call/Fixture.Bytes", body: `["` + strings.Repeat("x", 1020) + `"]`, headers: callHeaders(s)}, want: 200},
		{name: "body over the limit", req: request{method: "POST", path: "/api/call/Fixture.Bytes", body: big, headers: callHeaders(s)}, want: 413, wantErr: "larger than the limit of 1 KiB"},
		{name: "text plain", req: request{method: "POST", path: "/api/call/Fixture.Echo", body: `["x"]`, headers: withType("text/plain")}, want: 415, wantErr: "application/json"},
		{name: "form", req: request{method: "POST", path: "/api/call/Fixture.Echo", body: `a=b`, headers: withType("application/x-www-form-urlencoded")}, want: 415},
		{name: "json with charset", req: request{method: "POST", path: "/api/call/Fixture.Echo", body: `["x"]`, headers: withType("application/json; charset=utf-8")}, want: 200},
		{name: "get", req: request{method: "GET", path: "/api/call/Fixture.Echo", headers: callHeaders(s)}, want: 405, wantErr: "calls are made with POST"},
		{name: "put", req: request{method: "PUT", path: "/api/call/Fixture.Echo", body: `["x"]`, headers: callHeaders(s)}, want: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, ts, tt.req)
			if resp.status != tt.want {
				t.Fatalf("status %d, want %d; body %s", resp.status, tt.want, resp.body)
			}
			if tt.wantErr != "" {
				if got := resp.errorText(t); !strings.Contains(got, tt.wantErr) {
					t.Errorf("error %q, want it to contain %q", got, tt.wantErr)
				}
			}
		})
	}
}

func TestCallErrorStatus(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{ErrorStatus: func(err error) int {
		switch {
		case errors.Is(err, errInvalid):
			return http.StatusBadRequest
		case strings.Contains(err.Error(), "locked"):
			return 99 // out of range: stays 500
		}
		return 0
	}})
	tests := []struct {
		name   string
		method string
		body   string
		want   int
	}{
		{name: "mapped", method: "Greet", body: `[{"name":""}]`, want: 400},
		{name: "out of range", method: "Fail", body: `[]`, want: 500},
		{name: "unmapped", method: "FailValue", body: `[]`, want: 500},
		{name: "panic is never mapped", method: "Explode", body: `[]`, want: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, ts, request{method: "POST", path: "/api/call/Fixture." + tt.method, body: tt.body, headers: callHeaders(s)})
			if resp.status != tt.want {
				t.Errorf("status %d, want %d; body %s", resp.status, tt.want, resp.body)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n    int64
		want string
	}{
		{32 << 20, "32 MiB"},
		{1024, "1 KiB"},
		{1500, "1500 bytes"},
		{10, "10 bytes"},
	}
	for _, tt := range tests {
		if got := byteSize(tt.n); got != tt.want {
			t.Errorf("byteSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// FuzzDecodeCall feeds arbitrary bodies through the call decoding: it must
// never panic, and what it accepts must survive a round trip.
func FuzzDecodeCall(f *testing.F) {
	for _, seed := range []string{``, `[]`, `["x"]`, `[1, 2]`, `[{"name":"Ada","times":2}]`, `[null]`, `{"a":1}`, `["x"] 1`, `[1e400]`, `["\ud800"]`, " [ ] "} {
		f.Add([]byte(seed))
	}
	methods, err := register([]any{Fixture{}})
	if err != nil {
		f.Fatal(err)
	}
	targets := []*method{methods["Fixture.Echo"], methods["Fixture.Add"], methods["Fixture.Greet"], methods["Fixture.Sum"]}
	f.Fuzz(func(t *testing.T, body []byte) {
		args, err := decodeArgs(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		again, err := json.Marshal(append([]json.RawMessage{}, args...))
		if err != nil {
			t.Fatalf("accepted arguments do not re-encode: %v", err)
		}
		args2, err := decodeArgs(again)
		if err != nil || len(args2) != len(args) {
			t.Fatalf("round trip of %q: %d args, %v; want %d", again, len(args2), err, len(args))
		}
		for _, m := range targets {
			in, err := m.bind(args)
			if err != nil {
				if !strings.HasPrefix(err.Error(), m.name) {
					t.Fatalf("bind error %q does not name the method %s", err, m.name)
				}
				continue
			}
			if len(in) != len(args) {
				t.Fatalf("bound %d values from %d arguments", len(in), len(args))
			}
		}
	})
}
