// Pending changes: what the drain still has to send to Go. A save writes ONE
// object, the record, which carries its change (change_id, parents and the
// capture sequence `seq`; the version, doc, device, author and edit time
// are the record's own). Two places hold pending changes:
//   - records whose seq is above the acknowledged watermark ("acked_seq"
//     in the acked store), found through the capture log: the write
//     transaction that gives records seqs also puts ONE object into the
//     captures store listing those seqs and the records' keys (an index
//     on seq cost an entry per save: docs/BENCHMARKS.md, issue 12, seventh
//     round). A listed seq is pending while its record still carries it
//     above the watermark; the log's objects wholly at or below the
//     watermark are never read, and the drain deletes them once per
//     1,000 changes sent (pruneCaptures);
//   - the outbox store, keyed by seq: a change whose record was overwritten
//     before Go acknowledged it (moved there, with its doc, in the same
//     transaction as the overwrite), a retried refused change, and entries
//     written before this design (database version 2).
// Every seq comes from one counter (meta "capture_seq") read and written
// inside the writing transaction, so tabs never share one and the capture
// order is the seq order. The drain sends both kinds merged in seq order and
// moves the watermark only over a contiguous prefix of acknowledged records.

import { ACKED_STORE, CAPTURES_STORE, META_CAPTURE_SEQ, OUTBOX_STORE, RECORDS_STORE, type CaptureEntry } from '../db';
import type { Change } from '../types';
import { request } from './idb';
import type { LocalRecord, OutboxEntry, SyncState } from './types';

export { META_CAPTURE_SEQ };
/** Key of the watermark in the acked store: every record change with seq <= it is settled in Go. */
export const ACKED_SEQ_KEY = 'acked_seq';

/** A pending change and its capture sequence. */
export interface PendingChange {
  seq: number;
  change: Change;
  /** Where it waits: the record itself or an outbox entry. */
  from: 'record' | 'outbox';
  /** The record's sync state when it was read (from: 'record'). */
  state?: SyncState;
}

/** Most changes Captured keeps in memory (past it the oldest go first: they are read from IndexedDB). */
const CAPTURED_MAX = 50_000;

/**
 * The changes this page captured, by seq, until Go answers them: the drain
 * sends them from memory instead of reading their records back through the
 * seq index in a transaction that waits for the saves being written
 * (docs/BENCHMARKS.md, issue 12, fourth round). A seq's change never
 * changes once captured (a save over it moves the very same change into the
 * outbox), so a copy is exact; readCaptured says when the copies are all
 * there is to send.
 */
export class Captured {
  private readonly bySeq = new Map<number, PendingChange>();

  /** Notes the records a committed write stored (those carrying a change). */
  add(recs: readonly LocalRecord[]): void {
    for (const rec of recs) {
      const change = changeOf(rec);
      if (!change || rec.seq === undefined) continue;
      this.bySeq.set(rec.seq, { seq: rec.seq, change, from: 'record', state: rec.state });
    }
    // Map keeps insertion order: the oldest go first.
    for (const seq of this.bySeq.keys()) {
      if (this.bySeq.size <= CAPTURED_MAX) break;
      this.bySeq.delete(seq);
    }
  }

  /** Forgets the change with this seq (Go answered it). */
  settle(seq: number): void {
    this.bySeq.delete(seq);
  }

  /** Whether a kept change has a seq above from (any, when from is undefined). */
  hasAbove(from: number | undefined): boolean {
    for (const seq of this.bySeq.keys()) if (from === undefined || seq > from) return true;
    return false;
  }

  /** Up to limit kept changes with seq above from, in seq order (forgets those at or below it). */
  after(from: number, limit: number): PendingChange[] {
    const out: PendingChange[] = [];
    for (const [seq, it] of this.bySeq) {
      if (seq <= from) this.bySeq.delete(seq);
      else out.push(it);
    }
    out.sort((a, b) => a.seq - b.seq);
    return out.slice(0, limit);
  }
}

/**
 * Like readPending, but takes the changes from captured, without reading a
 * record: only when the kept changes have every seq from just above after
 * (and the watermark) on, with no gap. Every seq is issued once, from one
 * counter, so no change captured elsewhere (another tab, a retried refusal)
 * can lie among them; and a kept change is exact wherever it waits now
 * (its record, or the outbox after an overwrite: the outbox keys of the
 * range are read to say which). Resolves undefined otherwise: the caller
 * then reads with readPending. The transaction covers the outbox and the
 * acked stores only, so it never waits for saves being written to the
 * records store.
 */
export function readCaptured(
  db: IDBDatabase,
  after: number | undefined,
  limit: number,
  captured: Captured,
): Promise<PendingRead | undefined> {
  // Nothing kept to send (a single edit's last look): no transaction.
  if (!captured.hasAbove(after)) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const tx = db.transaction([OUTBOX_STORE, ACKED_STORE], 'readonly');
    readAcked(tx, (acked) => {
      const from = Math.max(after ?? acked, acked);
      const kept = captured.after(from, limit);
      const last = kept[kept.length - 1]?.seq;
      if (last === undefined || kept.some((it, i) => it.seq !== from + 1 + i)) {
        resolve(undefined);
        return;
      }
      const range = IDBKeyRange.bound(from, last, true, false);
      request(tx.objectStore(OUTBOX_STORE).getAllKeys(range)).then((keys) => {
        const moved = new Set(keys);
        const items = kept.map((it): PendingChange => (moved.has(it.seq) ? { seq: it.seq, change: it.change, from: 'outbox' } : it));
        resolve({ acked, items, scanned: last, more: true });
      }, reject);
    });
  });
}

/** Most echoes kept (the oldest go first). */
const ECHOES_MAX = 50_000;

/** Notes that Go accepted the change that made version of record key, unconflicted. */
export function noteEcho(echoes: Map<string, string>, key: string, version: string): void {
  echoes.delete(key);
  echoes.set(key, version);
  if (echoes.size > ECHOES_MAX) {
    const oldest = echoes.keys().next();
    if (!oldest.done) echoes.delete(oldest.value);
  }
}

/** The change a record carries, or undefined when it carries none. */
export function changeOf(rec: LocalRecord): Change | undefined {
  if (rec.seq === undefined || rec.change_id === undefined) return undefined;
  const c: Change = {
    change_id: rec.change_id,
    collection: rec.collection,
    record_id: rec.record_id,
    op: rec.deleted ? 'delete' : 'put',
    version: rec.version,
    parents: rec.parents ?? [],
    device: rec.device ?? '',
    edited_at: rec.edited_at ?? rec.updated_at,
  };
  if (rec.doc && !rec.deleted) c.doc = rec.doc;
  if (rec.author) c.author = rec.author;
  return c;
}

/**
 * Whether rec holds a change Go has not settled, given the watermark. A
 * record marked rejected holds a change Go refused, which waits in the
 * rejected store: settled, even while the watermark is still below it.
 */
export function isPending(rec: LocalRecord | undefined, acked: number): rec is LocalRecord & { seq: number } {
  return rec?.seq !== undefined && rec.seq > acked && rec.rejected === undefined;
}

/** A meta number from a get() result (0 when unset). */
export function metaNumber(v: { value?: unknown } | undefined): number {
  return typeof v?.value === 'number' ? v.value : 0;
}

/**
 * Reads the watermark inside tx (which must include the acked store) and
 * calls then with it; requests made after this call see it set.
 */
export function readAcked(tx: IDBTransaction, then: (acked: number) => void): void {
  const req = tx.objectStore(ACKED_STORE).get(ACKED_SEQ_KEY) as IDBRequest<{ value?: unknown } | undefined>;
  req.onsuccess = () => then(metaNumber(req.result));
}

/**
 * Writes next over prev in the records store of tx so that no pending
 * change is lost: when next keeps prev's version it keeps prev's change
 * too; otherwise prev's pending change moves into the outbox under its own
 * seq (tx must include the outbox store). Returns what was written.
 */
export function putKeeping(
  tx: IDBTransaction,
  prev: LocalRecord | undefined,
  next: LocalRecord,
  acked: number,
): LocalRecord {
  let rec = next;
  if (prev && prev.seq !== undefined && prev.version === next.version && next.seq === undefined) {
    rec = { ...next, seq: prev.seq };
    if (prev.change_id !== undefined) rec.change_id = prev.change_id;
    if (prev.parents !== undefined) rec.parents = prev.parents;
  } else if (isPending(prev, acked) && prev.seq !== next.seq) {
    moveToOutbox(tx, prev);
  }
  tx.objectStore(RECORDS_STORE).put(rec);
  return rec;
}

/** Puts rec's pending change into the outbox under its seq. */
function moveToOutbox(tx: IDBTransaction, rec: LocalRecord): void {
  const c = changeOf(rec);
  if (!c || rec.seq === undefined) return;
  tx.objectStore(OUTBOX_STORE).put({ ...c, seq: rec.seq } satisfies OutboxEntry);
}

/** The stores readPending and countPending read. */
export const PENDING_SCOPE = [OUTBOX_STORE, RECORDS_STORE, ACKED_STORE, CAPTURES_STORE];

/**
 * Logs the capture sequences of recs (those just given one in tx, in
 * ascending order) as one object of the capture log; tx must include the
 * captures store.
 */
export function logCaptures(tx: IDBTransaction, recs: readonly LocalRecord[]): void {
  const entry: CaptureEntry = { last: 0, seqs: [], keys: [] };
  for (const rec of recs) {
    if (rec.seq === undefined) continue;
    entry.seqs.push(rec.seq);
    entry.keys.push([rec.collection, rec.record_id]);
    entry.last = Math.max(entry.last, rec.seq);
  }
  if (entry.seqs.length > 0) tx.objectStore(CAPTURES_STORE).put(entry);
}

/** Deletes the capture log's objects wholly at or below the watermark (tx: readwrite over the captures and acked stores). */
export function pruneCaptures(tx: IDBTransaction): void {
  readAcked(tx, (acked) => {
    if (acked > 0) tx.objectStore(CAPTURES_STORE).delete(IDBKeyRange.upperBound(acked));
  });
}

/** A seq of the capture log and its record, when that record still carries it. */
interface Logged {
  seq: number;
  rec: (LocalRecord & { seq: number }) | undefined;
}

/**
 * Reads the capture log's seqs above from, ascending, at most limit (full
 * says there were more), and each one's record: rec is set only when the
 * record still carries that seq (a later save moved the change into the
 * outbox, a retried refusal took it off, a delete removed the record).
 */
function readLogged(tx: IDBTransaction, from: number, limit: number | undefined): Promise<{ logged: Logged[]; full: boolean }> {
  return request(tx.objectStore(CAPTURES_STORE).getAll(IDBKeyRange.lowerBound(from, true)) as IDBRequest<CaptureEntry[]>).then(
    (entries) => {
      const listed: { seq: number; key: [string, string] }[] = [];
      for (const e of entries) {
        e.seqs.forEach((seq, i) => {
          const key = e.keys[i];
          if (seq > from && key) listed.push({ seq, key });
        });
      }
      listed.sort((a, b) => a.seq - b.seq);
      const full = limit !== undefined && listed.length > limit;
      const take = full ? listed.slice(0, limit) : listed;
      if (take.length === 0) return { logged: [], full };
      const records = tx.objectStore(RECORDS_STORE);
      // Requests answer in order: the last one's answer means all are in.
      const recs = take.map((it) => records.get(it.key) as IDBRequest<LocalRecord | undefined>);
      return request(recs[recs.length - 1] as IDBRequest<LocalRecord | undefined>).then(() => ({
        logged: take.map(({ seq }, i): Logged => {
          const rec = recs[i]?.result;
          return { seq, rec: rec?.seq === seq ? (rec as LocalRecord & { seq: number }) : undefined };
        }),
        full,
      }));
    },
  );
}

/**
 * Counts the pending changes inside tx (PENDING_SCOPE):
 * outbox entries plus records above the watermark (a record refused while
 * the watermark waits for an earlier batch counts until it passes).
 */
export function countPending(tx: IDBTransaction): Promise<number> {
  return new Promise((resolve, reject) => {
    readAcked(tx, (acked) => {
      const o = request(tx.objectStore(OUTBOX_STORE).count());
      const r = readLogged(tx, acked, undefined).then(({ logged }) => logged.filter((l) => l.rec).length);
      Promise.all([o, r]).then(([a, b]) => resolve(a + b), reject);
    });
  });
}

/** What readPending read. */
export interface PendingRead {
  /** The watermark. */
  acked: number;
  /** Pending changes in seq order, at most limit. */
  items: PendingChange[];
  /** The highest seq examined (a record refused meanwhile is examined, not an item); read on after it. */
  scanned: number | undefined;
  /** There may be more after scanned. */
  more: boolean;
}

/**
 * Reads up to limit pending changes with seq above after (from the start
 * when undefined), in seq order, from one snapshot: tx must be a readonly
 * transaction over PENDING_SCOPE. The outbox and the records are read up
 * to limit each and merged only up to the lower of the last seqs of a read
 * that came back full, so nothing unread lies below what is returned.
 */
export function readPending(tx: IDBTransaction, after: number | undefined, limit: number | undefined): Promise<PendingRead> {
  return new Promise((resolve, reject) => {
    readAcked(tx, (acked) => {
      const outRange = after === undefined ? null : IDBKeyRange.lowerBound(after, true);
      const recFrom = Math.max(after ?? acked, acked);
      const o = request(tx.objectStore(OUTBOX_STORE).getAll(outRange, limit) as IDBRequest<OutboxEntry[]>);
      const r = readLogged(tx, recFrom, limit);
      Promise.all([o, r]).then(([entries, { logged: recs, full: fullLog }]) => {
        const full = (n: number) => limit !== undefined && n >= limit;
        let bound = Infinity;
        if (full(entries.length)) bound = Math.min(bound, entries[entries.length - 1]?.seq ?? Infinity);
        if (fullLog) bound = Math.min(bound, recs[recs.length - 1]?.seq ?? Infinity);
        const items: PendingChange[] = [];
        let scanned: number | undefined;
        let i = 0;
        let j = 0;
        for (;;) {
          if (limit !== undefined && items.length >= limit) break;
          const e = entries[i];
          const rec = recs[j];
          const es = e?.seq ?? Infinity;
          const rs = rec?.seq ?? Infinity;
          const seq = Math.min(es, rs);
          if (seq === Infinity || seq > bound) break;
          scanned = seq;
          if (e && es <= rs) {
            const { seq: _seq, ...change } = e;
            items.push({ seq, change, from: 'outbox' });
            i++;
            if (es === rs) j++; // the same change in both places (an overwrite racing a read): once
          } else if (rec) {
            const change = rec.rec && changeOf(rec.rec);
            if (change && isPending(rec.rec, acked)) items.push({ seq, change, from: 'record', state: rec.rec?.state });
            j++;
          }
        }
        const more = bound !== Infinity || i < entries.length || j < recs.length;
        resolve({ acked, items, scanned, more });
      }, reject);
    });
  });
}
