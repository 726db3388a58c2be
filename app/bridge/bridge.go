package bridge

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults used when the matching Options field is zero.
const (
	// DefaultAddr is the address listened on when Options.Addr is empty: a
	// free port on the IPv4 loopback interface.
	DefaultAddr = "127.0.0.1:0"
	// DefaultMaxBodyBytes is the largest call body accepted (32 MiB).
	DefaultMaxBodyBytes = 32 << 20
	// DefaultEventBuffer is how many recent events are kept for clients that
	// reconnect.
	DefaultEventBuffer = 1000
	// DefaultClientBuffer is how many events may wait for one slow client
	// before it is dropped.
	DefaultClientBuffer = 256
	// DefaultHeartbeat is the interval between SSE comment lines that keep
	// idle connections open.
	DefaultHeartbeat = 15 * time.Second
	// DefaultContentSecurityPolicy allows only the server's own origin and
	// no inline script. Inline styles are allowed because Svelte's
	// transitions insert style elements.
	DefaultContentSecurityPolicy = "default-src 'self'; script-src 'self'; " +
		"style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; " +
		"connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; " +
		"form-action 'self'; frame-ancestors 'none'"
	// MaxEventClients is how many event streams may be open at once.
	MaxEventClients = 64
	// MinAPIKeyLen is the shortest API key New accepts, in bytes.
	MinAPIKeyLen = 16
	// LargeBodyBytes is the size from which a call body counts as large:
	// at most Options.LargeBodies of those are read at once.
	LargeBodyBytes = 1 << 20
	// DefaultLargeBodies is how many large call bodies are read at once
	// when Options.LargeBodies is zero.
	DefaultLargeBodies = 2
)

// Header and cookie names of the HTTP contract.
const (
	// HeaderAPIKey carries the API key on /api requests.
	HeaderAPIKey = "X-API-Key"
	// HeaderCSRF carries the CSRF token on state-changing requests.
	HeaderCSRF = "X-CSRF-Token"
	// HeaderRefused is set on responses refused by a guard, before any
	// method ran: "host", "origin", "auth" or "csrf". A client may safely
	// retry such a call once it has fixed the cause.
	HeaderRefused = "X-Bridge-Refused"
	// CookieSession is the prefix of the session cookie's name; the listening
	// port is appended ("fieldsync-session-8384").
	CookieSession = "fieldsync-session"
	// CookieCSRF is the prefix of the CSRF cookie's name; the listening port
	// is appended ("fieldsync-csrf-8384").
	CookieCSRF = "fieldsync-csrf"
	// EventReset is the event sent to a reconnecting client that missed more
	// events than the server kept; the UI must resync. Emit refuses it.
	EventReset = "reset"
)

// Sentinel errors returned by New, Start and Stop.
var (
	// ErrNotLoopback is returned for an address that is not on a loopback
	// interface while Options.AllowRemote is false.
	ErrNotLoopback = errors.New("address is not a loopback address")
	// ErrStarted is returned by Start on a Server that is already running.
	ErrStarted = errors.New("bridge: already started")
	// ErrStopped is returned by Start on a Server that was stopped.
	ErrStopped = errors.New("bridge: stopped")
)

// Options configures a Server. Zero values mean the defaults.
type Options struct {
	// Bound lists the structs (usually pointers to them) whose exported
	// methods are served, like Wails' Bind. A method M of a struct named S
	// is called at POST /api/call/S.M.
	Bound []any
	// Assets is the built UI, served at /. Nil serves a 404 page that says
	// the UI is not built.
	Assets fs.FS
	// Addr is the TCP address to listen on; empty means DefaultAddr.
	Addr string
	// AllowRemote permits an Addr that is not a loopback address.
	// DANGEROUS: anyone who can reach the port may try the API key, and
	// traffic is plain HTTP. Add the names people use to AllowedHosts.
	AllowRemote bool
	// APIKey is the key every /api request must present; empty means 32
	// random bytes, base64url-encoded. A given key must be at least
	// MinAPIKeyLen bytes.
	APIKey string
	// SessionToken and CSRFToken are the values of the session and CSRF
	// cookies; empty means random ones. A caller that keeps them (and
	// APIKey and Addr) across restarts lets a page left open carry on
	// after a restart. Each must be at least MinAPIKeyLen bytes.
	SessionToken string
	CSRFToken    string
	// AllowedHosts are extra values accepted in the Host header besides
	// 127.0.0.1, localhost and [::1] with the listening port. An entry with
	// a port ("box.lan:8384") must match exactly; one without ("box.lan")
	// matches with the listening port.
	AllowedHosts []string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes limits a call's body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// EventBuffer is how many recent events are kept for catch-up; zero
	// means DefaultEventBuffer.
	EventBuffer int
	// ClientBuffer is how many events may wait for one client before it is
	// dropped; zero means DefaultClientBuffer.
	ClientBuffer int
	// Heartbeat is the interval of SSE keep-alive comments; zero means
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// ErrorStatus, when set, picks the HTTP status for an error returned by a
	// served method (e.g. 400 for errors wrapping app.ErrInvalidInput).
	// Results outside 400..599 mean 500.
	ErrorStatus func(err error) int
	// ContentSecurityPolicy replaces DefaultContentSecurityPolicy when set.
	ContentSecurityPolicy string
	// RefusedLogPerMinute bounds the log lines about refused requests;
	// zero means DefaultRefusedLogPerMinute. The rest are counted in one
	// "suppressed" line.
	RefusedLogPerMinute int
	// LargeBodies bounds how many call bodies over LargeBodyBytes are read
	// at once (the others wait for a place, or their request's end); zero
	// means DefaultLargeBodies. Each is held in memory while it is decoded.
	LargeBodies int
}

// Server serves the bound methods, the events and the UI on a loopback
// address. Make one with New; it is safe for concurrent use.
type Server struct {
	log          *slog.Logger
	addr         string
	allowRemote  bool
	apiKey       string
	sessionToken string
	csrfToken    string
	allowedHosts []allowedHost
	methods      map[string]*method
	assets       fs.FS
	maxBody      int64
	heartbeat    time.Duration
	errorStatus  func(error) int
	csp          string
	events       *hub
	handler      http.Handler
	refused      *refusalLog
	large        chan struct{} // one token per large body being read
	done         chan struct{} // closed by Stop: ends event streams

	mu      sync.Mutex
	srv     *http.Server
	url     string
	stopped bool
	wg      sync.WaitGroup
}

// New checks opts, finds the methods to serve and returns a Server that is
// not yet listening.
func New(opts Options) (*Server, error) {
	s := &Server{
		log:         opts.Logger,
		addr:        opts.Addr,
		allowRemote: opts.AllowRemote,
		apiKey:      opts.APIKey,
		assets:      opts.Assets,
		maxBody:     opts.MaxBodyBytes,
		heartbeat:   opts.Heartbeat,
		errorStatus: opts.ErrorStatus,
		csp:         opts.ContentSecurityPolicy,
		done:        make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.refused = newRefusalLog(s.log, opts.RefusedLogPerMinute, nil)
	if opts.LargeBodies <= 0 {
		opts.LargeBodies = DefaultLargeBodies
	}
	s.large = make(chan struct{}, opts.LargeBodies)
	if s.addr == "" {
		s.addr = DefaultAddr
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.heartbeat <= 0 {
		s.heartbeat = DefaultHeartbeat
	}
	if s.csp == "" {
		s.csp = DefaultContentSecurityPolicy
	}
	if err := checkAddr(s.addr, s.allowRemote); err != nil {
		return nil, err
	}
	if s.allowRemote {
		s.log.Warn("bridge may listen on a non-loopback address; the API key is the only guard", "addr", s.addr)
	}
	for _, sec := range []struct {
		what string
		dst  *string
		v    string
	}{
		{"the API key", &s.apiKey, opts.APIKey},
		{"the session token", &s.sessionToken, opts.SessionToken},
		{"the CSRF token", &s.csrfToken, opts.CSRFToken},
	} {
		switch {
		case sec.v == "":
			*sec.dst = NewToken()
		case len(sec.v) < MinAPIKeyLen:
			return nil, fmt.Errorf("bridge: %s is %d bytes; use at least %d, or leave it empty to generate one", sec.what, len(sec.v), MinAPIKeyLen)
		default:
			*sec.dst = sec.v
		}
	}
	for _, h := range opts.AllowedHosts {
		ah, err := parseAllowedHost(h)
		if err != nil {
			return nil, err
		}
		s.allowedHosts = append(s.allowedHosts, ah)
	}
	methods, err := register(opts.Bound)
	if err != nil {
		return nil, err
	}
	s.methods = methods
	s.events = newHub(opts.EventBuffer, opts.ClientBuffer, s.log)
	s.handler = s.routes()
	return s, nil
}

// routes is the whole HTTP surface in one block.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.handleHealth)
	mux.Handle("GET /api/session", s.requireAuth(http.HandlerFunc(s.handleSession), false))
	mux.Handle("GET /api/events", s.requireAuth(http.HandlerFunc(s.handleEvents), true))
	mux.Handle("/api/call/{name}", s.requireAuth(s.requireCSRF(http.HandlerFunc(s.handleCall)), false))
	mux.Handle("/api/", s.requireAuth(http.HandlerFunc(s.handleAPINotFound), false))
	mux.Handle("/api", s.requireAuth(http.HandlerFunc(s.handleAPINotFound), false))
	mux.HandleFunc("/", s.handleUI)
	return s.secure(mux)
}

// Handler returns the server's HTTP handler with all guards, for tests
// (httptest.NewServer) and for embedding; Start serves the same handler.
func (s *Server) Handler() http.Handler {
	return s.handler
}

// Start listens on the configured address and serves in a goroutine until
// Stop. ctx bounds only the start-up.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return ErrStopped
	}
	if s.srv != nil {
		return ErrStarted
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("bridge: listen on %s: %w", s.addr, err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok || (!s.allowRemote && !tcp.IP.IsLoopback()) {
		_ = ln.Close()
		return fmt.Errorf("bridge: listen on %s: got %s: %w", s.addr, ln.Addr(), ErrNotLoopback)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.url = openURL(tcp, s.apiKey)
	srv := s.srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("bridge stopped serving", "err", err)
		}
	}()
	s.log.Info("bridge listening", "addr", tcp.String())
	return nil
}

// Stop closes the event streams, then shuts the server down gracefully,
// letting calls in flight finish until ctx is done, when the remaining
// connections are closed. A stopped Server cannot be started again.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
	srv := s.srv
	s.mu.Unlock()
	defer s.refused.flush()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
		err = fmt.Errorf("bridge: stop: %w", err)
	}
	s.wg.Wait()
	s.log.Info("bridge stopped")
	return err
}

// URL returns the address to open in a browser, key included
// ("http://127.0.0.1:PORT/?key=..."), or "" before Start. Treat it as a
// secret: it grants full access to the API.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// APIKey returns the key every /api request must present.
func (s *Server) APIKey() string {
	return s.apiKey
}

// CSRFToken returns the token that POST requests must carry in the
// X-CSRF-Token header, for Go clients in the same process (tests); browsers
// read it from the fieldsync-csrf-PORT cookie.
func (s *Server) CSRFToken() string {
	return s.csrfToken
}

// Emit sends an event named name with one payload to every connected client
// and keeps it for clients that reconnect. It never blocks on a client. The
// payload must encode as JSON; an event that does not is logged and dropped,
// as is one with an empty name, a name with a line break, or EventReset.
func (s *Server) Emit(name string, payload any) {
	s.events.emit(name, []any{payload})
}

// EventsEmit is Emit with Wails' signature (runtime.EventsEmit): the
// listener receives data as separate arguments, as in the desktop window.
func (s *Server) EventsEmit(name string, data ...any) {
	if data == nil {
		data = []any{}
	}
	s.events.emit(name, data)
}

// checkAddr refuses an address that is not on a loopback interface unless
// allowRemote is set.
func checkAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bridge: address %q: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bridge: address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if allowRemote {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("bridge: address %q: %w (use 127.0.0.1, or set AllowRemote knowing the risk)", addr, ErrNotLoopback)
}

// openURL is the address printed for people: the loopback address of the
// listener, key included.
func openURL(tcp *net.TCPAddr, key string) string {
	host := "127.0.0.1"
	if tcp.IP.IsLoopback() && tcp.IP.To4() == nil {
		host = "::1"
	}
	u := url.URL{
		Scheme:   "http",
		Host:     net.JoinHostPort(host, strconv.Itoa(tcp.Port)),
		Path:     "/",
		RawQuery: url.Values{"key": {key}}.Encode(),
	}
	return u.String()
}

// NewToken returns a new random secret fit for Options.APIKey,
// SessionToken or CSRFToken: 32 random bytes, base64url-encoded.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails on supported platforms (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
