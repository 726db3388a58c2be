// What every job of the data layer shares (DataStore builds it once and
// hands it to the writes, the outbox drain, catch-up, rebuild, refused
// changes and sync states): the database, Go, the clock and the settings,
// plus small helpers they all use.

import type { Api } from '../api';
import type { HLC } from '../hlc';
import type { Info } from '../types';

export const META_LAST_MSEQ = 'last_mseq';
export const META_HLC = 'hlc';
export const META_DEVICE = 'device';

/** The shared state of one open DataStore. */
export interface Context {
  readonly db: IDBDatabase;
  readonly api: Api;
  readonly info: Info;
  readonly device: string;
  readonly author: string;
  readonly hlc: HLC;
  /** Wall clock in epoch ms. */
  readonly now: () => number;
  readonly random: (bytes: Uint8Array) => void;
  /** Called with errors nobody awaits (background runs). */
  readonly onError: (err: unknown) => void;
  /** Delay between an edit and the mirror loop's run. */
  readonly debounceMs: number;
  /** Changes per Accept call. */
  readonly batchSize: number;
  /** Entries per MirrorSince call and records per Records call. */
  readonly pageSize: number;
  /** Records per IndexedDB read while loading a collection. */
  readonly loadChunk: number;
  /** Back-off of the mirror loop after a failure: first and largest delay in ms. */
  readonly retryMin: number;
  readonly retryMax: number;
  /** Set by close(): background work stops. */
  closed: boolean;
  /**
   * Versions of records whose change this page's drain saw Go accept
   * (without a conflict), by keyOf: catch-up skips their echo from Go's
   * mirror sequence without reading the record (pending.ts).
   */
  readonly echoes: Map<string, string>;
}

/** The key of a record in the maps the jobs keep. */
export function keyOf(collection: string, id: string): string {
  return `${collection}\u0000${id}`;
}
