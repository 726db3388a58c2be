// Refused changes: a change Go rejected waits in the "rejected" store with
// Go's reason until people retry it (back into the outbox under a new
// capture sequence, in one transaction) or discard it (the record goes back to what Go holds).

import {
  ACKED_STORE,
  describeError,
  META_CAPTURE_SEQ,
  META_STORE,
  OUTBOX_STORE,
  RECORDS_STORE,
  REJECTED_STORE,
  UNSYNCED_STORE,
} from '../db';
import { NotConnectedError } from '../transport';
import type { StoreRecord } from '../types';
import type { RecordCache } from './cache';
import type { Context } from './context';
import type { CrossTab } from './crosstab';
import type { OutboxDrain } from './drain';
import { request, txDone } from './idb';
import { isPending, metaNumber, readAcked } from './pending';
import { fromStore } from './rebuild';
import { logUnsynced } from './states';
import type { StatusBox } from './status';
import { DataError, type ChangeNotice, type LocalRecord, type OutboxEntry, type RejectedChange } from './types';

/** Retry and discard of the changes Go refused. */
export class RejectedChanges {
  constructor(
    private readonly ctx: Context,
    private readonly box: StatusBox,
    private readonly cache: RecordCache,
    private readonly tabs: CrossTab,
    private readonly drain: OutboxDrain,
  ) {}

  /**
   * Moves a refused change back into the outbox, in ONE IndexedDB
   * transaction (it is never in both stores, nor in neither), clears the
   * refusal mark of its record and runs the mirror loop at once. If Go
   * refuses it again it comes back to rejected() with the new reason.
   * A change replaced by a later save (superseded_by) cannot be retried.
   */
  async retry(changeId: string): Promise<void> {
    const tx = this.ctx.db.transaction([REJECTED_STORE, OUTBOX_STORE, RECORDS_STORE, META_STORE], 'readwrite');
    const done = txDone(tx);
    const rejectedStore = tx.objectStore(REJECTED_STORE);
    const outbox = tx.objectStore(OUTBOX_STORE);
    const records = tx.objectStore(RECORDS_STORE);
    let failure: Error | undefined;
    let found: RejectedChange | undefined;
    let added = false;
    const touched: LocalRecord[] = [];
    const req = rejectedStore.get(changeId) as IDBRequest<RejectedChange | undefined>;
    req.onsuccess = () => {
      const r = req.result;
      if (!r) {
        failure = new DataError(`the refused change ${changeId} is not kept here any more (another window may have handled it)`);
        tx.abort();
        return;
      }
      if (r.superseded_by) {
        failure = new DataError('this change was replaced by a later save of the record: discard it instead');
        tx.abort();
        return;
      }
      found = r;
      rejectedStore.delete(changeId);
      const queued = outbox.index('record').getAll([r.change.collection, r.change.record_id]) as IDBRequest<OutboxEntry[]>;
      queued.onsuccess = () => {
        if (queued.result.some((e) => e.change_id === changeId)) return; // already queued (by another window): send it once
        // A new capture sequence: the retried change goes after everything captured so far.
        const meta = tx.objectStore(META_STORE);
        const counter = meta.get(META_CAPTURE_SEQ) as IDBRequest<{ value?: unknown } | undefined>;
        counter.onsuccess = () => {
          const seq = metaNumber(counter.result) + 1;
          meta.put({ key: META_CAPTURE_SEQ, value: seq });
          outbox.add({ ...r.change, seq } satisfies OutboxEntry);
          added = true;
        };
      };
      const rec = records.get([r.change.collection, r.change.record_id]) as IDBRequest<LocalRecord | undefined>;
      rec.onsuccess = () => {
        const cur = rec.result;
        if (!cur || cur.version !== r.change.version || cur.rejected === undefined) return;
        // The change now waits in the outbox: the record no longer carries it.
        const { rejected: _reason, seq: _seq, change_id: _id, parents: _parents, ...next } = cur;
        records.put(next);
        touched.push(next);
      };
    };
    try {
      await done;
    } catch (err) {
      throw failure ?? err;
    }
    if (!found) throw new DataError(`no refused change ${changeId}`);
    const s = this.box.get();
    this.box.set({ rejected: Math.max(0, s.rejected - 1), outbox: s.outbox + (added ? 1 : 0) });
    this.afterRejectedChange(found, touched, 'state');
    this.drain.schedule(0);
  }

  /**
   * Gives up a refused change and returns it. When its record still shows
   * the refused version (no later save here), the record goes back to what
   * Go holds, or is removed when Go never had it (a refused create); that
   * needs Go to answer. A change replaced by a later save is only dropped.
   */
  async discard(changeId: string): Promise<RejectedChange> {
    const got = await request(
      this.ctx.db.transaction(REJECTED_STORE, 'readonly').objectStore(REJECTED_STORE).get(changeId) as IDBRequest<
        RejectedChange | undefined
      >,
    );
    if (!got) throw new DataError(`the refused change ${changeId} is not kept here any more (another window may have handled it)`);
    const { collection, record_id } = got.change;
    const local = await this.cache.get(collection, record_id);
    let truth: StoreRecord | undefined;
    if (local && local.version === got.change.version && !got.superseded_by) {
      try {
        truth = await this.ctx.api.record(collection, record_id);
      } catch (err) {
        if (err instanceof NotConnectedError) {
          throw new DataError(
            'fieldsync is not answering: discarding puts back the copy fieldsync holds, so try again when it answers',
          );
        }
        if (!/not found/i.test(describeError(err))) throw err;
        truth = undefined; // Go never had the record: the refused change created it
      }
    }
    const tx = this.ctx.db.transaction([REJECTED_STORE, RECORDS_STORE, OUTBOX_STORE, ACKED_STORE, UNSYNCED_STORE], 'readwrite');
    const done = txDone(tx);
    const records = tx.objectStore(RECORDS_STORE);
    let acked = 0;
    readAcked(tx, (a) => (acked = a));
    let failure: Error | undefined;
    let replaced: LocalRecord | undefined;
    let removed = false;
    const again = tx.objectStore(REJECTED_STORE).get(changeId);
    again.onsuccess = () => {
      if (!again.result) {
        failure = new DataError(`the refused change ${changeId} is not kept here any more (another window may have handled it)`);
        tx.abort();
        return;
      }
      tx.objectStore(REJECTED_STORE).delete(changeId);
      const pending = tx.objectStore(OUTBOX_STORE).index('record').count([collection, record_id]);
      const cur = records.get([collection, record_id]) as IDBRequest<LocalRecord | undefined>;
      cur.onsuccess = () => {
        const rec = cur.result;
        // Only a record still at the refused version, with no later edit on its way, is put back.
        if (pending.result > 0 || isPending(rec, acked) || !rec || rec.version !== got.change.version || got.superseded_by) {
          return;
        }
        if (truth) {
          replaced = fromStore(truth, this.ctx.now);
          records.put(replaced);
          logUnsynced(tx, [replaced]);
        } else {
          records.delete([collection, record_id]);
          removed = true;
        }
      };
    };
    try {
      await done;
    } catch (err) {
      throw failure ?? err;
    }
    this.box.set({ rejected: Math.max(0, this.box.get().rejected - 1) });
    if (removed) this.cache.forget(collection, [record_id]);
    if (replaced) this.afterRejectedChange(got, [replaced], 'remote');
    else {
      if (removed) this.box.notify(collection, [record_id], 'remote');
      this.afterRejectedChange(got, [], 'remote');
    }
    return got;
  }

  /**
   * Updates the loaded indexes with records a retry or discard rewrote and
   * tells other tabs, which re-read the record and the counts.
   */
  private afterRejectedChange(r: RejectedChange, touched: LocalRecord[], cause: ChangeNotice['cause']): void {
    if (touched.length > 0) {
      this.cache.apply(touched, cause);
      return;
    }
    this.tabs.post(r.change.collection, [r.change.record_id]);
  }
}
