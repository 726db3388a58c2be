// Package app is the transport between the page and the application
// service (package service). It holds [UI], the object whose exported
// methods the page calls: each checks what the page sent, calls the service
// with a context bounded by a timeout, and words errors for people. Two
// thin adapters carry those calls: the desktop window ([RunDesktop], Wails
// bindings, window.go.app.UI.<Method>) and the loopback browser bridge
// (package app/bridge, POST /api/call/UI.<Method>, used by `fieldsync
// serve`). Only frontend/src/lib/transport.ts calls them.
//
// [App] holds the window's own calls (Version, Ping, the start-up
// self-check) and the [Window] seam in front of Wails' runtime package:
// every call into Wails' runtime goes through it because the Wails
// functions call log.Fatalf when handed a context that did not come from
// Wails; tests use a fake instead.
//
// The UI contract (calls and types) is defined once, by UI's methods and the
// service's types: frontend/src/lib/contract.gen.ts is generated from them
// (`make contract`), a test fails when it is stale, and the frontend's own
// types are checked against it at compile time.
//
// Start-up self-check: the frontend probes IndexedDB and round-trips [App.Ping],
// then calls [App.ReportSelfCheck]. The result is logged (INFO when healthy,
// ERROR otherwise) and, when configured, written as JSON to a file so that
// scripts/desktop-smoke.sh and support tools can read it.
package app
