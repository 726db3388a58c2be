// The outbox drain (the mirror loop): the outbox drains in batches through
// UI.Accept (idempotent by change_id); an entry is deleted only after Go
// answered accepted or duplicate, so a crash or a lost answer means a
// resend, which Go answers "duplicate". A rejected change moves to the
// "rejected" store with Go's reason and is surfaced, never dropped. After a
// failure the loop retries with back-off.
//
// Batches are pipelined: while one is with Go (bridge, validation, the
// fsynced bbolt commit), the next is read and sent, so IndexedDB and Go work
// at the same time (at most IN_FLIGHT batches; Go's store gives the same
// result whatever order changes arrive in). A batch Go answered in full is
// deleted from the outbox with one key-range delete. Entries this page just
// wrote are handed over in memory (offer): the drain reads only the keys of
// the next batch and takes the changes it holds from memory, reading from
// IndexedDB only what it does not hold (other tabs' entries, a restart).

import { describeError, OUTBOX_STORE, RECORDS_STORE, REJECTED_STORE } from '../db';
import { NotConnectedError } from '../transport';
import type { Change } from '../types';
import type { RecordCache } from './cache';
import { stripSeq, type Context } from './context';
import type { CrossTab } from './crosstab';
import { request, txDone } from './idb';
import type { StatusBox } from './status';
import type { LocalRecord, OutboxEntry, RejectedChange } from './types';

/** Batches sent to Go at once (docs/BENCHMARKS.md, capture). */
const IN_FLIGHT = 2;

/** Most outbox entries held in memory for the drain; more are read back. */
const HELD_MAX = 20_000;

/** Sends the outbox to Go. */
export class OutboxDrain {
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private drainDue = 0;
  private draining: Promise<void> | undefined;
  private drainAgain = false;
  private retryDelay: number;
  /** Outbox entries written by this page and not yet settled, by key. */
  private readonly held = new Map<number, OutboxEntry>();

  constructor(
    private readonly ctx: Context,
    private readonly box: StatusBox,
    private readonly cache: RecordCache,
    private readonly tabs: CrossTab,
  ) {
    this.retryDelay = ctx.retryMin;
  }

  /**
   * Hands over outbox entries just committed (with their keys), so that
   * sending them needs no read of IndexedDB. They are still read from there
   * when this page no longer holds them.
   */
  offer(entries: OutboxEntry[]): void {
    for (const e of entries) {
      if (this.held.size >= HELD_MAX) return;
      if (e.seq !== undefined) this.held.set(e.seq, e);
    }
  }

  /** Cancels a scheduled run (close). */
  stop(): void {
    clearTimeout(this.drainTimer);
  }

  /**
   * Runs the mirror loop in ms unless a run is already due sooner: a steady
   * stream of edits does not postpone it forever.
   */
  schedule(ms: number): void {
    if (this.ctx.closed) return;
    const due = Date.now() + ms;
    if (this.drainTimer !== undefined && this.drainDue <= due) return;
    clearTimeout(this.drainTimer);
    this.drainDue = due;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      this.flush().catch((err: unknown) => this.ctx.onError(err));
    }, ms);
  }

  /**
   * Drains the outbox into Go now, batch after batch, until it is empty or a
   * call fails (then it retries with back-off in the background and this
   * rejects). Concurrent calls share one run.
   */
  flush(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return this.draining;
    }
    this.draining = this.drainLoop().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  private async drainLoop(): Promise<void> {
    for (;;) {
      this.drainAgain = false;
      try {
        await this.drainPass();
      } catch (err) {
        const offline = err instanceof NotConnectedError;
        this.box.set({ mirror: offline ? 'offline' : 'error', error: describeError(err) });
        const delay = this.retryDelay;
        this.retryDelay = Math.min(this.retryDelay * 2, this.ctx.retryMax);
        this.schedule(delay);
        throw err;
      }
      this.retryDelay = this.ctx.retryMin;
      if (!this.drainAgain || this.ctx.closed) break;
    }
    const s = this.box.get();
    if (s.mirror !== 'idle' || s.error !== undefined) this.box.set({ mirror: 'idle', error: undefined });
  }

  /**
   * Sends every outbox entry, batch after batch, with the next batch read
   * and sent while earlier ones are with Go. Rejects with the first failure
   * once every batch in flight has settled.
   */
  private async drainPass(): Promise<void> {
    let after: number | undefined;
    const inFlight: Promise<void>[] = [];
    try {
      while (!this.ctx.closed) {
        const entries = await this.readBatch(after);
        if (entries.length === 0) {
          if (after === undefined) this.box.set({ outbox: 0 });
          break;
        }
        after = entries[entries.length - 1]?.seq;
        if (this.box.get().mirror !== 'draining') this.box.set({ mirror: 'draining' });
        const sent = this.sendBatch(entries);
        sent.catch(() => undefined); // settled below; never an unhandled rejection meanwhile
        inFlight.push(sent);
        if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
        if (entries.length < this.ctx.batchSize || after === undefined) break;
      }
    } finally {
      const rest = await Promise.allSettled(inFlight);
      const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  /**
   * Reads up to batchSize outbox entries after seq (from the start when
   * undefined): their keys from IndexedDB, the entries from memory when
   * this page holds them all, else from IndexedDB.
   */
  private async readBatch(after: number | undefined): Promise<OutboxEntry[]> {
    const range = after === undefined ? null : IDBKeyRange.lowerBound(after, true);
    const store = () => this.ctx.db.transaction(OUTBOX_STORE, 'readonly').objectStore(OUTBOX_STORE);
    if (this.held.size > 0) {
      const keys = (await request(store().getAllKeys(range, this.ctx.batchSize))) as number[];
      if (after === undefined) {
        // Keys below the first one left the outbox (another tab sent them).
        const first = keys[0] ?? Infinity;
        for (const k of this.held.keys()) if (k < first) this.held.delete(k);
      }
      const out: OutboxEntry[] = [];
      for (const k of keys) {
        const e = this.held.get(k);
        if (!e) break;
        out.push(e);
      }
      if (out.length === keys.length) return out;
    }
    return request(store().getAll(range, this.ctx.batchSize) as IDBRequest<OutboxEntry[]>);
  }

  /** Sends one batch read from the outbox and settles Go's answers. */
  private async sendBatch(entries: OutboxEntry[]): Promise<void> {
    const res = await this.ctx.api.accept(entries.map(stripSeq));
    // Answered or not, the entries are read from IndexedDB from now on.
    for (const e of entries) if (e.seq !== undefined) this.held.delete(e.seq);
    const byId = new Map((res?.results ?? []).map((r) => [r.change_id, r]));

    const tx = this.ctx.db.transaction([OUTBOX_STORE, REJECTED_STORE, RECORDS_STORE], 'readwrite');
    const done = txDone(tx);
    const outbox = tx.objectStore(OUTBOX_STORE);
    const rejectedStore = tx.objectStore(REJECTED_STORE);
    const records = tx.objectStore(RECORDS_STORE);
    const touched: LocalRecord[] = [];
    let acked = 0;
    let rejected = 0;
    const at = Math.floor(this.ctx.now());
    // Entries were read in key order and new ones get higher keys, so when
    // Go answered every one, one range delete removes exactly them.
    const first = entries[0]?.seq;
    const last = entries[entries.length - 1]?.seq;
    const whole = first !== undefined && last !== undefined && entries.every((e) => byId.has(e.change_id));
    if (whole) outbox.delete(IDBKeyRange.bound(first, last));
    for (const e of entries) {
      const r = byId.get(e.change_id);
      if (!r || e.seq === undefined) continue; // no answer for it: it is sent again
      if (r.outcome === 'accepted' || r.outcome === 'duplicate') {
        if (!whole) outbox.delete(e.seq);
        acked++;
        if (r.conflicted) this.markRecord(records, e, { state: 'conflict' }, touched);
      } else {
        const reason = r.reason || 'rejected by fieldsync without a reason';
        const kept: RejectedChange = { change_id: e.change_id, change: stripSeq(e), reason, rejected_at: at };
        rejectedStore.put(kept);
        if (!whole) outbox.delete(e.seq);
        rejected++;
        this.markRecord(records, e, { rejected: reason }, touched);
      }
    }
    await done;
    const s = this.box.get();
    this.box.set({ outbox: Math.max(0, s.outbox - acked - rejected), rejected: s.rejected + rejected });
    if (touched.length > 0) this.cache.apply(touched, 'state');
    else if (acked > 0 && entries[0]) {
      // No record changed, but the counts did: other tabs re-read them.
      this.tabs.post(entries[0].collection, []);
    }
    if (acked + rejected === 0) {
      // Go answered none of them: do not spin on the same batch.
      throw new Error('fieldsync did not acknowledge any change of the batch');
    }
  }

  /** Updates the record that e made, if it still is at e's version. */
  private markRecord(
    records: IDBObjectStore,
    e: Change,
    patch: Partial<LocalRecord>,
    touched: LocalRecord[],
  ): void {
    const req = records.get([e.collection, e.record_id]) as IDBRequest<LocalRecord | undefined>;
    req.onsuccess = () => {
      const rec = req.result;
      if (!rec || rec.version !== e.version) return;
      const next = { ...rec, ...patch };
      records.put(next);
      touched.push(next);
    };
  }
}
