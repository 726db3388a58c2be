package drill

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnavailable is wrapped by the error of a call that reached no Drillbit:
// every endpoint failed with a connection error or an unavailable status.
// The error also wraps each endpoint's cause.
var ErrUnavailable = errors.New("every Drillbit is unreachable")

// ErrQueryTimeout is wrapped by the error of a query that ran past the
// client's QueryTimeout and was cancelled in Drill. The error wraps
// context.DeadlineExceeded too.
var ErrQueryTimeout = errors.New("the query ran past its time limit and was cancelled in Drill")

// ErrNotFound is wrapped by HTTPError for a 404 answer, e.g. an unknown
// storage plugin.
var ErrNotFound = errors.New("not found")

// HTTPError is an unexpected HTTP status from a Drillbit.
type HTTPError struct {
	Method   string
	URL      string
	Status   int
	Body     string // the reply body, cut to maxErrorBody bytes
	Location string // the Location header of a redirect
}

// Error implements error.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Location != "" {
		msg += " to " + e.Location
	}
	if b := strings.TrimSpace(e.Body); b != "" {
		msg += ": " + b
	}
	return msg
}

// Is reports ErrNotFound for a 404.
func (e *HTTPError) Is(target error) bool { return target == ErrNotFound && e.Status == 404 }

// QueryError is a query Drill refused or could not run, with Drill's message.
type QueryError struct {
	SQL     string // the query, cut to maxErrorSQL characters
	QueryID string // Drill's query id when known
	State   string // Drill's queryState, e.g. FAILED or CANCELED
	Message string // Drill's errorMessage (verbose errors asked for)
	Status  int    // the HTTP status: 200 for a failed run, 500 for a refused submission
}

// Error implements error.
func (e *QueryError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "query ended in state " + e.State + " without a message"
	}
	return fmt.Sprintf("drill: query %q: %s", e.SQL, msg)
}

// AuthError is a call Drill did not let through: no credentials, a session
// that expired and could not be renewed, or refused credentials.
type AuthError struct {
	User   string
	URL    string
	Status int    // HTTP status Drill answered with (307, 401 or 403)
	Reason string // for people
}

// Error implements error. The text is Reason, written for people; callers
// see it behind an operation prefix such as "drill: query ...: ".
func (e *AuthError) Error() string { return e.Reason }

// IsAuthError reports whether err is or wraps an *AuthError.
func IsAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// endpointErrors joins the per-endpoint causes on one line.
type endpointErrors []error

func (e endpointErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e endpointErrors) Unwrap() []error { return e }

const (
	maxErrorBody = 2048
	maxErrorSQL  = 300
)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes)", len(s))
}
