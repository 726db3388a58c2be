// Types of the data layer's public API.

import type { Change, Doc } from '../types';

/**
 * Where a record stands:
 * - local: created here, never in Drill;
 * - pending: edited here (or by Go, e.g. a resolution), not yet in Drill;
 * - synced: what Drill has;
 * - conflict: edited on more than one device; review on the Conflicts screen.
 */
export type SyncState = 'local' | 'pending' | 'synced' | 'conflict';

/** A record as IndexedDB holds it (store "records", key [collection, record_id]). */
export interface LocalRecord {
  collection: string;
  record_id: string;
  /** Absent for a deleted record. */
  doc?: Doc;
  /** The HLC version of the record's current state. */
  version: string;
  deleted: boolean;
  /** Leaf versions; more than one while in conflict. */
  leaves: string[];
  state: SyncState;
  /** When this copy was last written here (epoch ms). */
  updated_at: number;
  /** When and by whom the current version was made. */
  edited_at?: number;
  device?: string;
  author?: string;
  /** Set when Go rejected the change that made this version: why. */
  rejected?: string;
  /**
   * The change that made this version, when it was made here (pending.ts):
   * its capture sequence (pending while above the acknowledged watermark),
   * its id and its parents.
   */
  seq?: number;
  change_id?: string;
  parents?: string[];
}

/**
 * A captured change waiting in the outbox (store "outbox"): one whose record
 * was overwritten before Go acknowledged it, a retried refused change, or
 * one written before records carried their changes (pending.ts).
 */
export interface OutboxEntry extends Change {
  /** The key: the capture sequence (the capture order). */
  seq?: number;
}

/** A change Go rejected, kept aside with the reason (store "rejected"). */
export interface RejectedChange {
  change_id: string;
  change: Change;
  /** Go's reason, for people. */
  reason: string;
  /** Epoch ms. */
  rejected_at: number;
  /**
   * Set when the record was saved again on top of the refused version: the
   * version of that later save. The later save replaces this change (it
   * takes its parents), so this change can only be discarded, not retried.
   */
  superseded_by?: string;
}

/** Sort direction of list(). */
export type SortDir = 'asc' | 'desc';

/**
 * A list() query. sortField names a doc field, or one of the record's own
 * properties prefixed with "@": "@record_id", "@updated_at", "@edited_at",
 * "@state", "@version". The default is "@updated_at" descending (newest first).
 */
export interface ListQuery {
  /** Case-insensitive text contained in any field value or the record id. */
  search?: string;
  sortField?: string;
  sortDir?: SortDir;
  offset?: number;
  /** Page size; default 50. */
  limit?: number;
  /** Include deleted records (default false). */
  includeDeleted?: boolean;
  /** Only records in these states. */
  states?: SyncState[];
}

/** One page of list(). */
export interface ListPage {
  rows: LocalRecord[];
  /** Matching records in all pages. */
  total: number;
  offset: number;
}

/** Progress of a long operation: loading a collection or rebuilding from Go. */
export interface Progress {
  collection: string;
  done: number;
  total: number;
}

/** State of the mirror loop (pending changes in IndexedDB -> Go journal). */
export type MirrorState = 'idle' | 'draining' | 'offline' | 'error';

/** What the data layer is doing; a Readable the status bar and sync screen show. */
export interface DataStatus {
  mirror: MirrorState;
  /** Changes captured here and not yet acknowledged by Go (pending.ts). */
  outbox: number;
  /** Changes Go rejected, kept aside (see rejected()). */
  rejected: number;
  /** The last mirror or catch-up error, for people; cleared on success. */
  error?: string;
  /** Set while the local copy is rebuilt from Go. */
  rebuild?: Progress;
  /** Set while a collection's index loads from IndexedDB. */
  loading?: Progress;
  /** A catch-up from Go's mirror sequence is running. */
  catchingUp: boolean;
  /** The last mirror sequence applied here. */
  lastMseq: number;
}

/** Which records changed; the value of DataStore.changes. */
export interface ChangeNotice {
  /** Grows with every notice. */
  revision: number;
  /** '' for the initial value. */
  collection: string;
  /** The changed record ids; empty means "any record may have changed". */
  ids: string[];
  /** What changed them. */
  cause: 'init' | 'local' | 'remote' | 'state' | 'rebuild';
}

/** What remove() returns; hand it to undo() to bring the record back. */
export interface Removed {
  collection: string;
  record_id: string;
  /** The record before the delete. */
  previous: LocalRecord;
  /** The record after the delete (a tombstone). */
  record: LocalRecord;
}

/** Bad input to the data layer: nothing was written. */
export class DataError extends Error {
  override readonly name = 'DataError';
}
