// Package bridge serves the Wails-bound Go methods to a browser over a
// loopback HTTP server, so that `fieldsync serve` (and the browser tests)
// can run the same UI that the desktop window runs, with the same calls and
// events.
//
// A [Server] finds the methods to serve by reflection over the structs in
// [Options.Bound], the way Wails' Bind does, and serves the built UI from
// [Options.Assets]. It also implements [Server.Emit], so it can be handed to
// the app or the agent as their event sink.
//
// # HTTP contract
//
//	GET  /api/health             no key; {"ok":true}
//	GET  /api/session            key; {"ok":true,"csrfCookie":NAME,"csrfHeader":"X-CSRF-Token"}
//	POST /api/call/{Struct}.{Method}
//	                             key + CSRF; body: JSON array of arguments
//	                             200 {"result":...} | 4xx/5xx {"error":"text for people"}
//	GET  /api/events             key; text/event-stream (server-sent events)
//	GET  /... (anything else)    the UI; unknown paths without a file
//	                             extension get index.html (SPA fallback)
//
// Calls: arguments are decoded with encoding/json into the parameter types,
// in order; a first context.Context parameter receives the request context
// and is not counted. Methods may return nothing, T, error or (T, error).
// Status codes: 400 bad arguments (the message names the argument), 401 no
// credentials, 403 wrong credentials, bad Host, Origin or CSRF token, 404
// unknown method, 405 wrong HTTP method, 413 body over [Options.MaxBodyBytes],
// 415 body not application/json, 500 the method returned an error (its text
// is the message; [Options.ErrorStatus] may pick another status) or panicked.
//
// Events: every event is one SSE message whose "event" field is the event
// name and whose "data" field is a JSON array of the arguments, as Wails'
// EventsOn hands them to a listener ([Server.Emit] sends one). Ids look like
// "BOOT-SEQ": SEQ increases by one per event, BOOT changes each time a
// Server is made. A client that reconnects with Last-Event-ID (or
// ?lastEventId=, for clients that must open a new EventSource) first gets
// the events it missed from a ring of the last [Options.EventBuffer] events,
// or a single "reset" event when they are no longer all there (or the id is
// from another run), so that the UI knows to resync. Comment lines are sent
// every [Options.Heartbeat]. A client whose buffer of
// [Options.ClientBuffer] events fills up is dropped; Emit never waits.
//
// # Guards
//
// The server is protected like a local admin UI (syncthing's GUI is the
// model); docs/SECURITY.md, section "Loopback UI bridge", states the threat
// model.
//
//   - It listens on 127.0.0.1 unless [Options.AllowRemote] is set, which is
//     dangerous: it lets the network reach the API guarded only by the key.
//   - Every /api request except /api/health needs the API key: in the
//     X-API-Key header, or as ?key= when loading a page or opening
//     /api/events (which cannot set headers). A valid ?key= sets an HttpOnly,
//     SameSite=Strict session cookie, "fieldsync-session-PORT", and a page
//     load with ?key= is redirected to the same address without it.
//     Missing credentials get 401, wrong ones 403.
//   - The Host header must be 127.0.0.1:PORT, localhost:PORT, [::1]:PORT or
//     one of [Options.AllowedHosts] (DNS rebinding). An Origin header on an
//     /api request must name an allowed host too, and Sec-Fetch-Site, when
//     sent, must be same-origin or none.
//   - Every POST must echo the CSRF token from the "fieldsync-csrf-PORT"
//     cookie (SameSite=Strict, readable by the page's script) in the
//     X-CSRF-Token header. The cookie is set on every authenticated request
//     that does not already carry it.
//   - Secrets are compared in constant time. Every response carries a
//     Content-Security-Policy without inline script, nosniff,
//     Referrer-Policy: no-referrer and X-Frame-Options: DENY; /api responses
//     are not stored (Cache-Control: no-store).
//
// A response refused by a guard carries X-Bridge-Refused (host, origin,
// auth or csrf): no method ran, so the client may retry once it has fixed
// the cause (e.g. fetched a fresh CSRF cookie from /api/session).
//
// The cookie names carry the port because browsers share cookies between
// all ports of a host: two fieldsync serve processes on one machine (two
// devices in the browser tests) would otherwise overwrite each other's
// session.
package bridge
