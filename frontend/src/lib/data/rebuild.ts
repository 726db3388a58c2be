// Rebuild: the local copy made again from Go's records (UI.Records, paged),
// when the mirror sequence was truncated or this IndexedDB never caught up;
// local edits newer than Go's copy are kept.

import { ACKED_STORE, META_STORE, OUTBOX_STORE, RECORDS_STORE, UNSYNCED_STORE } from '../db';
import { compareVersions } from '../hlc';
import type { StoreRecord } from '../types';
import type { RecordCache } from './cache';
import { META_DEVICE, META_LAST_MSEQ, type Context } from './context';
import { txDone } from './idb';
import { putKeeping, readAcked } from './pending';
import { logUnsynced } from './states';
import type { StatusBox } from './status';
import type { LocalRecord, SyncState } from './types';

/** The local record for a record Go holds (updated_at: now). */
export function fromStore(r: StoreRecord, now: () => number): LocalRecord {
  const leaves = r.leaves && r.leaves.length > 0 ? r.leaves : [r.version];
  const state: SyncState = leaves.length > 1 ? 'conflict' : r.pending ? 'pending' : 'synced';
  const rec: LocalRecord = {
    collection: r.collection,
    record_id: r.record_id,
    version: r.version,
    deleted: r.deleted,
    leaves,
    state,
    updated_at: Math.floor(now()),
    edited_at: r.edited_at,
    device: r.device,
  };
  if (r.doc && !r.deleted) rec.doc = r.doc;
  if (r.author) rec.author = r.author;
  return rec;
}

/** Writes Go's records into IndexedDB. */
export class Rebuild {
  constructor(
    private readonly ctx: Context,
    private readonly box: StatusBox,
    private readonly cache: RecordCache,
  ) {}

  /** Writes Go's records where they are at least as new as the local copy. */
  async applyStoreRecords(list: StoreRecord[]): Promise<number> {
    if (list.length === 0) return 0;
    for (const r of list) this.ctx.hlc.observe(r.version);
    const tx = this.ctx.db.transaction([RECORDS_STORE, OUTBOX_STORE, ACKED_STORE, UNSYNCED_STORE], 'readwrite');
    const done = txDone(tx);
    const records = tx.objectStore(RECORDS_STORE);
    const changed: LocalRecord[] = [];
    let acked = 0;
    readAcked(tx, (a) => (acked = a));
    const apply = (r: StoreRecord, local: LocalRecord | undefined) => {
      if (local && compareVersions(local.version, r.version) > 0) return;
      const next = fromStore(r, this.ctx.now);
      if (local && local.version === r.version && local.state === 'local' && next.state === 'pending') {
        next.state = 'local';
      }
      // A local change Go has not settled is kept (in the outbox).
      changed.push(putKeeping(tx, local, next, acked));
    };
    let left = list.length;
    for (const r of list) {
      const req = records.get([r.collection, r.record_id]) as IDBRequest<LocalRecord | undefined>;
      req.onsuccess = () => {
        apply(r, req.result);
        if (--left === 0) logUnsynced(tx, changed);
      };
    }
    await done;
    this.cache.apply(changed, 'rebuild');
    return changed.length;
  }

  /**
   * Rebuilds the local copy from Go's records, paged, with progress in
   * status.rebuild. Local edits newer than Go's copy are kept.
   */
  async run(): Promise<void> {
    // Note the sequence first: whatever changes during the rebuild is
    // applied again (idempotently) by the catch-up that follows.
    const head = await this.ctx.api.mirrorSince(0, 1);
    const mark = head.last_mseq;
    this.ctx.hlc.observe(head.entries?.[0]?.change.version);
    for (const col of this.ctx.info.collections) {
      let after = '';
      let done = 0;
      this.box.set({ rebuild: { collection: col.name, done: 0, total: 0 } });
      for (;;) {
        const page = await this.ctx.api.records(col.name, after, this.ctx.pageSize);
        const recs = page.records ?? [];
        await this.applyStoreRecords(recs);
        done += recs.length;
        this.box.set({ rebuild: { collection: col.name, done, total: Math.max(page.total, done) } });
        if (!page.next || recs.length === 0) break;
        after = page.next;
      }
    }
    const tx = this.ctx.db.transaction(META_STORE, 'readwrite');
    const done = txDone(tx);
    tx.objectStore(META_STORE).put({ key: META_LAST_MSEQ, value: mark });
    tx.objectStore(META_STORE).put({ key: META_DEVICE, value: this.ctx.device });
    await done;
    this.box.set({ lastMseq: mark, rebuild: undefined });
  }
}
