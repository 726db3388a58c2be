package bridge

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// handleHealth serves GET /api/health; it needs no key and tells nothing
// but that the server answers.
func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// handleSession serves GET /api/session: the UI's check that it is
// authenticated, which also (re)sets the CSRF cookie and names it.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"ok":         true,
		"csrfCookie": cookieName(CookieCSRF, r),
		"csrfHeader": HeaderCSRF,
	})
}

// handleAPINotFound answers /api paths that do not exist.
func (s *Server) handleAPINotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, errorf(http.StatusNotFound, "there is no API at %s", r.URL.Path))
}

// handleUI serves the built UI: a page load with ?key= is exchanged for the
// session cookie, files are served from Assets, and unknown paths without a
// file extension get index.html so the UI's router can handle them.
func (s *Server) handleUI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeText(w, errorf(http.StatusMethodNotAllowed, "%s is not allowed here", r.Method))
		return
	}
	clean := path.Clean("/" + r.URL.Path)
	if q := r.URL.Query(); q.Has("key") {
		if !equal(q.Get("key"), s.apiKey) {
			s.refused.warn("bridge refused a page load with a wrong key", "path", clip(r.URL.Path), "remote", r.RemoteAddr)
			w.Header().Set(HeaderRefused, refusedAuth)
			writeText(w, errorf(http.StatusForbidden, "the key in the address is wrong: open the address that fieldsync serve printed"))
			return
		}
		s.setSessionCookies(w, r)
		q.Del("key")
		w.Header().Set("Cache-Control", "no-store")
		target := (&url.URL{Path: clean, RawQuery: q.Encode()}).String()
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	if s.sessionValid(r) {
		s.ensureCSRFCookie(w, r)
	}
	if s.assets == nil {
		writeText(w, errorf(http.StatusNotFound, "the web UI is not built into this binary (frontend/dist was empty)"))
		return
	}
	name := strings.TrimPrefix(clean, "/")
	if name == "" {
		name = "index.html"
	}
	if s.serveFile(w, r, name) {
		return
	}
	if strings.Contains(path.Base(name), ".") {
		writeText(w, errorf(http.StatusNotFound, "there is no file %s", clean))
		return
	}
	if !s.serveFile(w, r, "index.html") {
		writeText(w, errorf(http.StatusNotFound, "the web UI is not built into this binary (index.html is missing)"))
	}
}

// serveFile serves one regular file from Assets; it reports false when
// there is no such file.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) bool {
	if !fs.ValidPath(name) {
		return false
	}
	f, err := s.assets.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return false
	}
	if name == "index.html" {
		w.Header().Set("Cache-Control", "no-cache")
	}
	content, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			s.log.Error("bridge could not read a UI file", "file", name, "err", err)
			writeText(w, errorf(http.StatusInternalServerError, "could not read %s", name))
			return true
		}
		content = bytes.NewReader(b)
	}
	http.ServeContent(w, r, name, info.ModTime(), content)
	return true
}
