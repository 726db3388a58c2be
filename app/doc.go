// Package app holds fieldsync's Wails bindings: the thin [App] whose exported
// methods the webview calls, the [Runtime] seam in front of Wails' runtime
// package, and [RunDesktop], which opens the desktop window.
//
// Bindings validate their input and delegate; sync logic lives in agent and
// store, which never import Wails. Every call into Wails' runtime goes through
// [Runtime] because the Wails functions call log.Fatalf when handed a context
// that did not come from Wails; tests use a fake instead.
//
// In the webview the bindings are reachable as window.go.app.App.<Method>;
// only frontend/src/lib/transport.ts calls them.
//
// Start-up self-check: the frontend probes IndexedDB and round-trips [App.Ping],
// then calls [App.ReportSelfCheck]. The result is logged (INFO when healthy,
// ERROR otherwise) and, when configured, written as JSON to a file so that
// scripts/desktop-smoke.sh and support tools can read it.
package app
