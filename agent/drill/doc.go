// Package drill is a client for the REST API of Apache Drill (tested against
// 1.22.0) and the one SQL literal encoder of fieldsync. It knows nothing of
// sync: it runs SQL, reads cluster and storage-plugin state, and turns Go
// values into SQL literals that Drill reads back byte for byte.
//
// A Client is configured once by Options (endpoints, authentication, TLS,
// timeouts, logger) and is safe for concurrent use. Errors are typed:
// *QueryError carries Drill's own message for a failed query, *AuthError a
// refused or missing login, *HTTPError any other unexpected status, and
// ErrUnavailable wraps the reason every endpoint failed.
//
// Drill has no bind parameters, so every value that reaches SQL must go
// through String, Int64, Float64, Bool, Null, TimestampMS, Ident and
// TablePath, or through JSONRows / SelectJSON for whole batches. See
// literal.go for what each form does with quotes, backslashes, control
// characters and non-ASCII text, and why.
package drill
