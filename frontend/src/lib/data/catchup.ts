// Catch-up (pull): Go's mirror sequence is the one channel for what changed
// in Go. Entries are applied by version without creating pending changes; a
// record whose local version is newer is left alone; the echo of a change
// this page sent is skipped without a read. A truncated sequence or
// an IndexedDB that never caught up is rebuilt (rebuild.ts).

import { ACKED_STORE, describeError, META_STORE, OUTBOX_STORE, RECORDS_STORE, UNSYNCED_STORE } from '../db';
import { compareVersions } from '../hlc';
import type { MirrorEntry } from '../types';
import type { RecordCache } from './cache';
import { keyOf, META_DEVICE, META_LAST_MSEQ, type Context } from './context';
import { txDone } from './idb';
import { putKeeping, readAcked } from './pending';
import type { OutboxDrain } from './drain';
import type { Rebuild } from './rebuild';
import { logUnsynced } from './states';
import type { StatusBox } from './status';
import type { LocalRecord, SyncState } from './types';

/** Applies what changed in Go since the last mirror sequence seen here. */
export class CatchUp {
  private catching: Promise<void> | undefined;
  private catchAgain = false;
  private requested = false;
  private holds = 0;

  constructor(
    private readonly ctx: Context,
    private readonly box: StatusBox,
    private readonly cache: RecordCache,
    private readonly rebuilder: Rebuild,
    private readonly drain: Pick<OutboxDrain, 'whenIdle'>,
  ) {}

  /**
   * Runs catch-up in the background (errors go to onError), after the
   * drain running now: while changes go to Go, Go's events mostly announce
   * their echoes, and one catch-up after the drain reads them all at once
   * instead of competing with the capture for IndexedDB, Go and the CPU.
   */
  request(): void {
    if (this.requested) return;
    this.requested = true;
    if (this.holds > 0) return; // released() asks again
    this.drain.whenIdle(() => {
      this.requested = false;
      this.run().catch((err: unknown) => this.ctx.onError(err));
    });
  }

  /**
   * Holds background catch-ups until the returned function is called; one
   * asked for meanwhile runs then. run() is not held.
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      if (this.holds === 0 && this.requested) {
        this.requested = false;
        this.request();
      }
    };
  }

  /**
   * Applies what changed in Go since the last mirror sequence seen here
   * (paged), rebuilding from UI.Records when the sequence was truncated or
   * this IndexedDB never caught up. Concurrent calls share one run.
   */
  run(): Promise<void> {
    if (this.catching) {
      this.catchAgain = true;
      return this.catching;
    }
    this.catching = this.loop().finally(() => {
      this.catching = undefined;
    });
    return this.catching;
  }

  private async loop(): Promise<void> {
    this.box.set({ catchingUp: true });
    try {
      do {
        this.catchAgain = false;
        await this.once();
      } while (this.catchAgain && !this.ctx.closed);
      if (this.box.get().mirror === 'idle') this.box.set({ error: undefined });
    } catch (err) {
      this.box.set({ error: describeError(err) });
      throw err;
    } finally {
      this.box.set({ catchingUp: false });
    }
  }

  private async once(): Promise<void> {
    let after = this.box.get().lastMseq;
    if (after < 0) {
      await this.rebuilder.run();
      after = this.box.get().lastMseq;
    }
    for (;;) {
      if (this.ctx.closed) return;
      const page = await this.ctx.api.mirrorSince(after, this.ctx.pageSize);
      const entries = page.entries ?? [];
      if (page.truncated || page.last_mseq < after) {
        await this.rebuilder.run();
        after = this.box.get().lastMseq;
        continue;
      }
      if (entries.length === 0) return;
      const last = entries.reduce((m, e) => Math.max(m, e.mseq), after);
      if (last === after) throw new Error(`fieldsync answered mirror entries at or before ${after} when asked for later ones`);
      await this.applyEntries(entries, last);
      after = last;
      if (after >= page.last_mseq) return;
    }
  }

  /** Applies mirror entries by version and records last as the mseq seen. */
  private async applyEntries(entries: MirrorEntry[], last: number): Promise<void> {
    for (const e of entries) {
      this.ctx.hlc.observe(e.change.version);
      this.ctx.hlc.observe(e.winner);
    }
    // Go's echo of a change this page sent and saw accepted changes nothing
    // here (the record is at that version or newer): no read for it.
    const sorted = skipEchoes(this.ctx.echoes, entries);
    const scope = sorted.length === 0 ? [META_STORE] : [RECORDS_STORE, OUTBOX_STORE, ACKED_STORE, META_STORE, UNSYNCED_STORE];
    const tx = this.ctx.db.transaction(scope, 'readwrite');
    const done = txDone(tx);
    const at = Math.floor(this.ctx.now());
    let acked = 0;
    if (sorted.length > 0) readAcked(tx, (a) => (acked = a));
    const stored = new Map<string, LocalRecord | undefined>();
    const current = new Map<string, LocalRecord | undefined>();
    const changed = new Map<string, LocalRecord>();
    const fetch = new Map<string, { collection: string; id: string }>();
    // Read every record first (requests run in order), then apply in mseq order.
    let left = sorted.length;
    for (const e of sorted) {
      const k = keyOf(e.change.collection, e.change.record_id);
      const req = tx.objectStore(RECORDS_STORE).get([e.change.collection, e.change.record_id]) as IDBRequest<
        LocalRecord | undefined
      >;
      req.onsuccess = () => {
        if (!current.has(k)) {
          current.set(k, req.result);
          stored.set(k, req.result);
        }
        if (--left > 0) return;
        for (const en of sorted) {
          const key = keyOf(en.change.collection, en.change.record_id);
          const next = applyEntry(current.get(key), en, at);
          if (next === 'fetch') {
            fetch.set(key, { collection: en.change.collection, id: en.change.record_id });
          } else if (next) {
            current.set(key, next);
            changed.set(key, next);
            fetch.delete(key);
          }
        }
        // A record replaced while it holds a change Go has not settled keeps
        // that change: it moves into the outbox.
        for (const [k, r] of changed) changed.set(k, putKeeping(tx, stored.get(k), r, acked));
        logUnsynced(tx, [...changed.values()]);
        tx.objectStore(META_STORE).put({ key: META_LAST_MSEQ, value: last });
        tx.objectStore(META_STORE).put({ key: META_DEVICE, value: this.ctx.device });
      };
    }
    if (sorted.length === 0) tx.objectStore(META_STORE).put({ key: META_LAST_MSEQ, value: last });
    await done;
    this.box.set({ lastMseq: last });
    this.cache.apply([...changed.values()], 'remote');
    for (const f of fetch.values()) {
      const rec = await this.ctx.api.record(f.collection, f.id);
      await this.rebuilder.applyStoreRecords([rec]);
    }
  }
}

/**
 * The entries to apply, in mseq order: without Go's echoes of changes this
 * page sent and saw accepted without a conflict (each echo is used once),
 * unless another entry of the page touches the same record.
 */
export function skipEchoes(echoes: Map<string, string>, entries: MirrorEntry[]): MirrorEntry[] {
  const sorted = [...entries].sort((a, b) => a.mseq - b.mseq);
  if (echoes.size === 0) return sorted;
  const isEcho = (e: MirrorEntry) =>
    !e.conflicted && e.change.version === e.winner && echoes.get(keyOf(e.change.collection, e.change.record_id)) === e.winner;
  const other = new Set<string>();
  for (const e of sorted) if (!isEcho(e)) other.add(keyOf(e.change.collection, e.change.record_id));
  const out: MirrorEntry[] = [];
  for (const e of sorted) {
    const k = keyOf(e.change.collection, e.change.record_id);
    if (!other.has(k) && isEcho(e)) {
      echoes.delete(k);
      continue;
    }
    out.push(e);
  }
  return out;
}

/**
 * What an entry makes of the local record: the new record, undefined for
 * no change, or 'fetch' when the winner's document must come from Go.
 */
function applyEntry(local: LocalRecord | undefined, e: MirrorEntry, at: number): LocalRecord | undefined | 'fetch' {
  const c = e.change;
  if (local && compareVersions(local.version, e.winner) > 0) {
    // A newer local edit (in the outbox or on its way back): keep it, but
    // remember a conflict Go found.
    if (e.conflicted && local.state !== 'conflict') return { ...local, state: 'conflict', updated_at: at };
    return undefined;
  }
  let state: SyncState;
  if (e.conflicted) state = 'conflict';
  else if (e.origin === 'remote') state = 'synced';
  else if (local?.state === 'local' && local.version === e.winner) state = 'local';
  else if (local?.state === 'synced' && local.version === e.winner) state = 'synced';
  else state = 'pending';
  const leaves = e.conflicted
    ? Array.from(new Set([...(local?.leaves ?? []), c.version, e.winner])).sort()
    : [e.winner];
  if (local && local.version === e.winner) {
    if (local.state === state && sameLeaves(local.leaves, leaves)) return undefined;
    return { ...local, state, leaves, updated_at: at };
  }
  if (c.version !== e.winner) return 'fetch';
  const rec: LocalRecord = {
    collection: c.collection,
    record_id: c.record_id,
    version: c.version,
    deleted: e.deleted,
    leaves,
    state,
    updated_at: at,
    edited_at: c.edited_at,
    device: c.device,
  };
  if (c.doc && !e.deleted) rec.doc = c.doc;
  if (c.author) rec.author = c.author;
  return rec;
}

function sameLeaves(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
