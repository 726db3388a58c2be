// Package store is fieldsync's durable local truth: a bbolt file holding the
// journal of changes made on this device, the mirror of every record (local
// and pulled), the version graph behind conflict detection, and the sync
// state (push cursor, batch manifests, pulled batches, watermarks, conflicts,
// audit log).
//
// One process owns the file at a time. Open waits at most Options.Timeout
// (one second by default) for bbolt's file lock and then fails with a
// *LockedError naming the other process, read from the owner note
// "<path>.owner" that every Open writes beside the file.
//
// # Bucket tree
//
// Everything lives under a versioned root; keys marked (u64) are 8-byte
// big-endian integers, so cursor order is numeric order. Values are JSON,
// except version nodes: a format byte, a length-prefixed JSON header, then
// the change's doc bytes exactly as they were appended. Format 2 (schema 6)
// has a header with short names and without the record id and version,
// which are the node's key; format 1 is still read. A record whose only
// leaf is its winner is stored without its leaves (schema 6).
//
//	v1/
//	  meta/                          schema_version (u64), device_id,
//	                                 hlc (last clock version), hlc_ceiling (u64 ms),
//	                                 push_cursor (u64 seq), batch_seq (u64),
//	                                 watermark/<collection> (u64 ms),
//	                                 mirror_floor (u64 mseq removed up to),
//	                                 auditrec_next (u64 seq; only while
//	                                 migration 3 is part done),
//	                                 sync_record (JSON: last success, last
//	                                 error, consecutive failures),
//	                                 quarantine_dropped (u64, since v4),
//	                                 viewmark/<cluster>\x00<workspace>\x00<view set>
//	                                 (JSON: hash of the analyst views' definition
//	                                 last made or found whole in Drill, when)
//	  records/<collection>/<record_id>
//	                                 mirrored state: winner version and change id,
//	                                 deleted flag, device/author/edit time,
//	                                 leaf versions, last mseq, last local seq
//	  versions/<collection>/<record_id> 0x00 <version>
//	                                 version graph node: the full change (the one
//	                                 stored copy of its doc) and its children;
//	                                 a node without a change is a placeholder
//	                                 for a parent that has not arrived yet
//	  mirror/<mseq (u64)>            the newest applied changes, local or pulled,
//	                                 in apply order: reference + record state
//	                                 after (the agent keeps the newest 10,000
//	                                 after each push: Store.TrimMirror)
//	  journal/<seq (u64)>            local changes waiting to be pushed:
//	                                 reference + the batch they are planned into
//	  changeids/<change_id>          idempotency index -> seq, mseq; kept after
//	                                 the journal is truncated
//	  batches/<name>                 push batch manifests: collection, change ids,
//	                                 journal seqs, state planned/written/verified;
//	                                 a stale name is replaced, with the journal
//	                                 entries' batch, in one transaction
//	                                 (Store.RenameBatch)
//	  seen/<collection>/<batch>      pulled batches already applied
//	  conflicts/<collection>/<record_id>
//	                                 records with more than one leaf: every leaf's
//	                                 change, the common ancestor, the winner,
//	                                 missing parents, the agent's note
//	  audit/<seq (u64)>              audit log (who resolved what, when): of
//	                                 resolutions made here (Resolve) and of
//	                                 those pulled (a change with a Resolution)
//	  counts/<collection>            live and deleted record counts (since v2)
//	  auditrec/<len(collection) (uvarint)><collection>
//	           <len(record_id) (uvarint)><record_id><seq (u64)>
//	                                 index of audit/ by record (since v3);
//	                                 empty values
//	  quarantine/<id (u64)>          pulled rows and batches never applied (since
//	                                 v4): kind, collection, batch, row, change id,
//	                                 reason, the row cut to 4 KiB, when; at most
//	                                 MaxQuarantined, oldest dropped and counted
//	                                 in meta/quarantine_dropped
//	  pullretry/<collection>/<batch> pulled batches to read again (since v4):
//	                                 attempts, first failure, next attempt, error
//	  refrows/<collection>/<key>     reference collections' rows (since v5):
//	                                 row hash, 0x00, mapped doc; never pushed,
//	                                 no versions, no conflicts
//	  refidx/<collection>/<len(field) (uvarint)><field><value> 0x00 <key>
//	                                 values of the fields other collections take
//	                                 options from (options_from); empty values
//	  refmeta/<collection>           reference state: bound source, Drill's
//	                                 fingerprint (row count, hash sums), last
//	                                 check, row errors, indexed fields
//
// The record id and version are joined by a zero byte in versions/ (ids
// never contain one), so one cursor seek lists a record's whole graph.
//
// auditrec/ holds one key per audit entry that names a record, written in
// the transaction that writes the entry (every audit write goes through one
// function), so Store.AuditOf finds a record's entries with one seek however
// long the log is. Its keys cannot rely on ids lacking a zero byte: audit
// entries come from AppendAudit, not through Change.Validate. So the
// collection and the record id are each preceded by their length. A uvarint
// is prefix-free and the length fixes where each part ends, so the bytes
// before the seq decode to exactly one (collection, record id) pair: no
// other record's keys can start with a record's prefix. Record "a" never
// sees the entries of "ab", nor collection "c" those of "c2", whatever bytes
// the ids hold.
//
// # Changes, leaves and conflicts
//
// Every change lands (CouchDB style): a change's parents stop being leaves,
// the change becomes a leaf unless a child of it arrived first. A record
// with more than one leaf is in conflict; the highest version is the winner
// shown meanwhile. The store keeps conflicts/ in step with the graph in the
// same transaction as the change; a resolution is a change whose parents are
// every leaf (see Store.Resolve). The result does not depend on the order
// changes arrive in; a conflict that only exists because a parent has not
// arrived yet lists it in Conflict.Missing and goes away when it arrives.
//
// # Identity and clock
//
// The device id is generated once (or given by Options.DeviceID when the
// file is created) and kept in meta. NextVersion issues hybrid-logical-clock
// versions; a persisted ceiling a little ahead of the last issued version
// keeps versions increasing across crashes and wall clocks that go back.
// A version never carries more than MaxWallMS (15 digits), so the clock
// state always reads back, and a version more than Options.MaxClockAhead
// ahead of the wall clock is stored but never observed into the clock.
//
// # Quarantine
//
// The agent validates what it pulls before it reaches the store; a row or
// batch that fails is recorded in quarantine/ (Store.Quarantine), never
// applied, and a batch that cannot be read yet waits in pullretry/.
// Store.ReleaseQuarantine lets a batch be read again after IT fixed it.
//
// # Migrations
//
// Schema changes are an ordered list applied at Open, one transaction each;
// meta/schema_version records the last one applied. Migration 1 creates the
// v1 tree; migration 2 adds counts/ and fills it from existing records;
// migration 3 adds auditrec/ and indexes the existing audit entries;
// migration 4 adds quarantine/ and pullretry/;
// migration 5 adds the empty refrows/, refidx/ and refmeta/ buckets;
// migration 6 changes nothing stored but marks the file as holding the
// shorter node and record forms, so older builds refuse it.
// Reference rows are a copy of Drill's: salvage does not copy them, the
// next pull reads them again.
//
// A step too large for one transaction runs in parts: migration 3 indexes
// 10,000 entries per transaction and saves the next seq to index in
// meta/auditrec_next with them; its last part removes the key and records
// the schema version. An Open that crashes or is cancelled between parts
// leaves a file at the old version that the next Open finishes; writing an
// index key twice changes nothing.
//
// # Size and compaction
//
// Buckets whose keys only grow at the end (journal, mirror, audit) fill
// pages to 90 %; bbolt's default leaves them half empty. Store.Space
// reports the bytes of each bucket; Compact (and Options.AutoCompact at
// Open, when half the file is slack) copies the file into a new one and
// renames it over the old, in steps that a crash at any point survives
// (compact.go). Outside the v1 tree, a bucket "replaced" marks a file a
// compaction replaced, so that a process that waited for its lock reopens
// the path.
//
// # Durability
//
// Every write is one bbolt transaction synced to disk on commit: it is
// applied completely or not at all. Append returns only after the commit,
// so an acknowledged change survives a crash; a failed write (full disk,
// I/O error) returns an error and leaves the file as it was.
package store
