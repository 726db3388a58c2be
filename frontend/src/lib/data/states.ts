// Sync states: which records Drill has. A record becomes synced only when
// a push finished (fewer pending changes in Go or a new last success); then
// Go's pending ids say which records still wait.

import { ACKED_STORE, OUTBOX_STORE, RECORDS_STORE } from '../db';
import type { Status } from '../types';
import type { RecordCache } from './cache';
import { keyOf, type Context } from './context';
import { txDone } from './idb';
import { isPending, readAcked } from './pending';
import type { LocalRecord } from './types';

/** Marks records synced once Go has pushed them. */
export class SyncStates {
  private statesTimer: ReturnType<typeof setTimeout> | undefined;
  private lastStatus: Status | undefined;

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

  /** Refreshes the states soon (events come in bursts). */
  request(): void {
    if (this.ctx.closed) return;
    clearTimeout(this.statesTimer);
    this.statesTimer = setTimeout(() => {
      this.refresh().catch((err: unknown) => this.ctx.onError(err));
    }, 300);
  }

  /**
   * Asks Go which records still have changes not in Drill and marks the
   * others synced (records with changes not yet in Go, or in conflict, stay
   * as they are). The other way, synced -> pending, needs no scan: Go's own changes
   * (resolutions) arrive by catch-up, which marks them pending.
   */
  async refresh(): Promise<void> {
    const pending = await this.ctx.api.pendingIDs();
    const pendingKeys = new Set<string>();
    for (const p of pending) for (const id of p.record_ids ?? []) pendingKeys.add(keyOf(p.collection, id));
    const tx = this.ctx.db.transaction([RECORDS_STORE, OUTBOX_STORE, ACKED_STORE], 'readwrite');
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
      for (const state of ['local', 'pending'] as const) {
        const req = records.index('state').getAll(state) as IDBRequest<LocalRecord[]>;
        req.onsuccess = () => {
          for (const r of req.result) {
            const k = keyOf(r.collection, r.record_id);
            if (pendingKeys.has(k) || inOutbox.has(k) || isPending(r, acked) || r.rejected) continue;
            const next: LocalRecord = { ...r, state: 'synced', updated_at: at };
            records.put(next);
            changed.push(next);
          }
        };
      }
    };
    await done;
    this.cache.apply(changed, 'state');
  }
}
