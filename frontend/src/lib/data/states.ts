// Sync states: which records Drill has. A record becomes synced only when
// a push finished (fewer pending changes in Go or a new last success); then
// Go's pending ids say which records still wait.

import { ACKED_STORE, OUTBOX_STORE, RECORDS_STORE, UNSYNCED_STORE, type UnsyncedEntry } from '../db';
import type { Status } from '../types';
import type { RecordCache } from './cache';
import { keyOf, type Context } from './context';
import { txDone } from './idb';
import { isPending, readAcked } from './pending';
import type { LocalRecord } from './types';

/**
 * Logs, as one object of the unsynced log, the keys of the records of recs
 * left "local" or "pending" (tx must include the unsynced store): the
 * refresh finds them there. Every write that can leave a record in either
 * state calls it (writes, catch-up, rebuild, a discarded refusal).
 */
export function logUnsynced(tx: IDBTransaction, recs: readonly (LocalRecord | undefined)[]): void {
  const keys: [string, string][] = [];
  for (const r of recs) if (r && (r.state === 'local' || r.state === 'pending')) keys.push([r.collection, r.record_id]);
  if (keys.length > 0) tx.objectStore(UNSYNCED_STORE).put({ keys } satisfies UnsyncedEntry);
}

/**
 * Saves between refreshes that trim the unsynced log while no push
 * finishes (Drill out of reach): each save adds an object, and the trim
 * keeps one key per record still unsynced, so the log stays bounded by the
 * records, not by the saves.
 */
const TRIM_EVERY = 1000;

/** Marks records synced once Go has pushed them. */
export class SyncStates {
  private statesTimer: ReturnType<typeof setTimeout> | undefined;
  private lastStatus: Status | undefined;
  private sinceTrim = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly ctx: Context,
    private readonly cache: RecordCache,
  ) {}

  /** Cancels a scheduled refresh (close). */
  stop(): void {
    clearTimeout(this.statesTimer);
  }

  /** Takes Go's status event: refreshes the states when a push finished. */
  observe(st: Status): void {
    // Records only become synced when a push finished: fewer pending
    // changes or a new last success. An Accept alone never does it.
    const prev = this.lastStatus;
    this.lastStatus = st;
    if (!prev || !st || st.pending < prev.pending || st.last_success !== prev.last_success) this.request();
  }

  /** Notes a write transaction that logged to the unsynced log; trims it now and then. */
  logged(): void {
    if (++this.sinceTrim >= TRIM_EVERY) this.request();
  }

  /** Refreshes the states soon (events come in bursts). */
  request(): void {
    if (this.ctx.closed) return;
    clearTimeout(this.statesTimer);
    this.statesTimer = setTimeout(() => {
      this.statesTimer = undefined;
      const run = this.refresh()
        .catch((err: unknown) => this.ctx.onError(err))
        .finally(() => {
          if (this.running === run) this.running = undefined;
        });
      this.running = run;
    }, 300);
  }

  /** Resolves once no refresh is scheduled or running (benchmarks, tests). */
  async settled(): Promise<void> {
    while (!this.ctx.closed && (this.statesTimer !== undefined || this.running)) {
      if (this.running) await this.running;
      else await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Asks Go which records still have changes not in Drill and marks the
   * others synced (records with changes not yet in Go, or in conflict, stay
   * as they are). The other way, synced -> pending, needs no scan: Go's own changes
   * (resolutions) arrive by catch-up, which marks them pending.
   */
  async refresh(): Promise<void> {
    this.sinceTrim = 0;
    const pending = await this.ctx.api.pendingIDs();
    const pendingKeys = new Set<string>();
    for (const p of pending) for (const id of p.record_ids ?? []) pendingKeys.add(keyOf(p.collection, id));
    const tx = this.ctx.db.transaction([RECORDS_STORE, OUTBOX_STORE, ACKED_STORE, UNSYNCED_STORE], 'readwrite');
    const done = txDone(tx);
    const records = tx.objectStore(RECORDS_STORE);
    const changed: LocalRecord[] = [];
    const at = Math.floor(this.ctx.now());
    let acked = 0;
    readAcked(tx, (a) => (acked = a));
    // The records with changes still in the outbox, from one key cursor (the
    // ones whose record carries a pending change are told by their seq).
    const inOutbox = new Set<string>();
    const cursor = tx.objectStore(OUTBOX_STORE).index('record').openKeyCursor();
    cursor.onsuccess = () => {
      const c = cursor.result;
      if (c) {
        const [collection, id] = c.key as [string, string];
        inOutbox.add(keyOf(collection, id));
        c.continue();
        return;
      }
      // The local and pending records are those the unsynced log lists
      // that are still in either state; the log keeps each one that stays
      // once (in its newest object) and loses the rest.
      const log = tx.objectStore(UNSYNCED_STORE);
      const read = log.getAll() as IDBRequest<UnsyncedEntry[]>;
      read.onsuccess = () => {
        const entries = read.result;
        const keys = new Map<string, [string, string]>();
        for (const e of entries) for (const key of e.keys) keys.set(keyOf(key[0], key[1]), key);
        const stays = new Set<string>();
        let left = keys.size;
        for (const [k, key] of keys) {
          const req = records.get(key) as IDBRequest<LocalRecord | undefined>;
          req.onsuccess = () => {
            const r = req.result;
            if (r && (r.state === 'local' || r.state === 'pending')) {
              if (pendingKeys.has(k) || inOutbox.has(k) || isPending(r, acked) || r.rejected) {
                stays.add(k);
              } else {
                const next: LocalRecord = { ...r, state: 'synced', updated_at: at };
                records.put(next);
                changed.push(next);
              }
            }
            if (--left === 0) rewriteLog(log, entries, stays);
          };
        }
      };
    };
    await done;
    this.cache.apply(changed, 'state');
  }
}

/**
 * Rewrites the unsynced log so that it lists each key of stays once, in
 * the newest object that listed it, and nothing else.
 */
function rewriteLog(log: IDBObjectStore, entries: UnsyncedEntry[], stays: ReadonlySet<string>): void {
  const listed = new Set<string>();
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (!e || e.id === undefined) continue;
    const rest = e.keys.filter((key) => {
      const k = keyOf(key[0], key[1]);
      if (!stays.has(k) || listed.has(k)) return false;
      listed.add(k);
      return true;
    });
    if (rest.length === 0) log.delete(e.id);
    else if (rest.length < e.keys.length) log.put({ id: e.id, keys: rest } satisfies UnsyncedEntry);
  }
}
