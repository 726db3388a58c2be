// Package service is fieldsync's application service: the one place that
// answers the people who use fieldsync, whichever way they reach it. It
// opens and closes the parts (the bbolt store, the collection declarations,
// the Drill client and the sync agent), captures local edits into the
// journal, reads records and their history, lists and resolves conflicts,
// reads and saves the settings, and probes Drill for the Settings screen and
// `fieldsync doctor` alike.
//
// It knows neither Wails nor the command line. Two thin transports sit above
// it, both through app.UI: the desktop window (package app) and the loopback
// browser bridge (package app/bridge). internal/cli parses flags, builds a
// Service and runs one command over it.
//
//	frontend ─▶ app.UI (window | bridge) ─▶ service ─▶ agent ─▶ agent/drill
//	                                           │          └──▶ store
//	                                           └─ capture ───▶ store
//
// The types of the UI contract (Info, RecordPage, SettingsView, ...) are
// declared in contract.go; frontend/src/lib/contract.gen.ts is generated
// from them (see app.WriteContractTS) and the frontend's own types are
// checked against it at compile time.
package service
