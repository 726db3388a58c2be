// Package agent is the sync engine of fieldsync: it pushes the local journal
// to Drill as batches, pulls other devices' batches back into the record
// mirror, settles conflicts by each collection's policy and per-field merge
// rules (rules.go), pulls reference collections from Drill queries
// (reference.go), keeps analyst views beside the change log, and runs all of
// it on a schedule with status and progress for the UI.
//
// The schedule syncs on its cron spec (shifted per device), after failures
// with an exponential backoff, a while after local saves (Saved, debounced)
// and, while Drill cannot be reached, soon after a probe (Prober) finds it
// answering again. A triggered sync waits a random delay drawn from a
// source seeded by the device id, so a fleet that sees the same moment
// spreads its syncs; at most one sync runs at a time.
//
// The agent declares what it needs of the local store (Store) and of Drill
// (Drill) as small interfaces; *store.Store and an adapter over the
// agent/drill client implement them, and tests use in-memory fakes. The agent
// never imports Wails: events go to an injected Events sink.
//
// Layout in Drill, under one dfs workspace (e.g. dfs.fieldsync):
//
//	<collection>/changes/<hour>/<batch>  one CTAS table per pushed batch (layout.go)
//	<collection>/changes/<from>_<to>_c<gen>-<writer>
//	                                     closed hours compacted (compact.go)
//	<collection>/snapshot/<hour>_<ms>    leaves of every record before the hour
//	                                     (snapshot.go; RefreshSnapshot)
//	<collection>_current  (view)         current state per record, deletes removed
//	<collection>_conflicts (view)        leaves of records in conflict
//	<collection>_history (view)          every version once, with who, when, where
//	<collection>_resolutions (view)      every resolution once: who, how, when, where
//	<collection>/inbox/<name>            rows analysts write to change records
//	<collection>/inbox_log, ingested     the ingester's ledger (ingest.go)
//	<collection>_inbox_rejected (view)   inbox rows that could not apply
//	fieldsync_heartbeats/<hour>/<device>_<ms>
//	                                     one row per device sync (fleet.go)
//	fieldsync_devices (view)             the latest heartbeat of each device
//
// The views and a new device's first pull read the newest snapshot
// generation plus the changes from its hour on, never all history.
//
// A resolution's audit entry (store.Resolution) rides in its change's row,
// column fieldsync_resolution, so it is pushed exactly once with the change
// and pulled with it by every device (see auditviews.go).
//
// The Ingester (ingest.go) is the server side, run by `fieldsync ingest`:
// it turns inbox rows into changes of the device ServerDevice, exactly
// once without locks, reusing the push's batch writing and checks over
// Drill alone (no store). RunJob is the schedule loop of server commands.
//
// Only declared collections are pulled; changes of an undeclared collection
// are still pushed (metadata and doc only), so nothing is lost.
//
// A reference collection is never pushed nor listed as batches: each check
// runs one aggregate over its bound source query (row count and two hash
// sums) and, only when that differs from the last read, reads the rows in
// keyset pages and writes the rows whose hash changed (store refrows/).
//
// A batch name is "<ms>_<device>_<first journal seq>", ms being the Drill
// server's clock (15 digits, zero-padded) when the batch was planned, so a
// directory listing sorts by time and pulls can start from a watermark. A
// retry keeps the name while it is at most MaxBatchNameAge old; an older
// batch is settled under its name and renamed first (replan.go), so no
// batch lands in an hour compaction may be folding. Options.DrillClock
// (and CompactOptions.DrillClock for the compactor) replaces Drill's clock
// for simulations and tests only: the fleet simulation passes simulated
// days in minutes against a real Drillbit with it.
package agent
