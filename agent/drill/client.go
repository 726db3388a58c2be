package drill

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// DefaultEndpoint is the Drillbit a zero Client talks to.
const DefaultEndpoint = "http://127.0.0.1:8047"

// DefaultQueryTimeout is the time limit of a query when Options leave it
// zero: a sync's queries take seconds, the largest batch CTAS measured
// about 90 s; a query past it is runaway work on a Drillbit the fleet
// shares.
const DefaultQueryTimeout = 5 * time.Minute

// Auth is how a Client logs in to Drill's web server.
type Auth string

// The authentication mechanisms of Drill's web server that Client speaks.
const (
	AuthNone  Auth = ""      // no login; Drill must run without web auth
	AuthBasic Auth = "basic" // an Authorization header on every call
	AuthForm  Auth = "form"  // POST /j_security_check once, then a session cookie
)

// Options configures a Client. The zero Options means one Drillbit at
// DefaultEndpoint without authentication.
type Options struct {
	// Endpoints are the base URLs of the Drillbits, e.g.
	// https://drill1.example.org:8047. Any Drillbit of a cluster accepts
	// queries; a call fails over to the next when one is unreachable, and
	// the client keeps using the one that answered.
	Endpoints []string

	// Auth, User and Password log in to Drill's web server.
	Auth     Auth
	User     string
	Password string

	// CAFile or CAPEM add a certificate authority (PEM) trusted for HTTPS
	// endpoints, besides the system pool. Server certificates are always
	// verified; there is no way to turn that off.
	CAFile string
	CAPEM  []byte

	// DialTimeout bounds connecting to one Drillbit (default 10s).
	DialTimeout time.Duration
	// RequestTimeout bounds each call other than Query (default 60s).
	// Queries run as long as their context allows.
	RequestTimeout time.Duration
	// QueryTimeout bounds each Query, planning and retries included
	// (default DefaultQueryTimeout; negative: no limit but the context's).
	// A query that runs longer is cancelled in Drill and fails with an
	// error wrapping ErrQueryTimeout.
	QueryTimeout time.Duration
	// CancelTimeout bounds the best-effort cancel of a query whose context
	// ended (default 10s).
	CancelTimeout time.Duration

	// Logger receives debug and warning records; nil discards them.
	Logger *slog.Logger

	// Transport replaces the HTTP transport (tests). When set, CAFile,
	// CAPEM and DialTimeout are not used.
	Transport http.RoundTripper
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Client talks to one Drill cluster over its REST API. Create it with New;
// the zero Client talks to DefaultEndpoint without authentication. A Client
// is safe for concurrent use.
type Client struct {
	once    sync.Once
	initErr error

	opts      Options
	endpoints []*url.URL
	hc        *http.Client
	log       *slog.Logger
	now       func() time.Time

	mu       sync.Mutex
	current  int             // index of the endpoint that last answered
	loggedIn map[string]bool // FORM sessions by endpoint

	loginMu sync.Mutex // one FORM login at a time
}

// New returns a Client for opts. It fails on a malformed endpoint URL, an
// unknown Auth, a missing user, or an unreadable CA.
func New(opts Options) (*Client, error) {
	c := &Client{opts: opts}
	c.once.Do(c.init)
	if c.initErr != nil {
		return nil, c.initErr
	}
	return c, nil
}

func (c *Client) init() {
	o := c.opts
	c.log = o.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.now = o.Now
	if c.now == nil {
		c.now = time.Now
	}
	if o.DialTimeout <= 0 {
		c.opts.DialTimeout = 10 * time.Second
	}
	if o.RequestTimeout <= 0 {
		c.opts.RequestTimeout = 60 * time.Second
	}
	if o.QueryTimeout == 0 {
		c.opts.QueryTimeout = DefaultQueryTimeout
	}
	if o.CancelTimeout <= 0 {
		c.opts.CancelTimeout = 10 * time.Second
	}
	eps := o.Endpoints
	if len(eps) == 0 {
		eps = []string{DefaultEndpoint}
	}
	for _, e := range eps {
		u, err := url.Parse(strings.TrimRight(e, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.initErr = fmt.Errorf("drill: endpoint %q is not an http(s) URL like https://drill.example.org:8047", e)
			return
		}
		u.RawQuery, u.Fragment = "", ""
		c.endpoints = append(c.endpoints, u)
	}
	switch o.Auth {
	case AuthNone:
	case AuthBasic, AuthForm:
		if o.User == "" {
			c.initErr = fmt.Errorf("drill: %s authentication needs a user name", o.Auth)
			return
		}
	default:
		c.initErr = fmt.Errorf("drill: unknown authentication %q (want none, basic or form)", o.Auth)
		return
	}
	tr := o.Transport
	if tr == nil {
		t, err := c.transport()
		if err != nil {
			c.initErr = err
			return
		}
		tr = t
	}
	jar, _ := cookiejar.New(nil) // never fails with nil options
	c.hc = &http.Client{
		Transport: tr,
		Jar:       jar,
		// Drill answers an unauthenticated call with a redirect to its
		// login page: never follow it, map it to AuthError.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	c.loggedIn = make(map[string]bool)
}

func (c *Client) transport() (*http.Transport, error) {
	o := c.opts
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" || len(o.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem := o.CAPEM
		what := "CA PEM"
		if o.CAFile != "" {
			what = "CA file " + o.CAFile
			pem, err = os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("drill: read CA file: %w", err)
			}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("drill: %s holds no PEM certificate", what)
		}
		tlsConf.RootCAs = pool
	}
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         d.DialContext,
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: o.DialTimeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}, nil
}

// ready initializes a zero Client on first use.
func (c *Client) ready() error {
	c.once.Do(c.init)
	return c.initErr
}

// Endpoint returns the base URL of the Drillbit the client uses now: the one
// that answered last.
func (c *Client) Endpoint() string {
	if c.ready() != nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endpoints[c.current].String()
}

// request is one REST call; its body is kept as bytes so it can be re-sent
// to another endpoint or after a new login.
type request struct {
	method      string
	path        string
	body        []byte
	contentType string
	accept      string // default application/json
}

// do sends r to the current endpoint, failing over to the others on
// connection errors and unavailable statuses (502, 503, 504). HTTP 500 is an
// answer (Drill's "submission failed"), not unavailability. The caller
// closes the response body.
func (c *Client) do(ctx context.Context, r request) (*http.Response, *url.URL, error) {
	if err := c.ready(); err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	start := c.current
	c.mu.Unlock()
	var causes endpointErrors
	for i := range c.endpoints {
		idx := (start + i) % len(c.endpoints)
		ep := c.endpoints[idx]
		resp, err := c.doEndpoint(ctx, ep, r)
		if err == nil && unavailable(resp.StatusCode) {
			err = c.statusError(r, ep, resp)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ep, fmt.Errorf("%s %s: %w", r.method, r.path, context.Cause(ctx))
			}
			var ae *AuthError
			if errors.As(err, &ae) {
				return nil, ep, err
			}
			c.log.Warn("drill endpoint failed", "endpoint", ep.String(), "path", r.path, "err", err)
			causes = append(causes, fmt.Errorf("%s: %w", ep, err))
			continue
		}
		c.mu.Lock()
		if c.current != idx {
			c.log.Info("drill endpoint switched", "endpoint", ep.String())
		}
		c.current = idx
		c.mu.Unlock()
		return resp, ep, nil
	}
	return nil, nil, fmt.Errorf("%w: %w", ErrUnavailable, causes)
}

func unavailable(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// doEndpoint sends r to one endpoint, logging in first (FORM) and once more
// when the session has expired.
func (c *Client) doEndpoint(ctx context.Context, ep *url.URL, r request) (*http.Response, error) {
	form := c.opts.Auth == AuthForm
	if form && !c.isLoggedIn(ep) {
		if err := c.login(ctx, ep); err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.roundTrip(ctx, ep, r)
		if err != nil {
			return nil, err
		}
		if !authRefused(resp) {
			return resp, nil
		}
		drain(resp)
		// 403 means logged in but not allowed: a new login would not help.
		if form && attempt == 0 && resp.StatusCode != http.StatusForbidden {
			c.log.Info("drill session expired, logging in again", "endpoint", ep.String())
			c.setLoggedIn(ep, false)
			if err := c.login(ctx, ep); err != nil {
				return nil, err
			}
			continue
		}
		return nil, c.authError(ep, r.path, resp)
	}
}

func (c *Client) roundTrip(ctx context.Context, ep *url.URL, r request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, ep.String()+r.path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if c.opts.Auth == AuthBasic {
		req.SetBasicAuth(c.opts.User, c.opts.Password)
	}
	started := c.now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	c.log.Debug("drill call", "method", r.method, "url", req.URL.Redacted(), "status", resp.StatusCode, "took", c.now().Sub(started))
	return resp, nil
}

// authRefused reports Drill's ways of saying "log in first": a redirect to
// its login page, 401 or 403.
func authRefused(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return isLoginPage(resp.Header.Get("Location"))
	}
	return false
}

func isLoginPage(loc string) bool {
	u, err := url.Parse(loc)
	if err != nil {
		return false
	}
	p := strings.TrimRight(u.Path, "/")
	return p == "/mainLogin" || p == "/login" || strings.HasSuffix(p, "/j_security_check")
}

func (c *Client) authError(ep *url.URL, path string, resp *http.Response) error {
	e := &AuthError{User: c.opts.User, URL: ep.String(), Status: resp.StatusCode}
	switch {
	case c.opts.Auth == AuthNone:
		e.Reason = fmt.Sprintf("Drill at %s requires a login (it answered %s to %s); configure a user and password", ep, resp.Status, path)
	case resp.StatusCode == http.StatusForbidden:
		e.Reason = fmt.Sprintf("Drill at %s does not allow user %q to use %s (HTTP 403); an administrator must grant it", ep, c.opts.User, path)
	default:
		e.Reason = fmt.Sprintf("Drill refused the credentials for user %q at %s", c.opts.User, ep)
	}
	return e
}

func (c *Client) isLoggedIn(ep *url.URL) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loggedIn[ep.String()]
}

func (c *Client) setLoggedIn(ep *url.URL, v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loggedIn[ep.String()] = v
}

// login performs Drill's FORM login: POST /j_security_check. Jetty answers a
// good login with a redirect away from the login page and sets a new
// JSESSIONID cookie (kept by the jar); a refused one with a redirect or
// forward to the login page.
func (c *Client) login(ctx context.Context, ep *url.URL) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if c.isLoggedIn(ep) {
		return nil
	}
	form := url.Values{"j_username": {c.opts.User}, "j_password": {c.opts.Password}}
	r := request{method: http.MethodPost, path: "/j_security_check", body: []byte(form.Encode()), contentType: "application/x-www-form-urlencoded"}
	resp, err := c.roundTrip(ctx, ep, r)
	if err != nil {
		return fmt.Errorf("log in as %q: %w", c.opts.User, err)
	}
	drain(resp)
	ok := resp.StatusCode >= 300 && resp.StatusCode < 400 && !isLoginPage(resp.Header.Get("Location"))
	if unavailable(resp.StatusCode) {
		return &HTTPError{Method: r.method, URL: ep.String() + r.path, Status: resp.StatusCode}
	}
	if !ok {
		return &AuthError{User: c.opts.User, URL: ep.String(), Status: resp.StatusCode,
			Reason: fmt.Sprintf("Drill refused the credentials for user %q at %s", c.opts.User, ep)}
	}
	c.log.Debug("drill login", "endpoint", ep.String(), "user", c.opts.User)
	c.setLoggedIn(ep, true)
	return nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

func (c *Client) statusError(r request, ep *url.URL, resp *http.Response) *HTTPError {
	defer drain(resp)
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &HTTPError{Method: r.method, URL: ep.String() + r.path, Status: resp.StatusCode,
		Body: string(b), Location: resp.Header.Get("Location")}
}

// send is the one helper every call goes through: it sends body (JSON
// encoded unless it is nil), checks the status against wantStatus and
// returns the reply body.
func (c *Client) send(ctx context.Context, method, path string, wantStatus int, body any) ([]byte, error) {
	return c.sendAccept(ctx, method, path, "", wantStatus, body)
}

// sendAccept is send with an Accept header other than application/json
// (Drill answers 406 when the resource produces something else).
func (c *Client) sendAccept(ctx context.Context, method, path, accept string, wantStatus int, body any) ([]byte, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	r := request{method: method, path: path, accept: accept}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s body: %w", path, err)
		}
		r.body, r.contentType = b, "application/json"
	}
	resp, ep, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode != wantStatus {
		return nil, c.statusError(r, ep, resp)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// get fetches path and decodes its JSON reply into a T.
func get[T any](ctx context.Context, c *Client, path string) (T, error) {
	var v T
	b, err := c.send(ctx, http.MethodGet, path, http.StatusOK, nil)
	if err != nil {
		return v, err
	}
	if err := decodeJSON(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", path, err)
	}
	return v, nil
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}
