// Reads: the loaded collections (in-memory indexes, filled from IndexedDB
// once) and the reads of single records, the pending and the refused changes.
// Every job that rewrites records hands them to apply(), which updates the
// loaded indexes, tells subscribers and tells other tabs.

import { RECORDS_STORE, REJECTED_STORE } from '../db';
import type { Change } from '../types';
import type { Context } from './context';
import type { CrossTab } from './crosstab';
import { collectionRange, request } from './idb';
import { CollectionIndex } from './memindex';
import { countPending, PENDING_SCOPE, readPending } from './pending';
import type { StatusBox } from './status';
import type {
  ChangeNotice,
  ListPage,
  ListQuery,
  LocalRecord,
  Progress,
  RejectedChange,
  SyncState,
} from './types';

/** The loaded collections and the reads of the data layer. */
export class RecordCache {
  private readonly indexes = new Map<string, CollectionIndex>();
  private readonly loading = new Map<string, Promise<CollectionIndex>>();
  /** Writes that landed while a collection loaded; applied after the load. */
  private readonly buffered = new Map<string, LocalRecord[][]>();

  constructor(
    private readonly ctx: Context,
    private readonly box: StatusBox,
    private readonly tabs: CrossTab,
  ) {}

  /** One record, deleted ones included; undefined when there is none. */
  async get(collection: string, id: string): Promise<LocalRecord | undefined> {
    const idx = this.indexes.get(collection);
    if (idx) return idx.get(id);
    const tx = this.ctx.db.transaction(RECORDS_STORE, 'readonly');
    return request(tx.objectStore(RECORDS_STORE).get([collection, id]) as IDBRequest<LocalRecord | undefined>);
  }

  /** The sync state of a loaded record, or undefined. */
  stateOf(collection: string, id: string): SyncState | undefined {
    return this.indexes.get(collection)?.get(id)?.state;
  }

  /**
   * Loads the in-memory index of collection from IndexedDB once, reporting
   * progress (also in status.loading). Later calls return at once.
   */
  load(collection: string, onProgress?: (p: Progress) => void): Promise<CollectionIndex> {
    const have = this.indexes.get(collection);
    if (have) return Promise.resolve(have);
    let p = this.loading.get(collection);
    if (!p) {
      p = this.loadIndex(collection, onProgress).finally(() => this.loading.delete(collection));
      this.loading.set(collection, p);
    }
    return p;
  }

  private async loadIndex(collection: string, onProgress?: (p: Progress) => void): Promise<CollectionIndex> {
    this.buffered.set(collection, []);
    const idx = new CollectionIndex(collection);
    try {
      const range = collectionRange(collection);
      const total = await request(this.ctx.db.transaction(RECORDS_STORE, 'readonly').objectStore(RECORDS_STORE).count(range));
      let done = 0;
      const report = () => {
        const p = { collection, done, total: Math.max(total, done) };
        onProgress?.(p);
        this.box.set({ loading: p });
      };
      report();
      let lower: IDBKeyRange = range;
      for (;;) {
        const store = this.ctx.db.transaction(RECORDS_STORE, 'readonly').objectStore(RECORDS_STORE);
        const chunk = await request(store.getAll(lower, this.ctx.loadChunk) as IDBRequest<LocalRecord[]>);
        idx.upsert(chunk);
        done += chunk.length;
        report();
        const last = chunk[chunk.length - 1];
        if (chunk.length < this.ctx.loadChunk || !last) break;
        lower = IDBKeyRange.bound([collection, last.record_id], [collection, []], true, false);
      }
      for (const batch of this.buffered.get(collection) ?? []) idx.upsert(batch);
      this.indexes.set(collection, idx);
      return idx;
    } finally {
      this.buffered.delete(collection);
      this.box.set({ loading: undefined });
    }
  }

  /** Searches, sorts and pages collection (loading it first if needed). */
  async list(collection: string, q: ListQuery = {}): Promise<ListPage> {
    const idx = await this.load(collection);
    return idx.list(q);
  }

  /** The changes Go rejected, oldest first. */
  async rejected(): Promise<RejectedChange[]> {
    const all = await request(
      this.ctx.db.transaction(REJECTED_STORE, 'readonly').objectStore(REJECTED_STORE).getAll() as IDBRequest<RejectedChange[]>,
    );
    return all.sort((a, b) => a.rejected_at - b.rejected_at);
  }

  /** Captured changes not yet acknowledged by Go, in capture order. */
  async outbox(limit?: number): Promise<Change[]> {
    const tx = this.ctx.db.transaction(PENDING_SCOPE, 'readonly');
    const { items } = await readPending(tx, undefined, limit);
    return items.map((it) => it.change);
  }

  /** Changes captured here that Go has not acknowledged yet. */
  outboxCount(): Promise<number> {
    return countPending(this.ctx.db.transaction(PENDING_SCOPE, 'readonly'));
  }

  /**
   * Puts rewritten records into the loaded indexes (and the loads under
   * way), tells subscribers and, unless broadcast is false, other tabs.
   */
  apply(recs: LocalRecord[], cause: ChangeNotice['cause'], broadcast = true): void {
    const by = new Map<string, LocalRecord[]>();
    for (const r of recs) {
      let l = by.get(r.collection);
      if (!l) by.set(r.collection, (l = []));
      l.push(r);
    }
    for (const [collection, list] of by) {
      this.indexes.get(collection)?.upsert(list);
      this.buffered.get(collection)?.push(list);
      const ids = list.map((r) => r.record_id);
      this.box.notify(collection, ids, cause);
      if (broadcast) this.tabs.post(collection, ids);
    }
  }

  /** Removes records that are gone from IndexedDB from a loaded index. */
  forget(collection: string, ids: string[]): void {
    this.indexes.get(collection)?.delete(ids);
  }
}
