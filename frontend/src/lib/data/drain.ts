// The drain (the mirror loop): the pending changes (pending.ts: records
// above the acknowledged watermark and outbox entries, merged in seq order)
// go in batches through UI.Accept (idempotent by change_id). A change is
// settled only after Go answered accepted or duplicate: an outbox entry is
// then deleted, and the watermark moves over the records whose
// changes Go answered, but only over a contiguous prefix of them in seq
// order, so a crash or a lost answer means a resend, which Go answers
// "duplicate". A record is never rewritten for an acknowledgement. A
// rejected change moves to the "rejected" store with Go's reason and is
// surfaced, never dropped. After a failure the loop retries with back-off.
//
// Batches are pipelined: while one is with Go (bridge, validation, the
// fsynced bbolt commit), the next is read and sent, so IndexedDB and Go work
// at the same time (at most IN_FLIGHT batches with Go; Go's store gives the
// same result whatever order changes arrive in). A batch leaves the
// pipeline when Go answers; the transaction that settles the answers runs
// beside the next batches. A batch Go answered in full is deleted from the
// outbox with one key-range delete.
//
// What this page captured is sent from a copy kept in memory until Go
// answers (pending.ts, Captured), as long as the seqs from the watermark on
// are all this page's own: no record is read back, several batches are
// taken per read, and the read does not wait for a bulk import's writes to
// the records store. While this page is writing more (a bulk import), a
// pass that has sent all it captured waits for the write instead of ending
// with a look into IndexedDB that would queue behind it. Anything else
// (another tab's saves, a retried refusal, what was captured before a
// reload) is read from IndexedDB.

import { ACKED_STORE, CAPTURES_STORE, describeError, OUTBOX_STORE, RECORDS_STORE, REJECTED_STORE } from '../db';
import { NotConnectedError } from '../transport';
import type { AppendResult, Change } from '../types';
import type { RecordCache } from './cache';
import { keyOf, type Context } from './context';
import type { CrossTab } from './crosstab';
import { request, txDone } from './idb';
import {
  ACKED_SEQ_KEY,
  Captured,
  countPending,
  noteEcho,
  PENDING_SCOPE,
  pruneCaptures,
  readAcked,
  readCaptured,
  readPending,
  type PendingChange,
} from './pending';
import type { StatusBox } from './status';
import type { LocalRecord, RejectedChange } from './types';

/** Batches sent to Go at once (docs/BENCHMARKS.md, capture). */
const IN_FLIGHT = 2;

/**
 * Batches of this page's own captures taken from memory per read: each read
 * is an IndexedDB transaction, which waits behind a bulk import's writes
 * (docs/BENCHMARKS.md, issue 12, sixth round).
 */
const READ_AHEAD = 4;

/**
 * Changes sent between two prunings of the capture log: the log's objects
 * at or below the watermark are never read, only kept, so a pruning per
 * pass would put a transaction in the way of every single edit's next
 * save for nothing.
 */
const PRUNE_EVERY = 1000;

/**
 * The watermark of one drain pass: the seqs of the records it read, in seq
 * order, and which of them Go has answered; the watermark may move over the
 * answered prefix (batches may be answered out of order).
 */
export class Watermark {
  private readonly order: number[] = [];
  private head = 0;
  private readonly settled = new Set<number>();

  /** Notes the record changes of a batch just read (in seq order). */
  read(items: readonly PendingChange[]): void {
    for (const it of items) if (it.from === 'record') this.order.push(it.seq);
  }

  /** Notes that Go answered the record change with this seq. */
  settle(seq: number): void {
    this.settled.add(seq);
  }

  /** The highest seq of the answered prefix, when it grew; else undefined. */
  advance(): number | undefined {
    let mark: number | undefined;
    for (; this.head < this.order.length; this.head++) {
      const seq = this.order[this.head];
      if (seq === undefined || !this.settled.has(seq)) break;
      this.settled.delete(seq);
      mark = seq;
    }
    return mark;
  }
}

/** Sends the pending changes to Go. */
export class OutboxDrain {
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private drainDue = 0;
  private draining: Promise<void> | undefined;
  private drainAgain = false;
  private retryDelay: number;
  private readonly idle: (() => void)[] = [];
  /** What this page captured and Go has not answered yet (sent without reading it back). */
  private readonly captured = new Captured();
  /** Changes sent since the capture log was last pruned (this page). */
  private sentSincePrune = 0;
  /** This page's writes begun and not yet settled (writing). */
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly ctx: Context,
    private readonly box: StatusBox,
    private readonly cache: RecordCache,
    private readonly tabs: CrossTab,
  ) {
    this.retryDelay = ctx.retryMin;
  }

  /** Notes the records a committed write of this page stored, so they are sent from memory. */
  capturedHere(recs: readonly LocalRecord[]): void {
    this.captured.add(recs);
  }

  /**
   * Notes a write of this page that has begun: done settles after it
   * committed (and capturedHere was called) or failed. A drain pass that
   * has sent everything this page captured waits for it instead of ending
   * with a look into IndexedDB that would queue behind it.
   */
  writing(done: Promise<unknown>): void {
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.writes.add(settled);
    void settled.then(() => this.writes.delete(settled));
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
      for (const run of this.idle.splice(0)) run();
    });
    return this.draining;
  }

  /** Calls run once, when the drain running now has finished (at once when none is). */
  whenIdle(run: () => void): void {
    if (this.draining) this.idle.push(run);
    else run();
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
   * Sends every pending change, batch after batch, with the next batch read
   * and sent while earlier ones are with Go. A batch holds its place among
   * the IN_FLIGHT only until Go answers it: the transaction that settles the
   * answers runs on its own (IndexedDB commits them in order, and a read
   * begun after one sees it), so a settle queued behind a bulk import's
   * writes does not hold the next batch back. Rejects with the first
   * failure once every batch in flight has been answered and settled.
   */
  private async drainPass(): Promise<void> {
    let after: number | undefined;
    const mark = new Watermark();
    const inFlight: Promise<unknown>[] = [];
    const settling: Promise<void>[] = [];
    let failed = false;
    // A failed call or settle stops the pass (it is rejected in finally);
    // never an unhandled rejection meanwhile.
    const stop = (): void => {
      failed = true;
    };
    try {
      read: while (!this.ctx.closed && !failed) {
        // What this page captured comes from memory, several batches per
        // read; the rest (another tab's saves, what was captured before a
        // reload) is read from IndexedDB.
        if (this.writes.size > 0 && !this.captured.hasAbove(after)) {
          // All sent and this page is writing more (a bulk import): wait
          // for it rather than end the pass with reads that queue behind it.
          await Promise.race(this.writes);
          continue;
        }
        const size = this.ctx.batchSize;
        const { items, scanned, more } =
          (await readCaptured(this.ctx.db, after, size * READ_AHEAD, this.captured)) ??
          (await readPending(this.ctx.db.transaction(PENDING_SCOPE, 'readonly'), after, size));
        if (scanned === undefined) {
          if (after === undefined) this.box.set({ outbox: 0 });
          break;
        }
        after = scanned;
        if (items.length === 0) {
          if (more) continue;
          break;
        }
        mark.read(items);
        this.sentSincePrune += items.length;
        if (this.box.get().mirror !== 'draining') this.box.set({ mirror: 'draining' });
        for (let i = 0; i < items.length; i += size) {
          if (failed) break read;
          const { answered, settled } = this.sendBatch(items.slice(i, i + size), mark);
          answered.catch(stop);
          settled.catch(stop);
          inFlight.push(answered);
          settling.push(settled);
          if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
        }
        if (!more) break;
      }
    } finally {
      const rest = await Promise.allSettled(settling);
      if (after !== undefined && !this.ctx.closed) {
        // What is still pending, exactly (the answers may have counted a
        // resent change twice).
        const tx = this.ctx.db.transaction(PENDING_SCOPE, 'readonly');
        this.box.set({ outbox: await countPending(tx) });
        // Now and then the capture log loses what the watermark passed, in
        // a transaction of its own that nobody waits for.
        if (this.sentSincePrune >= PRUNE_EVERY) {
          this.sentSincePrune = 0;
          const prune = this.ctx.db.transaction([CAPTURES_STORE, ACKED_STORE], 'readwrite');
          pruneCaptures(prune);
          txDone(prune).catch((err: unknown) => this.ctx.onError(err));
        }
      }
      const failure = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
    }
  }

  /**
   * Sends one batch: answered resolves with Go's answer, settled once the
   * answers are settled in IndexedDB (and rejects when the call failed).
   */
  private sendBatch(items: PendingChange[], mark: Watermark): { answered: Promise<AppendResult>; settled: Promise<void> } {
    const answered = this.ctx.api.accept(items.map((it) => it.change));
    return { answered, settled: answered.then((res) => this.settleBatch(items, res, mark)) };
  }

  /** Settles Go's answers to one batch. */
  private async settleBatch(items: PendingChange[], res: AppendResult | undefined, mark: Watermark): Promise<void> {
    const byId = new Map((res?.results ?? []).map((r) => [r.change_id, r]));

    // The records store only when a record is to be marked (a conflict or a
    // refusal): an acknowledgement does not wait for the saves queued on it.
    const marks = [...byId.values()].some((r) => r.conflicted || (r.outcome !== 'accepted' && r.outcome !== 'duplicate'));
    const scope = marks ? [OUTBOX_STORE, REJECTED_STORE, RECORDS_STORE, ACKED_STORE] : [OUTBOX_STORE, REJECTED_STORE, ACKED_STORE];
    const tx = this.ctx.db.transaction(scope, 'readwrite');
    const done = txDone(tx);
    const outbox = tx.objectStore(OUTBOX_STORE);
    const rejectedStore = tx.objectStore(REJECTED_STORE);
    const records = () => tx.objectStore(RECORDS_STORE);
    const touched: LocalRecord[] = [];
    let acked = 0;
    let rejected = 0;
    const at = Math.floor(this.ctx.now());
    // Items were read in seq order and new changes get higher seqs, so when
    // Go answered every one, one range delete removes exactly the outbox
    // entries among them (and any copy of a record's change moved there by
    // an overwrite since).
    const first = items[0]?.seq;
    const last = items[items.length - 1]?.seq;
    const whole = first !== undefined && last !== undefined && items.every((it) => byId.has(it.change.change_id));
    if (whole) outbox.delete(IDBKeyRange.bound(first, last));
    for (const it of items) {
      const e = it.change;
      const r = byId.get(e.change_id);
      if (!r) continue; // no answer for it: it is sent again
      if (!whole) outbox.delete(it.seq);
      this.captured.settle(it.seq);
      if (it.from === 'record') mark.settle(it.seq);
      if (r.outcome === 'accepted' || r.outcome === 'duplicate') {
        acked++;
        if (r.conflicted) this.markRecord(records(), e, { state: 'conflict' }, touched);
        else if (it.from === 'record' && it.state !== 'conflict') noteEcho(this.ctx.echoes, keyOf(e.collection, e.record_id), e.version);
      } else {
        const reason = r.reason || 'rejected by fieldsync without a reason';
        const kept: RejectedChange = { change_id: e.change_id, change: e, reason, rejected_at: at };
        rejectedStore.put(kept);
        rejected++;
        this.markRecord(records(), e, { rejected: reason }, touched);
      }
    }
    const upTo = mark.advance();
    if (upTo !== undefined) {
      readAcked(tx, (stored) => {
        if (upTo > stored) tx.objectStore(ACKED_STORE).put({ key: ACKED_SEQ_KEY, value: upTo });
      });
    }
    // The refused count is read back (a change refused twice is kept once);
    // the pending count goes down by the answers here and is counted again
    // at the end of the pass (answers to a resent change count twice here).
    const refused = request(rejectedStore.count());
    await done;
    this.box.set({ outbox: Math.max(0, this.box.get().outbox - acked - rejected), rejected: await refused });
    if (touched.length > 0) this.cache.apply(touched, 'state');
    else if (acked > 0 && items[0]) {
      // No record changed, but the counts did: other tabs re-read them.
      this.tabs.post(items[0].change.collection, []);
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
