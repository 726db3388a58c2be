package bridge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Bad is bound to prove that New refuses methods it cannot serve.
type Bad struct{}

// Three returns three values.
func (Bad) Three() (int, int, error) { return 0, 0, nil }

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		wantIs  error
	}{
		{name: "all interfaces", opts: Options{Addr: "0.0.0.0:0"}, wantIs: ErrNotLoopback},
		{name: "empty host", opts: Options{Addr: ":8384"}, wantIs: ErrNotLoopback},
		{name: "lan address", opts: Options{Addr: "192.168.1.20:8384"}, wantIs: ErrNotLoopback},
		{name: "ipv6 any", opts: Options{Addr: "[::]:0"}, wantIs: ErrNotLoopback},
		{name: "host name", opts: Options{Addr: "box.lan:8384"}, wantIs: ErrNotLoopback},
		{name: "no port", opts: Options{Addr: "127.0.0.1"}, wantErr: "missing port"},
		{name: "bad port", opts: Options{Addr: "127.0.0.1:http"}, wantErr: "not a number"},
		{name: "short key", opts: Options{APIKey: "short"}, wantErr: "at least 16"},
		{name: "short session token", opts: Options{SessionToken: "short"}, wantErr: "the session token is 5 bytes"},
		{name: "short csrf token", opts: Options{CSRFToken: "0123456789abcde"}, wantErr: "the CSRF token is 15 bytes"},
		{name: "empty allowed host", opts: Options{AllowedHosts: []string{""}}, wantErr: "it is empty"},
		{name: "allowed host url", opts: Options{AllowedHosts: []string{"http://box.lan/"}}, wantErr: "not a plain host name"},
		{name: "allowed host wildcard", opts: Options{AllowedHosts: []string{"*.lan"}}, wantErr: "not a plain host name"},
		{name: "allowed host bad port", opts: Options{AllowedHosts: []string{"box.lan:x"}}, wantErr: "port is not a number"},
		{name: "nil bound", opts: Options{Bound: []any{nil}}, wantErr: "is nil"},
		{name: "bound func", opts: Options{Bound: []any{func() {}}}, wantErr: "bind a named struct"},
		{name: "bound anonymous struct", opts: Options{Bound: []any{&struct{}{}}}, wantErr: "bind a named struct"},
		{name: "same struct twice", opts: Options{Bound: []any{&Fixture{}, Fixture{}}}, wantErr: "two bound structs are named Fixture"},
		{name: "three results", opts: Options{Bound: []any{Bad{}}}, wantErr: "Bad.Three returns 3 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.opts)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("New: %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewAcceptsAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
	}{
		{name: "default", opts: Options{}},
		{name: "ipv4 loopback", opts: Options{Addr: "127.0.0.1:8384"}},
		{name: "other 127 address", opts: Options{Addr: "127.0.0.2:0"}},
		{name: "localhost", opts: Options{Addr: "localhost:0"}},
		{name: "ipv6 loopback", opts: Options{Addr: "[::1]:0"}},
		{name: "remote when allowed", opts: Options{Addr: "0.0.0.0:0", AllowRemote: true, AllowedHosts: []string{"box.lan", "box.lan:80", "[fd00::1]"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tt.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if len(s.APIKey()) < 43 && tt.opts.APIKey == "" {
				t.Errorf("generated key %q is shorter than 32 bytes in base64url", s.APIKey())
			}
		})
	}
}

func TestGeneratedSecretsDiffer(t *testing.T) {
	t.Parallel()
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{a.APIKey(), a.CSRFToken(), a.sessionToken, b.APIKey(), b.CSRFToken(), b.sessionToken}
	seen := map[string]bool{}
	for _, v := range secrets {
		if seen[v] {
			t.Fatalf("secret %q was generated twice", v)
		}
		seen[v] = true
	}
}

// TestGivenSecretsOutliveARestart: a server made with the secrets of the
// one before accepts the session cookie and CSRF token a page got from it.
func TestGivenSecretsOutliveARestart(t *testing.T) {
	t.Parallel()
	opts := Options{APIKey: NewToken(), SessionToken: NewToken(), CSRFToken: NewToken()}
	first, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts1 := httptest.NewServer(first.Handler())
	t.Cleanup(ts1.Close)
	got := map[string]string{}
	for _, c := range do(t, ts1, request{path: "/?key=" + opts.APIKey}).cookies { // the page load
		got[strings.TrimSuffix(c.Name, "-"+port(ts1))] = c.Value
	}
	if got[CookieSession] != opts.SessionToken || got[CookieCSRF] != opts.CSRFToken {
		t.Fatalf("cookies %v, want the given session and CSRF tokens", got)
	}
	tests := []struct {
		name string
		opts Options
		want int
	}{
		{"same secrets", opts, http.StatusOK},
		{"new secrets", Options{}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Bound = []any{&Fixture{}}
			again, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(again.Handler())
			t.Cleanup(ts.Close)
			// The page's cookies, as the browser sends them to the same
			// port after the restart.
			resp := do(t, ts, request{method: "POST", path: "/api/call/Fixture.Echo", body: `["x"]`,
				headers: map[string]string{HeaderCSRF: got[CookieCSRF], "Content-Type": "application/json"},
				cookies: []*http.Cookie{
					{Name: CookieSession + "-" + port(ts), Value: got[CookieSession]},
					{Name: CookieCSRF + "-" + port(ts), Value: got[CookieCSRF]},
				}})
			if resp.status != tt.want {
				t.Errorf("call with the old page's cookies = %d %s, want %d", resp.status, resp.body, tt.want)
			}
		})
	}
}

func TestStartServesTheURLAndStops(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Bound: []any{&Fixture{}}, Assets: testAssets()})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL() != "" {
		t.Errorf("URL before Start = %q, want empty", s.URL())
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Start(ctx); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v, want ErrStarted", err)
	}
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatalf("URL %q: %v", s.URL(), err)
	}
	if u.Hostname() != "127.0.0.1" || u.Port() == "0" || u.Path != "/" || u.Query().Get("key") != s.APIKey() {
		t.Fatalf("URL = %q, want http://127.0.0.1:PORT/?key=KEY", s.URL())
	}

	// A browser: open the URL, then call with the cookies it was given.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := client.Get(s.URL())
	if err != nil {
		t.Fatalf("open URL: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "<title>fieldsync</title>") {
		t.Fatalf("open URL: %s %q", resp.Status, page)
	}
	if resp.Request.URL.RawQuery != "" {
		t.Errorf("after the redirect the address is %s, want it without the key", resp.Request.URL)
	}
	var csrf string
	for _, c := range jar.Cookies(u) {
		if c.Name == CookieCSRF+"-"+u.Port() {
			csrf = c.Value
		}
	}
	if csrf == "" {
		t.Fatalf("no CSRF cookie in %v", jar.Cookies(u))
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+u.Host+"/api/call/Fixture.Echo", strings.NewReader(`["over the bridge"]`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderCSRF, csrf)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"result":"over the bridge"}` {
		t.Fatalf("call with session cookie: %s %s", resp.Status, body)
	}

	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.Start(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Stop: %v, want ErrStopped", err)
	}
	if _, err := client.Get("http://" + u.Host + "/api/health"); err == nil {
		t.Error("the server still answers after Stop")
	}
}

func TestStopEndsEventStreams(t *testing.T) {
	t.Parallel()
	s, err := New(Options{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(s.URL())
	req, _ := http.NewRequest(http.MethodGet, "http://"+u.Host+"/api/events", nil)
	req.Header.Set(HeaderAPIKey, testKey)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events: %s", resp.Status)
	}
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		t.Fatalf("Stop with an open event stream: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
}

func TestStartRefusesNonLoopbackListener(t *testing.T) {
	t.Parallel()
	// "localhost" passes New; Start checks what was actually bound.
	s, err := New(Options{Addr: "localhost:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start on localhost: %v", err)
	}
	defer s.Stop(context.Background())
	if u, _ := url.Parse(s.URL()); u.Hostname() != "127.0.0.1" && u.Hostname() != "::1" {
		t.Errorf("URL = %s, want a loopback address", s.URL())
	}
}

func TestGuards(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{AllowedHosts: []string{"box.lan", "proxy.lan:9999"}})
	p := port(ts)
	self := "http://127.0.0.1:" + p
	session := &http.Cookie{Name: CookieSession + "-" + p, Value: s.sessionToken}
	good := callHeaders(s)
	with := func(extra map[string]string, drop ...string) map[string]string {
		h := map[string]string{}
		for k, v := range good {
			h[k] = v
		}
		for _, k := range drop {
			delete(h, k)
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	const echo = "/api/call/Fixture.Echo"
	tests := []struct {
		name    string
		req     request
		want    int
		wantErr string // part of the error text
	}{
		{name: "health needs no key", req: request{path: "/api/health"}, want: 200},
		{name: "health checks the host", req: request{path: "/api/health", host: "evil.example:" + p}, want: 403, wantErr: "DNS rebinding"},

		{name: "call with key and csrf", req: request{method: "POST", path: echo, body: `["x"]`, headers: good}, want: 200},
		{name: "call without key", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(nil, HeaderAPIKey)}, want: 401, wantErr: "no API key"},
		{name: "call with wrong key", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{HeaderAPIKey: testKey + "x"})}, want: 403, wantErr: "API key"},
		{name: "call with key in query", req: request{method: "POST", path: echo + "?key=" + testKey, body: `["x"]`, headers: with(nil, HeaderAPIKey)}, want: 401, wantErr: "X-API-Key header"},
		{name: "call without csrf", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(nil, HeaderCSRF)}, want: 403, wantErr: "missing X-CSRF-Token"},
		{name: "call with wrong csrf", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{HeaderCSRF: s.CSRFToken()[1:]})}, want: 403, wantErr: "X-CSRF-Token header is wrong"},
		{name: "call with session cookie", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(nil, HeaderAPIKey), cookies: []*http.Cookie{session}}, want: 200},
		{name: "call with stale session cookie", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(nil, HeaderAPIKey), cookies: []*http.Cookie{{Name: session.Name, Value: "old"}}}, want: 403, wantErr: "session has expired"},
		{name: "cookie of another port", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(nil, HeaderAPIKey), cookies: []*http.Cookie{{Name: CookieSession + "-1", Value: s.sessionToken}}}, want: 401},
		{name: "session cookie without csrf", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(nil, HeaderAPIKey, HeaderCSRF), cookies: []*http.Cookie{session}}, want: 403, wantErr: "X-CSRF-Token"},

		{name: "host localhost", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "localhost:" + p}, want: 200},
		{name: "host ipv6 loopback", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "[::1]:" + p}, want: 200},
		{name: "host upper case", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "LOCALHOST:" + p}, want: 200},
		{name: "allowed host", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "box.lan:" + p}, want: 200},
		{name: "allowed host with its port", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "proxy.lan:9999"}, want: 200},
		{name: "allowed host other port", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "box.lan:1"}, want: 403, wantErr: "DNS rebinding"},
		{name: "rebound host", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "evil.example:" + p}, want: 403, wantErr: "DNS rebinding"},
		{name: "loopback other port", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "127.0.0.1:1"}, want: 403},
		{name: "host without port", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "localhost"}, want: 403},
		{name: "localhost with dot", req: request{method: "POST", path: echo, body: `["x"]`, headers: good, host: "localhost.:" + p}, want: 403},

		{name: "same origin", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"})}, want: 200},
		{name: "foreign origin", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{"Origin": "http://evil.example"})}, want: 403, wantErr: "origin"},
		{name: "origin on another port", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{"Origin": "http://127.0.0.1:1"})}, want: 403, wantErr: "origin"},
		{name: "null origin", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{"Origin": "null"})}, want: 403},
		{name: "cross-site fetch", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{"Sec-Fetch-Site": "cross-site"})}, want: 403},
		{name: "same-site fetch", req: request{method: "POST", path: echo, body: `["x"]`, headers: with(map[string]string{"Sec-Fetch-Site": "same-site"})}, want: 403},

		{name: "session without key", req: request{path: "/api/session"}, want: 401},
		{name: "session with key", req: request{path: "/api/session", headers: map[string]string{HeaderAPIKey: testKey}}, want: 200},
		{name: "session with key in query", req: request{path: "/api/session?key=" + testKey}, want: 401},
		{name: "events with wrong query key", req: request{path: "/api/events?key=wrong"}, want: 403},
		{name: "events without key", req: request{path: "/api/events"}, want: 401},
		{name: "events head ends", req: request{method: "HEAD", path: "/api/events", headers: map[string]string{HeaderAPIKey: testKey}}, want: 200},
		{name: "unknown api without key", req: request{path: "/api/nope"}, want: 401},
		{name: "unknown api with key", req: request{path: "/api/nope", headers: map[string]string{HeaderAPIKey: testKey}}, want: 404, wantErr: "no API at /api/nope"},
		{name: "bare api with key", req: request{path: "/api", headers: map[string]string{HeaderAPIKey: testKey}}, want: 404},

		{name: "page needs no key", req: request{path: "/"}, want: 200},
		{name: "page with wrong key", req: request{path: "/?key=wrong"}, want: 403},
		{name: "page with bad host", req: request{path: "/", host: "evil.example:" + p}, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, ts, tt.req)
			if resp.status != tt.want {
				t.Fatalf("status %d, want %d; body %s", resp.status, tt.want, resp.body)
			}
			if tt.wantErr != "" && !strings.Contains(resp.body, tt.wantErr) {
				t.Errorf("body %s, want it to contain %q", resp.body, tt.wantErr)
			}
			refused := resp.header.Get(HeaderRefused)
			if guarded := resp.status == 401 || resp.status == 403; guarded != (refused != "") {
				t.Errorf("status %d with %s %q; want the header exactly on guard refusals", resp.status, HeaderRefused, refused)
			}
		})
	}
}

func TestKeyExchange(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{})
	p := port(ts)
	resp := do(t, ts, request{path: "/records/inspections?key=" + testKey + "&tab=2"})
	if resp.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303; body %s", resp.status, resp.body)
	}
	if got := resp.header.Get("Location"); got != "/records/inspections?tab=2" {
		t.Errorf("Location %q, want the same address without the key", got)
	}
	if got := resp.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}
	cookies := map[string]*http.Cookie{}
	for _, c := range resp.cookies {
		cookies[c.Name] = c
	}
	sess := cookies[CookieSession+"-"+p]
	if sess == nil || sess.Value != s.sessionToken || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" {
		t.Errorf("session cookie %+v, want HttpOnly SameSite=Strict Path=/ with the session token", sess)
	}
	if sess != nil && sess.Value == testKey {
		t.Error("the session cookie holds the API key")
	}
	csrf := cookies[CookieCSRF+"-"+p]
	if csrf == nil || csrf.Value != s.CSRFToken() || csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode {
		t.Errorf("CSRF cookie %+v, want a script-readable SameSite=Strict cookie with the token", csrf)
	}

	// A redirect never leaves the server.
	resp = do(t, ts, request{path: "//evil.example/?key=" + testKey})
	if got := resp.header.Get("Location"); !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
		t.Errorf("Location %q leaves the server", got)
	}

	// The event stream accepts the key in the query and sets the cookies.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/events?key="+testKey, nil)
	r, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("events with ?key=: %s", r.Status)
	}
	found := false
	for _, c := range r.Cookies() {
		found = found || c.Name == CookieSession+"-"+p
	}
	if !found {
		t.Error("events with ?key= set no session cookie")
	}
}

func TestCSRFCookieOnAuthenticatedRequests(t *testing.T) {
	t.Parallel()
	s, ts := mustNewServer(t, Options{})
	name := CookieCSRF + "-" + port(ts)
	tests := []struct {
		name    string
		req     request
		wantSet bool
	}{
		{name: "session call sets it", req: request{path: "/api/session", headers: map[string]string{HeaderAPIKey: testKey}}, wantSet: true},
		{name: "present cookie is kept", req: request{path: "/api/session", headers: map[string]string{HeaderAPIKey: testKey}, cookies: []*http.Cookie{{Name: name, Value: s.CSRFToken()}}}},
		{name: "stale cookie is replaced", req: request{path: "/api/session", headers: map[string]string{HeaderAPIKey: testKey}, cookies: []*http.Cookie{{Name: name, Value: "old"}}}, wantSet: true},
		{name: "page with session sets it", req: request{path: "/", cookies: []*http.Cookie{{Name: CookieSession + "-" + port(ts), Value: s.sessionToken}}}, wantSet: true},
		{name: "page without session does not", req: request{path: "/"}},
		{name: "refused request does not", req: request{path: "/api/session", headers: map[string]string{HeaderAPIKey: "wrong-key-wrong-key"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, ts, tt.req)
			set := false
			for _, c := range resp.cookies {
				if c.Name == name {
					set = c.Value == s.CSRFToken()
				}
			}
			if set != tt.wantSet {
				t.Errorf("CSRF cookie set = %v, want %v (cookies %v)", set, tt.wantSet, resp.cookies)
			}
		})
	}
	resp := do(t, ts, request{path: "/api/session", headers: map[string]string{HeaderAPIKey: testKey}})
	if !strings.Contains(resp.body, `"csrfCookie":"`+name+`"`) {
		t.Errorf("session body %s does not name the CSRF cookie %s", resp.body, name)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	_, ts := mustNewServer(t, Options{})
	p := port(ts)
	tests := []struct {
		name    string
		req     request
		api     bool
		wantAny int
	}{
		{name: "page", req: request{path: "/"}},
		{name: "asset", req: request{path: "/assets/app.js"}},
		{name: "missing asset", req: request{path: "/assets/missing.js"}},
		{name: "bad host page", req: request{path: "/", host: "evil.example:" + p}},
		{name: "health", req: request{path: "/api/health"}, api: true},
		{name: "refused call", req: request{method: "POST", path: "/api/call/Fixture.Echo"}, api: true},
		{name: "bad host api", req: request{path: "/api/health", host: "evil.example:" + p}, api: true},
		{name: "session", req: request{path: "/api/session", headers: map[string]string{HeaderAPIKey: testKey}}, api: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := do(t, ts, tt.req).header
			want := map[string]string{
				"Content-Security-Policy": DefaultContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"X-Frame-Options":         "DENY",
			}
			if tt.api {
				want["Cache-Control"] = "no-store"
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
	if !strings.Contains(DefaultContentSecurityPolicy, "default-src 'self'") ||
		!strings.Contains(DefaultContentSecurityPolicy, "script-src 'self';") {
		t.Errorf("the default policy %q allows more than the server's own scripts", DefaultContentSecurityPolicy)
	}
}

func TestUI(t *testing.T) {
	t.Parallel()
	_, ts := mustNewServer(t, Options{})
	tests := []struct {
		name     string
		req      request
		want     int
		wantBody string
		wantType string
	}{
		{name: "index", req: request{path: "/"}, want: 200, wantBody: "<title>fieldsync</title>", wantType: "text/html"},
		{name: "index by name", req: request{path: "/index.html"}, want: 200, wantBody: "<title>fieldsync</title>"},
		{name: "asset", req: request{path: "/assets/app.js"}, want: 200, wantBody: "console.log", wantType: "text/javascript"},
		{name: "spa route", req: request{path: "/conflicts/inspections/42"}, want: 200, wantBody: "<title>fieldsync</title>"},
		{name: "missing file", req: request{path: "/assets/missing.js"}, want: 404, wantBody: "no file /assets/missing.js"},
		{name: "directory", req: request{path: "/assets"}, want: 200, wantBody: "<title>fieldsync</title>"},
		{name: "dot dot", req: request{path: "/assets/../index.html"}, want: http.StatusTemporaryRedirect},
		{name: "post", req: request{method: "POST", path: "/"}, want: 405},
		{name: "head", req: request{method: "HEAD", path: "/"}, want: 200, wantType: "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := do(t, ts, tt.req)
			if resp.status != tt.want {
				t.Fatalf("status %d, want %d; body %s", resp.status, tt.want, resp.body)
			}
			if !strings.Contains(resp.body, tt.wantBody) {
				t.Errorf("body %q, want it to contain %q", resp.body, tt.wantBody)
			}
			if ct := resp.header.Get("Content-Type"); !strings.HasPrefix(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %q", ct, tt.wantType)
			}
		})
	}
}

func TestUINotBuilt(t *testing.T) {
	t.Parallel()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	u, _ := url.Parse(s.URL())
	resp, err := http.Get("http://" + u.Host + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "not built") {
		t.Errorf("GET / without assets: %s %q, want 404 saying the UI is not built", resp.Status, body)
	}
}
