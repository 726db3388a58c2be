package bridge

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// statusError is an error with the HTTP status and the text for people that
// a request gets.
type statusError struct {
	Status  int
	Message string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// errorf makes a statusError.
func errorf(status int, format string, args ...any) *statusError {
	return &statusError{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Values of the HeaderRefused response header.
const (
	refusedHost   = "host"
	refusedOrigin = "origin"
	refusedAuth   = "auth"
	refusedCSRF   = "csrf"
)

// allowedHost is one entry of Options.AllowedHosts: a host name with or
// without a port, lowercased.
type allowedHost struct {
	host string
	port string // empty: the listening port
}

// parseAllowedHost checks one AllowedHosts entry.
func parseAllowedHost(s string) (allowedHost, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	bad := func(why string) (allowedHost, error) {
		return allowedHost{}, fmt.Errorf("bridge: allowed host %q: %s; write a name or name:port, like box.lan or box.lan:8384", s, why)
	}
	if v == "" {
		return bad("it is empty")
	}
	if strings.ContainsAny(v, "/@?#*") {
		return bad("it is not a plain host name")
	}
	if h, p, err := net.SplitHostPort(v); err == nil {
		if h == "" {
			return bad("the host name is empty")
		}
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return bad("the port is not a number")
		}
		return allowedHost{host: h, port: p}, nil
	}
	v = strings.TrimSuffix(strings.TrimPrefix(v, "["), "]")
	if strings.Contains(v, ":") && net.ParseIP(v) == nil {
		return bad("it is neither a name nor an address")
	}
	return allowedHost{host: v}, nil
}

// localPort returns the port the request arrived on, or "" when unknown.
func localPort(r *http.Request) string {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return ""
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	return port
}

// hostAllowed reports whether hostport (a Host header or an Origin's host)
// names this server: a loopback name with the listening port, or an allowed
// host. An unknown listening port allows nothing.
func (s *Server) hostAllowed(hostport, port string) bool {
	if port == "" || hostport == "" {
		return false
	}
	hostport = strings.ToLower(hostport)
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		// No port: the browser left out the scheme's default.
		host, p = strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), "80"
	}
	if p != port {
		for _, a := range s.allowedHosts {
			if a.port != "" && a.host == host && a.port == p {
				return true
			}
		}
		return false
	}
	switch host {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	for _, a := range s.allowedHosts {
		if a.host == host && (a.port == "" || a.port == p) {
			return true
		}
	}
	return false
}

// secure sets the security headers on every response and refuses requests
// whose Host header does not name this server (DNS rebinding).
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		isAPI := r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")
		if isAPI {
			h.Set("Cache-Control", "no-store")
		}
		port := localPort(r)
		if !s.hostAllowed(r.Host, port) {
			s.refused.warn("bridge refused a request for another host", "host", clip(r.Host), "path", clip(r.URL.Path), "remote", r.RemoteAddr)
			err := errorf(http.StatusForbidden, "refused a request for host %q: open http://127.0.0.1:%s/ instead (protection against DNS rebinding)", r.Host, port)
			h.Set(HeaderRefused, refusedHost)
			if isAPI {
				writeError(w, err)
			} else {
				writeText(w, err)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireAuth lets a request through when it carries the API key (header,
// or ?key= when queryKey is set) or the session cookie, and comes from this
// server's own pages.
func (s *Server) requireAuth(next http.Handler, queryKey bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkSameOrigin(r); err != nil {
			s.refused.warn("bridge refused a cross-origin request", "reason", clip(err.Message), "path", clip(r.URL.Path), "remote", r.RemoteAddr)
			w.Header().Set(HeaderRefused, refusedOrigin)
			writeError(w, err)
			return
		}
		if err := s.authenticate(w, r, queryKey); err != nil {
			s.refused.warn("bridge refused an unauthenticated request", "reason", clip(err.Message), "path", clip(r.URL.Path), "remote", r.RemoteAddr)
			w.Header().Set(HeaderRefused, refusedAuth)
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkSameOrigin refuses /api requests that a browser marks as coming from
// another origin, including other ports of the same host.
func (s *Server) checkSameOrigin(r *http.Request) *statusError {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return errorf(http.StatusForbidden, "refused a %s request: the API answers only its own pages", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || !s.hostAllowed(u.Host, localPort(r)) {
		return errorf(http.StatusForbidden, "refused a request from origin %q: the API answers only its own pages", origin)
	}
	return nil
}

// authenticate checks the request's credentials and, when they are good,
// makes sure the client holds the CSRF cookie.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, queryKey bool) *statusError {
	if key := r.Header.Get(HeaderAPIKey); key != "" {
		if !equal(key, s.apiKey) {
			return errorf(http.StatusForbidden, "the API key in the %s header is wrong", HeaderAPIKey)
		}
		s.ensureCSRFCookie(w, r)
		return nil
	}
	if q := r.URL.Query(); q.Has("key") {
		if !queryKey {
			return errorf(http.StatusUnauthorized, "send the API key in the %s header: ?key= is accepted only when loading the page and for /api/events", HeaderAPIKey)
		}
		if !equal(q.Get("key"), s.apiKey) {
			return errorf(http.StatusForbidden, "the key in the address is wrong: open the address that fieldsync serve printed")
		}
		s.setSessionCookies(w, r)
		return nil
	}
	if c, err := r.Cookie(cookieName(CookieSession, r)); err == nil {
		if !equal(c.Value, s.sessionToken) {
			return errorf(http.StatusForbidden, "the session has expired (fieldsync serve was restarted): open the address that it printed again")
		}
		s.ensureCSRFCookie(w, r)
		return nil
	}
	return errorf(http.StatusUnauthorized, "no API key: open the address that fieldsync serve printed (it includes the key), or send the %s header", HeaderAPIKey)
}

// sessionValid reports whether the request carries this server's session
// cookie.
func (s *Server) sessionValid(r *http.Request) bool {
	c, err := r.Cookie(cookieName(CookieSession, r))
	return err == nil && equal(c.Value, s.sessionToken)
}

// requireCSRF refuses state-changing requests that do not echo the CSRF
// token in the X-CSRF-Token header.
func (s *Server) requireCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		tok := r.Header.Get(HeaderCSRF)
		var err *statusError
		switch {
		case tok == "":
			err = errorf(http.StatusForbidden, "missing %s header: send the value of the %s cookie (reload the page if it is missing)", HeaderCSRF, cookieName(CookieCSRF, r))
		case !equal(tok, s.csrfToken):
			err = errorf(http.StatusForbidden, "the %s header is wrong: reload the page to get a fresh token", HeaderCSRF)
		}
		if err != nil {
			s.refused.warn("bridge refused a request without a valid CSRF token", "reason", clip(err.Message), "path", clip(r.URL.Path), "remote", r.RemoteAddr)
			w.Header().Set(HeaderRefused, refusedCSRF)
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cookieName is prefix plus the listening port: browsers share cookies
// between the ports of a host.
func cookieName(prefix string, r *http.Request) string {
	if p := localPort(r); p != "" {
		return prefix + "-" + p
	}
	return prefix
}

// setSessionCookies gives the browser the session and the CSRF cookies.
func (s *Server) setSessionCookies(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(CookieSession, r),
		Value:    s.sessionToken,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	s.ensureCSRFCookie(w, r)
}

// ensureCSRFCookie sets the CSRF cookie unless the request already carries
// the right one. Script on the page reads it, so it is not HttpOnly.
func (s *Server) ensureCSRFCookie(w http.ResponseWriter, r *http.Request) {
	name := cookieName(CookieCSRF, r)
	if c, err := r.Cookie(name); err == nil && equal(c.Value, s.csrfToken) {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    s.csrfToken,
		Path:     "/",
		SameSite: http.SameSiteStrictMode,
	})
}

// equal compares two secrets in constant time, length included.
func equal(got, want string) bool {
	g := sha256.Sum256([]byte(got))
	h := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], h[:]) == 1
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"the result could not be encoded as JSON"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError writes {"error": message} with the error's status.
func writeError(w http.ResponseWriter, err *statusError) {
	writeJSON(w, err.Status, map[string]string{"error": err.Message})
}

// writeText writes the error as plain text, for pages.
func writeText(w http.ResponseWriter, err *statusError) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(err.Status)
	_, _ = fmt.Fprintf(w, "fieldsync: %s\n", err.Message)
}
