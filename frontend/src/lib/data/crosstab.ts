// Cross-tab sync: every tab of this profile shares one IndexedDB, so a tab
// that changed records tells the others which ones (a BroadcastChannel),
// and they re-read those records and the pending and refused counts.

import { RECORDS_STORE, REJECTED_STORE } from '../db';
import type { RecordCache } from './cache';
import type { Context } from './context';
import { request } from './idb';
import { countPending, PENDING_SCOPE } from './pending';
import type { StatusBox } from './status';
import type { LocalRecord } from './types';

/** The part of BroadcastChannel the data layer uses. */
export interface TabChannel {
  postMessage(message: unknown): void;
  onmessage: ((ev: MessageEvent) => void) | null;
  close(): void;
}

/** What one tab tells the others: these records changed in IndexedDB. */
export interface TabMessage {
  collection: string;
  ids: string[];
}

/**
 * The channel to use: the one given, none for null, and by default a
 * BroadcastChannel named "fieldsync-data" where there is one.
 */
export function openChannel(channel: TabChannel | null | undefined): TabChannel | undefined {
  return channel === null
    ? undefined
    : (channel ?? (typeof BroadcastChannel === 'function' ? new BroadcastChannel('fieldsync-data') : undefined));
}

/** This tab's end of the channel (none: a single tab). */
export class CrossTab {
  constructor(private readonly channel: TabChannel | undefined) {}

  /** Tells the other tabs that these records (or, with no ids, the counts) changed. */
  post(collection: string, ids: string[]): void {
    this.channel?.postMessage({ collection, ids } satisfies TabMessage);
  }

  /** Calls receive with what other tabs post. */
  listen(receive: (msg: TabMessage) => void): void {
    if (this.channel) this.channel.onmessage = (ev: MessageEvent) => receive(ev.data as TabMessage);
  }

  close(): void {
    if (this.channel) {
      this.channel.onmessage = null;
      this.channel.close();
    }
  }
}

/** Re-reads records another tab changed and updates the loaded index. */
export async function fromOtherTab(ctx: Context, box: StatusBox, cache: RecordCache, msg: TabMessage): Promise<void> {
  if (ctx.closed || !msg || typeof msg.collection !== 'string' || !Array.isArray(msg.ids)) return;
  const tx = ctx.db.transaction([...PENDING_SCOPE, REJECTED_STORE], 'readonly');
  const store = tx.objectStore(RECORDS_STORE);
  // Every request is made before the first await, while the transaction is active.
  const gets = msg.ids.map((id) => request(store.get([msg.collection, id]) as IDBRequest<LocalRecord | undefined>));
  const outbox = countPending(tx);
  const rejected = request(tx.objectStore(REJECTED_STORE).count());
  const [got, o, r] = await Promise.all([Promise.all(gets), outbox, rejected]);
  box.set({ outbox: o, rejected: r });
  const found = got.filter((x): x is LocalRecord => x !== undefined);
  const gone = msg.ids.filter((_, i) => got[i] === undefined);
  if (gone.length > 0) cache.forget(msg.collection, gone);
  cache.apply(found, 'remote', false);
  if (found.length === 0 && gone.length > 0) box.notify(msg.collection, gone, 'remote');
}
