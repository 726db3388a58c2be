import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApi } from '../api';
import {
  ACKED_STORE,
  CAPTURES_STORE,
  META_STORE,
  migrations,
  OUTBOX_STORE,
  RECORDS_STORE,
  UNSYNCED_STORE,
  type CaptureEntry,
  type UnsyncedEntry,
} from '../db';
import { FakeGo } from '../../testing/fakeGo';
import { request, txDone } from './idb';
import { skipEchoes } from './catchup';
import { keyOf } from './context';
import { Watermark } from './drain';
import { ACKED_SEQ_KEY, Captured, META_CAPTURE_SEQ, PENDING_SCOPE, readPending, type PendingChange } from './pending';
import { DataStore, type DataStoreOptions } from './store';
import { DataError, type DataStatus, type LocalRecord, type OutboxEntry } from './types';
import type { Change, MirrorEntry } from '../types';

const VERSION_RE = /^\d{15}-[0-9a-f]{4}-dev1\.ui[0-9a-f]{4}$/;

const open: DataStore[] = [];

afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** A clock that moves 1 ms per reading from a fixed start. */
function ticking(start = 1_700_000_000_000): () => number {
  let t = start;
  return () => t++;
}

/** Random bytes from a counter: predictable and unique per call. */
function counting(): (b: Uint8Array) => void {
  let n = 0;
  return (b) => {
    n++;
    for (let i = 0; i < b.length; i++) b[i] = (n >> (8 * (i % 4))) & 0xff;
  };
}

async function mustOpen(
  go: FakeGo,
  factory: IDBFactory,
  over: Partial<DataStoreOptions> = {},
): Promise<DataStore> {
  const s = await DataStore.open({
    indexedDB: factory,
    api: createApi(go.transport),
    now: ticking(),
    random: counting(),
    debounceMs: 60_000, // tests drain with flush(); no background runs
    retryMinMs: 60_000,
    channel: null,
    ...over,
  });
  open.push(s);
  return s;
}

/** Saves n new records r0..r<n-1> of "trees" in one putMany. */
function putRecords(s: DataStore, n: number): Promise<LocalRecord[]> {
  return s.putMany(
    'trees',
    Array.from({ length: n }, (_, i) => ({ id: `r${i}`, doc: { name: `n${i}` } })),
  );
}

/** Go's UI.Accept handler, to wrap. */
function acceptOf(go: FakeGo): (...args: unknown[]) => unknown {
  const accept = go.transport.handlers['UI.Accept'];
  if (!accept) throw new Error('no Accept handler');
  return accept;
}

/** The pending changes in capture order, wherever they wait (records or outbox). */
async function outboxOf(factory: IDBFactory): Promise<OutboxEntry[]> {
  const db = await request(factory.open('fieldsync'));
  try {
    const { items } = await readPending(db.transaction(PENDING_SCOPE), undefined, undefined);
    return items.map((it) => ({ ...it.change, seq: it.seq }));
  } finally {
    db.close();
  }
}

/** The outbox store alone: the changes their records no longer carry. */
/** The keys the unsynced log lists, "collection/id", oldest object first. */
async function unsyncedOf(f: IDBFactory): Promise<string[]> {
  const db = await request(f.open('fieldsync'));
  try {
    const all = await request(db.transaction(UNSYNCED_STORE).objectStore(UNSYNCED_STORE).getAll() as IDBRequest<UnsyncedEntry[]>);
    return all.flatMap((e) => e.keys.map(([c, id]) => `${c}/${id}`));
  } finally {
    db.close();
  }
}

async function rawOutboxOf(factory: IDBFactory): Promise<OutboxEntry[]> {
  const db = await request(factory.open('fieldsync'));
  try {
    return await request(db.transaction(OUTBOX_STORE).objectStore(OUTBOX_STORE).getAll() as IDBRequest<OutboxEntry[]>);
  } finally {
    db.close();
  }
}

/** A number kept in the meta store, or the watermark in the acked store (0 when unset). */
async function metaOf(factory: IDBFactory, key: string): Promise<number> {
  const db = await request(factory.open('fieldsync'));
  const store = key === ACKED_SEQ_KEY ? ACKED_STORE : META_STORE;
  try {
    const v = (await request(db.transaction(store).objectStore(store).get(key))) as { value?: unknown } | undefined;
    return typeof v?.value === 'number' ? v.value : 0;
  } finally {
    db.close();
  }
}

async function recordsOf(factory: IDBFactory): Promise<LocalRecord[]> {
  const db = await request(factory.open('fieldsync'));
  try {
    return await request(db.transaction(RECORDS_STORE).objectStore(RECORDS_STORE).getAll() as IDBRequest<LocalRecord[]>);
  } finally {
    db.close();
  }
}

function statusOf(s: DataStore): DataStatus {
  let v: DataStatus | undefined;
  s.status.subscribe((x) => (v = x))();
  if (!v) throw new Error('no status');
  return v;
}

/** A change made on another device. */
function remoteChange(id: string, version: string, doc: Record<string, unknown>, parents: string[] = []): Change {
  return {
    change_id: `c${version.slice(0, 15)}${id}`.padEnd(32, '0').slice(0, 32),
    collection: 'trees',
    record_id: id,
    op: 'put',
    doc,
    version,
    parents,
    device: 'dev2',
    edited_at: 1,
  };
}

describe('writes', () => {
  it('writes the record and a full change into the outbox together', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const a = await s.put('trees', 'oak-1', { name: 'Oak' });
    const b = await s.put('trees', 'oak-1', { name: 'Old oak' });
    const created = await s.put('trees', null, { name: 'Beech' });

    expect(a.version).toMatch(VERSION_RE);
    expect(b.version > a.version).toBe(true);
    expect(created.record_id).toMatch(/^[0-9a-f]{32}$/);
    expect(a.state).toBe('local');
    expect(b.state).toBe('local');

    const outbox = await outboxOf(f);
    expect(outbox).toHaveLength(3);
    const [c1, c2] = outbox;
    expect(c1).toMatchObject({
      collection: 'trees',
      record_id: 'oak-1',
      op: 'put',
      doc: { name: 'Oak' },
      version: a.version,
      parents: [],
      device: 'dev1',
      author: 'ana',
    });
    expect(c1?.change_id).toMatch(/^[0-9a-f]{32}$/);
    expect(typeof c1?.edited_at).toBe('number');
    expect(c2).toMatchObject({ parents: [a.version], version: b.version, doc: { name: 'Old oak' } });
    expect(new Set(outbox.map((c) => c.change_id)).size).toBe(3);

    const recs = await recordsOf(f);
    expect(recs.find((r) => r.record_id === 'oak-1')).toMatchObject({ doc: { name: 'Old oak' }, version: b.version });
    expect(statusOf(s).outbox).toBe(3);
  });

  it('writes neither the record nor the moved change when the transaction aborts', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const a = await s.put('trees', 'a', { name: 'A' });
    // The overwrite moves A's unsent change into the outbox, then the record
    // write fails (a full disk): both must be undone.
    const real = IDBObjectStore.prototype.put;
    const fail = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args) {
      if (this.name === RECORDS_STORE) throw new DOMException('the disk is full', 'QuotaExceededError');
      return real.apply(this, args);
    });
    try {
      await expect(s.put('trees', 'a', { name: 'B' })).rejects.toThrow();
    } finally {
      fail.mockRestore();
    }
    expect(await recordsOf(f)).toMatchObject([{ record_id: 'a', version: a.version, doc: { name: 'A' } }]);
    expect(await rawOutboxOf(f)).toEqual([]);
    expect((await outboxOf(f)).map((c) => c.version)).toEqual([a.version]);
    expect(statusOf(s).outbox).toBe(1);
  });

  it('writes a whole putMany batch or nothing', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const real = IDBObjectStore.prototype.put;
    let n = 0;
    const fail = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args) {
      if (this.name === RECORDS_STORE && ++n === 2) throw new DOMException('the disk is full', 'QuotaExceededError');
      return real.apply(this, args);
    });
    try {
      await expect(
        s.putMany('trees', [
          { id: 'a', doc: { name: 'A' } },
          { id: 'b', doc: { name: 'B' } },
        ]),
      ).rejects.toThrow();
    } finally {
      fail.mockRestore();
    }
    expect(await recordsOf(f)).toEqual([]);
    expect(await outboxOf(f)).toEqual([]);
    // The capture counter was not moved either: the next save takes seq 1.
    await s.put('trees', 'c', { name: 'C' });
    expect((await outboxOf(f)).map((c) => c.seq)).toEqual([1]);
  });

  it.each([
    ['an array doc', 'trees', 'x', [] as unknown, 'a record must be an object of fields'],
    ['a null doc', 'trees', 'x', null, 'a record must be an object of fields'],
    ['a slash in the id', 'trees', 'a/b', {}, 'record id contains a slash'],
    ['an empty collection', '', 'x', {}, 'collection is empty'],
    ['a long id', 'trees', 'x'.repeat(201), {}, 'record id is longer than 200 bytes'],
  ])('refuses %s and writes nothing', async (_name, collection, id, doc, message) => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const err = await s.put(collection, id, doc as Record<string, unknown>).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as Error).message).toContain(message);
    expect(await outboxOf(f)).toEqual([]);
  });

  it('deletes with a tombstone and a delete change, and undo brings the doc back', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const a = await s.put('trees', 'a', { name: 'A' });
    const removed = await s.remove('trees', 'a');
    expect(removed.previous.doc).toEqual({ name: 'A' });
    expect(removed.record).toMatchObject({ deleted: true, record_id: 'a' });
    expect(removed.record.doc).toBeUndefined();
    const back = await s.undo(removed);
    expect(back).toMatchObject({ deleted: false, doc: { name: 'A' } });

    const [put, del, again] = await outboxOf(f);
    expect(put?.version).toBe(a.version);
    expect(del).toMatchObject({ op: 'delete', parents: [a.version] });
    expect(del?.doc).toBeUndefined();
    expect(again).toMatchObject({ op: 'put', parents: [removed.record.version], doc: { name: 'A' } });
    expect((await s.list('trees')).rows.map((r) => r.record_id)).toEqual(['a']);
  });

  it('refuses to delete a record that does not exist', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await expect(s.remove('trees', 'nope')).rejects.toBeInstanceOf(DataError);
    expect(await outboxOf(f)).toEqual([]);
  });
});

describe('mirror loop', () => {
  it('sends the outbox to Go and deletes entries Go acknowledged', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.put('trees', 'a', { name: 'A' });
    await s.put('trees', 'b', { name: 'B' });
    await s.flush();
    expect(go.journal.map((c) => c.record_id)).toEqual(['a', 'b']);
    expect(await outboxOf(f)).toEqual([]);
    expect(statusOf(s)).toMatchObject({ mirror: 'idle', outbox: 0, rejected: 0 });
    expect(statusOf(s).error).toBeUndefined();
  });

  it('sends at most 500 changes per call', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await putRecords(s, 1200);
    await s.flush();
    expect(go.acceptSizes).toEqual([500, 500, 200]);
    expect(go.journal).toHaveLength(1200);
    expect(await outboxOf(f)).toEqual([]);
  });

  it('keeps two batches with Go at once, and a failed one is sent again without doubles', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await putRecords(s, 1700);
    const accept = acceptOf(go);
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    go.transport.handlers['UI.Accept'] = async (...args: unknown[]) => {
      const n = ++calls;
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 10)); // Go takes a while
      inFlight--;
      if (n === 2) throw new Error('the bridge dropped the call'); // the second batch fails
      return accept(...args);
    };
    await expect(s.flush()).rejects.toThrow('the bridge dropped the call');
    expect(most).toBe(2);
    // The failed batch (500) stays, and so do the 200 after it: no batch is
    // sent after a failure. The one in flight beside it (500) went through,
    // but the watermark cannot pass the failed batch, so it is sent again.
    expect(go.journal).toHaveLength(1000);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(500);
    expect(await outboxOf(f)).toHaveLength(1200);
    expect(statusOf(s).outbox).toBe(1200);
    await s.flush();
    expect(go.journal).toHaveLength(1700);
    expect(new Set(go.journal.map((c) => c.change_id)).size).toBe(1700);
    expect(await outboxOf(f)).toEqual([]);
    expect(statusOf(s)).toMatchObject({ outbox: 0 });
  });

  it('sends what this page wrote from memory and what another tab wrote from IndexedDB, each once', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s1 = await mustOpen(go, f);
    const s2 = await mustOpen(go, f, { random: (b) => crypto.getRandomValues(b) }); // ids of its own
    await s1.put('trees', 'a', { name: 'A' });
    await s2.put('trees', 'b', { name: 'B' }); // not in s1's memory
    await s1.put('trees', 'c', { name: 'C' });
    await s1.flush();
    expect(go.journal.map((c) => c.record_id)).toEqual(['a', 'b', 'c']);
    expect(go.journal.find((c) => c.record_id === 'b')?.doc).toEqual({ name: 'B' });
    expect(await outboxOf(f)).toEqual([]);
    await s2.flush(); // s2 still holds b: it is gone from the outbox, nothing is sent twice
    expect(go.journal).toHaveLength(3);
  });

  it('runs by itself shortly after an edit', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { debounceMs: 5 });
    await s.put('trees', 'a', { name: 'A' });
    await expect.poll(() => go.journal.length).toBe(1);
    await expect.poll(() => statusOf(s).outbox).toBe(0);
  });

  it('loses nothing and duplicates nothing when the answer is lost (crash before the ack)', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s1 = await mustOpen(go, f);
    const rec = await s1.put('trees', 'a', { name: 'A' });
    const [sent] = await outboxOf(f);
    go.loseAcks = 1; // Go appends the change, the answer never arrives
    await expect(s1.flush()).rejects.toBeInstanceOf(Error);
    expect(go.count(sent?.change_id ?? '')).toBe(1);
    expect(await outboxOf(f)).toHaveLength(1); // kept: Go did not acknowledge it
    expect(statusOf(s1).mirror).toBe('offline');
    s1.close(); // the app dies here

    const s2 = await mustOpen(go, f); // the next start resends it
    await s2.flush();
    expect(go.count(sent?.change_id ?? '')).toBe(1); // Go answered "duplicate"
    expect(go.journal).toHaveLength(1);
    expect(await outboxOf(f)).toEqual([]);
    expect((await s2.get('trees', 'a'))?.version).toBe(rec.version);
  });

  it('sends what was captured before a crash at the next start', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s1 = await mustOpen(go, f);
    await s1.put('trees', 'a', { name: 'A' });
    s1.close(); // killed before the mirror loop ran
    expect(go.journal).toEqual([]);
    const s2 = await mustOpen(go, f);
    expect(statusOf(s2).outbox).toBe(1);
    await s2.start();
    expect(go.journal.map((c) => c.record_id)).toEqual(['a']);
    expect(await outboxOf(f)).toEqual([]);
  });

  it('keeps a rejected change aside with its reason', async () => {
    const go = new FakeGo();
    go.reject = (c) => (c.record_id === 'bad' ? 'trees: field height: not a number' : undefined);
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.put('trees', 'good', { name: 'G' });
    await s.put('trees', 'bad', { name: 'B', height: 'tall' });
    await s.flush();
    expect(go.journal.map((c) => c.record_id)).toEqual(['good']);
    expect(await outboxOf(f)).toEqual([]);
    const rejected = await s.rejected();
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ reason: 'trees: field height: not a number', change: { record_id: 'bad' } });
    expect(statusOf(s)).toMatchObject({ rejected: 1, outbox: 0 });
    expect(await s.get('trees', 'bad')).toMatchObject({ rejected: 'trees: field height: not a number' });

    // Retried after the cause was fixed on the Go side: accepted.
    go.reject = () => undefined;
    await s.retryRejected(rejected[0]?.change_id ?? '');
    await s.flush();
    expect(go.journal.map((c) => c.record_id)).toEqual(['good', 'bad']);
    expect(await s.rejected()).toEqual([]);
    expect(statusOf(s).rejected).toBe(0);
  });

  it('discarding a rejected change restores what Go holds', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.put('trees', 'a', { name: 'A' });
    await s.flush();
    go.reject = () => 'no';
    await s.put('trees', 'a', { name: 'broken' });
    await s.flush();
    const [r] = await s.rejected();
    await s.discardRejected(r?.change_id ?? '');
    expect((await s.get('trees', 'a'))?.doc).toEqual({ name: 'A' });
    expect(await s.rejected()).toEqual([]);
  });

  it('never shows a change in both the outbox and rejected, nor in neither, when a retry fails', async () => {
    const go = new FakeGo();
    go.reject = () => 'no';
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.put('trees', 'a', { name: 'A' });
    await s.flush();
    const [r] = await s.rejected();
    if (!r) throw new Error('nothing was refused');
    // The outbox write fails inside the retry's transaction (a full disk):
    // the delete from "rejected" made just before it must be undone too.
    const add = vi.spyOn(IDBObjectStore.prototype, 'add').mockImplementationOnce(() => {
      throw new DOMException('the disk is full', 'QuotaExceededError');
    });
    try {
      await expect(s.retryRejected(r.change_id)).rejects.toThrow();
    } finally {
      add.mockRestore();
    }
    expect((await s.rejected()).map((x) => x.change_id)).toEqual([r.change_id]);
    expect(await outboxOf(f)).toEqual([]);
    expect(statusOf(s)).toMatchObject({ rejected: 1, outbox: 0 });

    // fieldsync stops answering, so the drain that a retry starts at once
    // cannot move the change on before the outbox is read.
    go.offline = true;
    await s.retryRejected(r.change_id);
    expect(await s.rejected()).toEqual([]);
    expect((await outboxOf(f)).map((e) => e.change_id)).toEqual([r.change_id]);
    expect(statusOf(s)).toMatchObject({ rejected: 0, outbox: 1 });
  });

  it('clears the refusal mark on retry and brings the change back with the new reason when Go refuses again', async () => {
    const go = new FakeGo();
    go.reject = () => 'trees invalid record: name is required';
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.put('trees', 'a', { title: 'no name' });
    await s.flush();
    const [first] = await s.rejected();
    if (!first) throw new Error('nothing was refused');
    expect(first.rejected_at).toBeGreaterThan(0);

    go.reject = () => 'trees invalid record: name must be text, not a number';
    // Unreachable at first, so the drain a retry starts at once cannot
    // bring the refusal back before the mark is read.
    go.offline = true;
    await s.retryRejected(first.change_id);
    expect((await s.get('trees', 'a'))?.rejected).toBeUndefined();
    go.offline = false;
    await s.flush();
    const again = await s.rejected();
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ change_id: first.change_id, reason: 'trees invalid record: name must be text, not a number' });
    expect(again[0]?.rejected_at).toBeGreaterThan(first.rejected_at);
    expect((await s.get('trees', 'a'))?.rejected).toBe('trees invalid record: name must be text, not a number');
    expect(statusOf(s)).toMatchObject({ rejected: 1, outbox: 0 });
    expect(go.journal).toEqual([]);
  });

  it('says so when the refused change to retry or discard is gone', async () => {
    const go = new FakeGo();
    const s = await mustOpen(go, new IDBFactory());
    await expect(s.retryRejected('nope')).rejects.toBeInstanceOf(DataError);
    await expect(s.discardRejected('nope')).rejects.toBeInstanceOf(DataError);
    expect(statusOf(s)).toMatchObject({ rejected: 0, outbox: 0 });
  });

  it('lets a save over a refused version replace it, so Go sees no second branch', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const v1 = await s.put('trees', 'a', { name: 'A' });
    await s.flush();
    go.reject = (c) => (c.doc?.['name'] === '' ? 'trees invalid record: name is required' : undefined);
    await s.put('trees', 'a', { name: '' });
    await s.flush();
    const [refused] = await s.rejected();
    if (!refused) throw new Error('nothing was refused');

    // The field worker corrects the record and saves it again.
    const v3 = await s.put('trees', 'a', { name: 'A corrected' });
    expect(v3.rejected).toBeUndefined();
    const [queued] = await outboxOf(f);
    expect(queued?.parents).toEqual([v1.version]); // the refused change's parents, not its version
    const [kept] = await s.rejected();
    expect(kept).toMatchObject({ change_id: refused.change_id, superseded_by: v3.version });
    await expect(s.retryRejected(refused.change_id)).rejects.toThrow(/replaced by a later save/);
    expect(statusOf(s)).toMatchObject({ rejected: 1, outbox: 1 });

    await s.flush();
    expect(go.records.get('trees/a')?.rec.leaves).toEqual([v3.version]); // no conflict with itself

    // Discarding the replaced change keeps the later save, even with Go away.
    go.offline = true;
    await s.discardRejected(refused.change_id);
    expect((await s.get('trees', 'a'))?.doc).toEqual({ name: 'A corrected' });
    expect(await s.rejected()).toEqual([]);
    expect(statusOf(s).rejected).toBe(0);
  });

  it('discarding a refused create removes the record Go never had', async () => {
    const go = new FakeGo();
    go.reject = () => 'no';
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.put('trees', 'keep', { name: 'K' });
    go.reject = (c) => (c.record_id === 'new' ? 'no' : undefined);
    await s.flush();
    await s.put('trees', 'new', { name: 'N' });
    await s.flush();
    expect((await s.list('trees')).total).toBe(2);
    const [r] = await s.rejected();
    const got = await s.discardRejected(r?.change_id ?? '');
    expect(got.change.record_id).toBe('new');
    expect(await s.get('trees', 'new')).toBeUndefined();
    expect((await s.list('trees')).rows.map((x) => x.record_id)).toEqual(['keep']);
    expect(statusOf(s)).toMatchObject({ rejected: 0, outbox: 0 });
  });

  it('keeps a refused change when discarding needs Go and Go does not answer', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.put('trees', 'a', { name: 'A' });
    await s.flush();
    go.reject = () => 'no';
    await s.put('trees', 'a', { name: 'B' });
    await s.flush();
    const [r] = await s.rejected();
    go.offline = true;
    await expect(s.discardRejected(r?.change_id ?? '')).rejects.toThrow(/not answering/);
    expect(await s.rejected()).toHaveLength(1);
    expect((await s.get('trees', 'a'))?.doc).toEqual({ name: 'B' });
    expect(statusOf(s).rejected).toBe(1);
  });

  it('goes offline, keeps the outbox and drains after the reconnect', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { debounceMs: 5 });
    go.offline = true;
    await s.start();
    await s.put('trees', 'a', { name: 'A' });
    await expect.poll(() => statusOf(s).mirror).toBe('offline');
    expect(statusOf(s).error).toContain('not answering');
    expect(await outboxOf(f)).toHaveLength(1);
    go.offline = false;
    go.transport.setStatus('open', true);
    await expect.poll(() => go.journal.length).toBe(1);
    await expect.poll(() => statusOf(s).mirror).toBe('idle');
    expect(await outboxOf(f)).toEqual([]);
  });

  it('marks a record in conflict when Go says so on accept', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    go.remote(remoteChange('a', '000000000000005-0000-dev2', { name: 'theirs' }));
    await s.put('trees', 'a', { name: 'mine' }); // made without seeing theirs
    await s.flush();
    expect((await s.get('trees', 'a'))?.state).toBe('conflict');
  });
});

describe('pending changes (one object per save)', () => {
  it('writes a plain save as the record only, and nothing after Go acknowledged it', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const a = await s.put('trees', 'a', { name: 'A' });
    expect(a).toMatchObject({ seq: 1, parents: [] });
    expect(a.change_id).toMatch(/^[0-9a-f]{32}$/);
    expect(await rawOutboxOf(f)).toEqual([]);
    await s.flush();
    expect(go.journal.map((c) => c.change_id)).toEqual([a.change_id]);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(1);
    expect(await recordsOf(f)).toEqual([a]); // not rewritten by the acknowledgement
    expect(statusOf(s).outbox).toBe(0);
  });

  it('keeps both changes, in order, when a save overwrites one Go has not acknowledged', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const a = await s.put('trees', 'a', { name: 'A' });
    const b = await s.put('trees', 'a', { name: 'B' });
    const [moved] = await rawOutboxOf(f);
    expect(moved).toMatchObject({ seq: 1, change_id: a.change_id, version: a.version, doc: { name: 'A' } });
    expect((await outboxOf(f)).map((c) => c.version)).toEqual([a.version, b.version]);
    expect(statusOf(s).outbox).toBe(2);
    await s.flush();
    expect(go.journal.map((c) => c.doc)).toEqual([{ name: 'A' }, { name: 'B' }]);
    expect(go.journal[1]?.parents).toEqual([a.version]);
    expect(await rawOutboxOf(f)).toEqual([]);
    expect(statusOf(s).outbox).toBe(0);

    // Over an acknowledged change, a save moves nothing.
    await s.put('trees', 'a', { name: 'C' });
    expect(await rawOutboxOf(f)).toEqual([]);
    expect(await outboxOf(f)).toHaveLength(1);
  });

  it('sends outbox entries and records merged in capture order, in small batches', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { batchSize: 3 });
    // Records overwritten before Go saw them leave their changes in the
    // outbox; the others stay records: the seqs alternate between the two.
    const want: string[] = [];
    for (let i = 0; i < 5; i++) {
      want.push((await s.put('trees', `r${i}`, { n: 1 })).version);
      if (i % 2 === 0) want.push((await s.put('trees', `r${i}`, { n: 2 })).version);
    }
    // The same id twice in one batch: the first change moves too.
    const both = await s.putMany('trees', [
      { id: 'twice', doc: { n: 1 } },
      { id: 'twice', doc: { n: 2 } },
    ]);
    want.push(...both.map((r) => r.version));
    expect((await rawOutboxOf(f)).map((e) => e.seq)).toEqual([1, 4, 7, 9]);
    expect((await outboxOf(f)).map((c) => c.version)).toEqual(want);
    await s.flush();
    expect(go.journal.map((c) => c.version)).toEqual(want);
    expect(go.acceptSizes.every((n) => n <= 3)).toBe(true);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(want.length);
    expect(await rawOutboxOf(f)).toEqual([]);
    expect(statusOf(s).outbox).toBe(0);
  });

  it("sends this page's captures without reading their records back", async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    const written = await putRecords(s, 1200);
    const logReads = vi.spyOn(IDBObjectStore.prototype, 'getAll');
    const recordReads = vi.spyOn(IDBObjectStore.prototype, 'get');
    const readsOf = (spy: typeof logReads | typeof recordReads, store: string) =>
      spy.mock.contexts.filter((st) => (st as IDBObjectStore).name === store).length;
    try {
      await s.flush();
      // Only the last look, for changes captured elsewhere, and the exact
      // count at the end of the pass read the capture log; no record is read.
      expect(readsOf(logReads, CAPTURES_STORE)).toBe(2);
      expect(readsOf(recordReads, RECORDS_STORE)).toBe(0);
    } finally {
      logReads.mockRestore();
      recordReads.mockRestore();
    }
    expect(go.journal.map((c) => c.change_id)).toEqual(written.map((r) => r.change_id));
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(1200);
    expect(statusOf(s).outbox).toBe(0);
    // The capture log lost what the watermark passed.
    const db = await request(f.open('fieldsync'));
    try {
      expect(await request(db.transaction(CAPTURES_STORE).objectStore(CAPTURES_STORE).count())).toBe(0);
    } finally {
      db.close();
    }
  });

  it('keeps one drain pass going while this page writes a bulk import, and sends every chunk once', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { batchSize: 100 });
    const chunk = (k: number) =>
      s.putMany(
        'trees',
        Array.from({ length: 150 }, (_, i) => ({ id: null, doc: { name: `c${k}n${i}` } })),
      );
    const written = await chunk(0);
    const reads = vi.spyOn(IDBIndex.prototype, 'getAll');
    const counts = vi.spyOn(IDBIndex.prototype, 'count');
    try {
      // The drain runs while the next chunks are written, one after the other.
      const drained = s.flush();
      for (let k = 1; k < 6; k++) written.push(...(await chunk(k)));
      await drained;
      await s.flush(); // anything the pass left for a next one
      // One pass sent every chunk from memory: only its last look, for
      // changes captured elsewhere, and its final count read the seq
      // index (and the second flush's, which found nothing).
      expect(reads.mock.calls.length).toBeLessThanOrEqual(2);
      expect(counts.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      reads.mockRestore();
      counts.mockRestore();
    }
    expect(go.journal.map((c) => c.change_id)).toEqual(written.map((r) => r.change_id));
    expect(go.acceptSizes.every((n) => n <= 100)).toBe(true);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(900);
    expect(statusOf(s).outbox).toBe(0);
  });

  it('sends the next batches while the answers to earlier ones are still being settled in IndexedDB', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { batchSize: 100 });
    const written = await putRecords(s, 500);
    // Every settle transaction is held busy until Go has seen four batches
    // (one read from memory holds four): the drain must not wait for a
    // batch's settle before it sends the next.
    const accept = acceptOf(go);
    let calls = 0;
    go.transport.handlers['UI.Accept'] = async (...args: unknown[]) => {
      calls++;
      return accept(...args);
    };
    let sentWhileHeld: number | undefined;
    const txn = IDBDatabase.prototype.transaction;
    const held = vi.spyOn(IDBDatabase.prototype, 'transaction').mockImplementation(function (
      this: IDBDatabase,
      ...a: Parameters<IDBDatabase['transaction']>
    ) {
      const tx = txn.apply(this, a);
      const scope = typeof a[0] === 'string' ? [a[0]] : [...a[0]];
      if (a[1] === 'readwrite' && scope.includes(ACKED_STORE) && !scope.includes(RECORDS_STORE)) {
        const store = tx.objectStore(ACKED_STORE);
        let spins = 0;
        const spin = (): void => {
          // Bounded, so a drain that waits for it fails the test instead of hanging it.
          if (calls >= 4 || ++spins > 2_000) {
            sentWhileHeld ??= calls;
            return;
          }
          store.get('hold').onsuccess = spin;
        };
        spin();
      }
      return tx;
    });
    try {
      await s.flush();
    } finally {
      held.mockRestore();
    }
    expect(sentWhileHeld).toBe(4);
    expect(calls).toBe(5);
    expect(go.journal.map((c) => c.change_id)).toEqual(written.map((r) => r.change_id));
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(500);
    expect(await outboxOf(f)).toEqual([]);
    expect(statusOf(s).outbox).toBe(0);
  });

  it('reads from IndexedDB where another tab captured between two saves of this page, and sends each once', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const a = await mustOpen(go, f, { batchSize: 2 });
    const b = await mustOpen(go, f, { random: (x) => crypto.getRandomValues(x) });
    const mine1 = await a.putMany('trees', [{ id: 'a1', doc: {} }, { id: 'a2', doc: {} }, { id: 'a3', doc: {} }]);
    const theirs = await b.put('trees', 'b1', { name: 'B' });
    const mine2 = await a.putMany('trees', [{ id: 'a4', doc: {} }, { id: 'a5', doc: {} }]);
    await a.put('trees', 'a5', { again: true }); // its first change moves into the outbox
    await a.flush();
    const want = [...mine1, theirs, ...mine2].map((r) => r.change_id);
    expect(go.journal.map((c) => c.change_id).slice(0, want.length)).toEqual(want);
    expect(go.journal).toHaveLength(want.length + 1);
    expect(new Set(go.journal.map((c) => c.change_id)).size).toBe(go.journal.length);
    expect(await rawOutboxOf(f)).toEqual([]);
    expect(await outboxOf(f)).toEqual([]);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(7);
  });

  it.each([
    ['catch-up', false],
    ['a rebuild (the mirror sequence is gone)', true],
  ])('keeps an unsent change when %s replaces its record with a newer one from Go', async (_name, rebuild) => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { now: () => 1000 });
    await s.start();
    const mine = await s.put('trees', 'a', { name: 'mine' });
    go.remote(remoteChange('a', '000900000000000-0000-dev2', { name: 'newer, from dev2' }));
    if (rebuild) go.truncatedBelow = 1;
    const calls = go.transport.calls.length;
    await s.catchUp();
    expect(go.transport.calls.slice(calls).some((c) => c.method === 'UI.Records')).toBe(rebuild);
    expect((await s.get('trees', 'a'))?.doc).toEqual({ name: 'newer, from dev2' });
    expect((await outboxOf(f)).map((c) => c.change_id)).toEqual([mine.change_id]);
    await s.flush();
    expect(go.count(mine.change_id ?? '')).toBe(1);
  });

  it('loses and doubles nothing when two tabs drain the same changes at once', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const a = await mustOpen(go, f);
    const b = await mustOpen(go, f, { random: (x) => crypto.getRandomValues(x) });
    await putRecords(a, 1200);
    await b.put('trees', 'from-b', { name: 'B' });
    await Promise.all([a.flush(), b.flush()]);
    expect(go.journal).toHaveLength(1201);
    expect(new Set(go.journal.map((c) => c.change_id)).size).toBe(1201);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(1201);
    expect(await outboxOf(f)).toEqual([]);
    await a.flush(); // the pass-end count is exact in both tabs
    await b.flush();
    expect([statusOf(a).outbox, statusOf(b).outbox]).toEqual([0, 0]);
  });

  it('moves the watermark only over the answered prefix when batches are answered out of order', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await putRecords(s, 1000);
    const accept = acceptOf(go);
    let calls = 0;
    go.transport.handlers['UI.Accept'] = async (...args: unknown[]) => {
      if (++calls === 1) {
        // The first batch is answered after the second and then fails.
        await new Promise((r) => setTimeout(r, 10));
        throw new Error('the bridge dropped the call');
      }
      return accept(...args);
    };
    await expect(s.flush()).rejects.toThrow('the bridge dropped the call');
    expect(go.journal).toHaveLength(500); // the second batch
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(0);
    expect(statusOf(s).outbox).toBe(1000);

    // Both answered, the second first: the watermark passes both.
    calls = 1;
    let answered = 0;
    go.transport.handlers['UI.Accept'] = async (...args: unknown[]) => {
      if (++calls === 2) await new Promise((r) => setTimeout(r, 10));
      answered++;
      return accept(...args);
    };
    await s.flush();
    expect(answered).toBe(2);
    expect(go.journal).toHaveLength(1000);
    expect(new Set(go.journal.map((c) => c.change_id)).size).toBe(1000);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(1000);
    expect(await outboxOf(f)).toEqual([]);
    expect(statusOf(s).outbox).toBe(0);
  });

  it('sends again after a reload in the middle of a drain, and Go answers duplicate', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s1 = await mustOpen(go, f);
    await putRecords(s1, 700);
    go.loseAcks = 2; // Go journals both batches, the answers never arrive
    await expect(s1.flush()).rejects.toBeInstanceOf(Error);
    expect(go.journal).toHaveLength(700);
    s1.close(); // the page reloads

    const s2 = await mustOpen(go, f);
    expect(statusOf(s2).outbox).toBe(700);
    const answers: string[] = [];
    const accept = acceptOf(go);
    go.transport.handlers['UI.Accept'] = async (...args: unknown[]) => {
      const res = (await accept(...args)) as { results: { outcome: string }[] };
      for (const r of res.results) answers.push(r.outcome);
      return res;
    };
    await s2.flush();
    expect(answers).toHaveLength(700);
    expect(new Set(answers)).toEqual(new Set(['duplicate']));
    expect(go.journal).toHaveLength(700);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(700);
    expect(statusOf(s2).outbox).toBe(0);
  });

  it('settles a refused change of a record and keeps the next save of it', async () => {
    const go = new FakeGo();
    go.reject = (c) => (c.record_id === 'bad' ? 'trees invalid record: name is required' : undefined);
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.putMany('trees', [
      { id: 'good', doc: { name: 'G' } },
      { id: 'bad', doc: {} },
      { id: 'fine', doc: { name: 'F' } },
    ]);
    go.loseAcks = 1; // the first answer is lost: all three are sent twice
    await expect(s.flush()).rejects.toBeInstanceOf(Error);
    await s.flush();
    expect(go.journal.map((c) => c.record_id)).toEqual(['good', 'fine']);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(3);
    expect(await outboxOf(f)).toEqual([]);
    const [refused] = await s.rejected();
    expect(refused?.change).toMatchObject({ record_id: 'bad', parents: [], doc: {} });
    expect(statusOf(s)).toMatchObject({ outbox: 0, rejected: 1 }); // refused twice, kept once

    const fixed = await s.put('trees', 'bad', { name: 'B' });
    expect(await rawOutboxOf(f)).toEqual([]); // the refused change is not pending: nothing moved
    expect(fixed.parents).toEqual([]);
    go.reject = () => undefined;
    await s.flush();
    expect(go.journal.map((c) => c.record_id)).toEqual(['good', 'fine', 'bad']);
  });

  it('migrates a version 2 database: its outbox entries stay pending and go first', async () => {
    const f = new IDBFactory();
    // A database as the previous release left it: two changes in the
    // outbox (auto-numbered) and one acknowledged record.
    const old = f.open('fieldsync', 2);
    old.onupgradeneeded = () => {
      const tx = old.transaction;
      if (!tx) throw new Error('no upgrade transaction');
      for (let v = 0; v < 2; v++) migrations[v]?.(old.result, tx);
    };
    const db = await request(old);
    const change = (id: string, version: string): Change => ({
      change_id: `${id}`.padStart(32, '0'),
      collection: 'trees',
      record_id: id,
      op: 'put',
      doc: { name: id },
      version,
      parents: [],
      device: 'dev1',
      edited_at: 1,
    });
    const tx = db.transaction([OUTBOX_STORE, RECORDS_STORE], 'readwrite');
    tx.objectStore(OUTBOX_STORE).add(change('x1', '000000000000001-0000-dev1.ui0001'));
    tx.objectStore(OUTBOX_STORE).add(change('x2', '000000000000002-0000-dev1.ui0001'));
    tx.objectStore(RECORDS_STORE).put({
      collection: 'trees',
      record_id: 'done',
      doc: { name: 'done' },
      version: '000000000000000-0000-dev1.ui0001',
      deleted: false,
      leaves: ['000000000000000-0000-dev1.ui0001'],
      state: 'synced',
      updated_at: 1,
    } satisfies LocalRecord);
    await txDone(tx);
    db.close();

    const go = new FakeGo();
    const s = await mustOpen(go, f);
    expect(statusOf(s).outbox).toBe(2);
    expect(await metaOf(f, META_CAPTURE_SEQ)).toBe(2);
    const mine = await s.put('trees', 'x3', { name: 'x3' });
    expect(mine.seq).toBe(3);
    expect((await outboxOf(f)).map((c) => c.record_id)).toEqual(['x1', 'x2', 'x3']);
    await s.flush();
    expect(go.journal.map((c) => c.record_id)).toEqual(['x1', 'x2', 'x3']);
    expect(await rawOutboxOf(f)).toEqual([]);
    expect(statusOf(s).outbox).toBe(0);
    expect((await s.get('trees', 'done'))?.seq).toBeUndefined();
  });

  it('migrates a version 3 database: the seq index gives way to the capture log, and what was pending stays pending', async () => {
    const f = new IDBFactory();
    // The previous release: records carrying their change, found through
    // the seq index; the watermark at 2, so seqs 1 and 2 are settled.
    const old = f.open('fieldsync', 3);
    old.onupgradeneeded = () => {
      const tx = old.transaction;
      if (!tx) throw new Error('no upgrade transaction');
      for (let v = 0; v < 3; v++) migrations[v]?.(old.result, tx);
    };
    const db = await request(old);
    const rec = (id: string, seq: number): LocalRecord => {
      const version = `${String(seq).padStart(15, '0')}-0000-dev1.ui0001`;
      return {
        collection: 'trees',
        record_id: id,
        doc: { name: id },
        version,
        deleted: false,
        leaves: [version],
        state: 'local',
        updated_at: 1,
        edited_at: 1,
        device: 'dev1',
        seq,
        change_id: String(seq).padStart(32, '0'),
        parents: [],
      };
    };
    const pending = 1100; // more than one chunk of the log
    const tx = db.transaction([RECORDS_STORE, ACKED_STORE, META_STORE], 'readwrite');
    tx.objectStore(RECORDS_STORE).put(rec('settled1', 1));
    tx.objectStore(RECORDS_STORE).put(rec('settled2', 2));
    for (let i = 0; i < pending; i++) tx.objectStore(RECORDS_STORE).put(rec(`p${String(i).padStart(4, '0')}`, 3 + i));
    tx.objectStore(ACKED_STORE).put({ key: ACKED_SEQ_KEY, value: 2 });
    tx.objectStore(META_STORE).put({ key: META_CAPTURE_SEQ, value: 2 + pending });
    await txDone(tx);
    db.close();

    const go = new FakeGo();
    const s = await mustOpen(go, f, { batchSize: 300 });
    expect(statusOf(s).outbox).toBe(pending);
    // Every record was "local": the unsynced log lists them all, once.
    const unsynced = await unsyncedOf(f);
    expect(unsynced).toHaveLength(2 + pending);
    expect(new Set(unsynced).size).toBe(2 + pending);
    const after = await request(f.open('fieldsync'));
    try {
      const check = after.transaction([RECORDS_STORE, CAPTURES_STORE], 'readonly');
      expect([...check.objectStore(RECORDS_STORE).indexNames]).toEqual([]);
      const log = await request(check.objectStore(CAPTURES_STORE).getAll() as IDBRequest<CaptureEntry[]>);
      expect(log.map((e) => e.seqs.length)).toEqual([500, 500, 100]);
      expect(log.flatMap((e) => e.seqs)).toEqual(Array.from({ length: pending }, (_, i) => 3 + i));
    } finally {
      after.close();
    }
    const mine = await s.put('trees', 'new', { name: 'new' });
    expect(mine.seq).toBe(3 + pending);
    await s.flush();
    const sent = go.journal.map((c) => c.record_id);
    expect(sent).toHaveLength(pending + 1);
    expect(sent.slice(0, 2)).toEqual(['p0000', 'p0001']);
    expect(sent[sent.length - 1]).toBe('new');
    expect(sent).not.toContain('settled1');
    expect(statusOf(s).outbox).toBe(0);
    expect(await metaOf(f, ACKED_SEQ_KEY)).toBe(3 + pending);
  });
});

describe('echoes', () => {
  it("skips Go's echo of a change this page saw accepted, without reading its record", async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    const mine = await s.put('trees', 'a', { name: 'mine' });
    await s.flush();
    const get = vi.spyOn(IDBObjectStore.prototype, 'get');
    try {
      await s.catchUp();
      expect(get.mock.contexts.filter((c) => (c as IDBObjectStore).name === RECORDS_STORE)).toEqual([]);
    } finally {
      get.mockRestore();
    }
    expect(statusOf(s).lastMseq).toBe(1);
    expect(await s.get('trees', 'a')).toMatchObject({ version: mine.version, state: 'local', doc: { name: 'mine' } });
  });

  it('holds the catch-ups events ask for until released, then runs one', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    const release = s.holdCatchUp();
    const calls = go.transport.calls.length;
    const c = remoteChange('r1', '000000000000010-0000-dev2', { name: 'one' });
    const e = go.remote(c);
    go.transport.emit('sync:applied', { collection: 'trees', batch: 'b1', changes: [{ mseq: e.mseq, conflicted: false, change: c }] });
    await new Promise((r) => setTimeout(r, 50)); // unheld, the catch-up would have asked Go by now
    expect(go.transport.calls.slice(calls).filter((x) => x.method === 'UI.MirrorSince')).toEqual([]);
    expect(await s.get('trees', 'r1')).toBeUndefined();
    release();
    release(); // a second call does nothing
    await expect.poll(async () => (await s.get('trees', 'r1'))?.doc).toEqual({ name: 'one' });
  });

  const entry = (mseq: number, id: string, version: string, over: Partial<MirrorEntry> = {}): MirrorEntry => ({
    mseq,
    origin: 'local',
    change: remoteChange(id, version, {}),
    winner: version,
    deleted: false,
    conflicted: false,
    ...over,
  });
  it.each([
    ['an echo', [entry(1, 'a', 'v1')], []],
    ['another version', [entry(1, 'a', 'v0')], [1]],
    ['a conflicted echo', [entry(1, 'a', 'v1', { conflicted: true })], [1]],
    ['a lost echo (another winner)', [entry(1, 'a', 'v1', { winner: 'v2' })], [1]],
    ['an echo beside another entry of its record', [entry(2, 'a', 'v1'), entry(1, 'a', 'v0')], [1, 2]],
    ['only the echoed record', [entry(1, 'a', 'v1'), entry(2, 'b', 'v5')], [2]],
  ] as const)('skipEchoes keeps what must be applied: %s', (_name, entries, want) => {
    const echoes = new Map([[keyOf('trees', 'a'), 'v1']]);
    expect(skipEchoes(echoes, [...entries]).map((e) => e.mseq)).toEqual(want);
  });
});

describe('watermark', () => {
  const rec = (seq: number): PendingChange => ({ seq, from: 'record', change: remoteChange(`r${seq}`, `v${seq}`, {}) });
  const box = (seq: number): PendingChange => ({ seq, from: 'outbox', change: remoteChange(`o${seq}`, `v${seq}`, {}) });
  it.each([
    ['in order', [[1, 2], [3, 4]], [[1, 2], [3, 4]], [2, 4]],
    ['the second batch first', [[1, 2], [3, 4]], [[3, 4], [1, 2]], [undefined, 4]],
    ['part of a batch', [[1, 2, 3]], [[1, 3]], [1]],
  ] as const)('moves over the answered prefix only: %s', (_name, batches, answers, want) => {
    const w = new Watermark();
    for (const b of batches) w.read(b.map(rec));
    const got = answers.map((a) => {
      for (const seq of a) w.settle(seq);
      return w.advance();
    });
    expect(got).toEqual(want);
  });

  it('ignores outbox entries, which are deleted when answered', () => {
    const w = new Watermark();
    w.read([box(1), rec(2), box(3), rec(4)]);
    w.settle(2);
    expect(w.advance()).toBe(2);
    w.settle(4);
    expect(w.advance()).toBe(4);
  });
});

describe('captured', () => {
  const rec = (seq: number): LocalRecord => ({
    collection: 'trees',
    record_id: `r${seq}`,
    version: `v${seq}`,
    deleted: false,
    leaves: [`v${seq}`],
    state: 'local',
    updated_at: 1,
    seq,
    change_id: `c${seq}`,
    parents: [],
  });
  it('gives the kept changes above a seq in order, forgets those at or below it and those answered', () => {
    const c = new Captured();
    c.add([rec(3), rec(1), rec(2)]);
    const { seq: _seq, change_id: _id, ...plain } = rec(4);
    c.add([plain]); // carries no change: not kept
    c.add([rec(5), rec(6)]);
    expect(c.after(0, 3).map((it) => it.seq)).toEqual([1, 2, 3]);
    expect(c.after(0, 10).map((it) => it.change.change_id)).toEqual(['c1', 'c2', 'c3', 'c5', 'c6']);
    c.settle(5);
    expect(c.after(2, 10).map((it) => it.seq)).toEqual([3, 6]);
    expect(c.after(0, 10).map((it) => it.seq)).toEqual([3, 6]); // 1 and 2 are forgotten
    expect([c.hasAbove(undefined), c.hasAbove(5), c.hasAbove(6)]).toEqual([true, true, false]);
  });
});

describe('catch-up', () => {
  it('applies remote changes without outbox entries and remembers the sequence', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start(); // nothing in Go yet: an empty rebuild
    go.remote(remoteChange('r1', '000000000000010-0000-dev2', { name: 'one' }));
    go.remote(remoteChange('r2', '000000000000011-0000-dev2', { name: 'two' }));
    await s.catchUp();
    expect(await s.get('trees', 'r1')).toMatchObject({ doc: { name: 'one' }, state: 'synced', device: 'dev2' });
    expect(await outboxOf(f)).toEqual([]);
    expect(statusOf(s).lastMseq).toBe(2);

    // Applied again (a repeated event): nothing changes, still no outbox.
    await s.catchUp();
    expect(await outboxOf(f)).toEqual([]);
    expect(await recordsOf(f)).toHaveLength(2);

    // A new store on the same IndexedDB starts from the remembered sequence.
    s.close();
    const calls = go.transport.calls.length;
    const s2 = await mustOpen(go, f);
    await s2.catchUp();
    const since = go.transport.calls.slice(calls).filter((c) => c.method === 'UI.MirrorSince');
    expect(since[0]?.args[0]).toBe(2);
    expect(go.transport.calls.slice(calls).some((c) => c.method === 'UI.Records')).toBe(false);
  });

  it('runs on sync:applied and updates a loaded list', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    expect((await s.list('trees')).total).toBe(0);
    const c = remoteChange('r1', '000000000000010-0000-dev2', { name: 'one' });
    const e = go.remote(c);
    go.transport.emit('sync:applied', { collection: 'trees', batch: 'b1', changes: [{ mseq: e.mseq, conflicted: false, change: c }] });
    await expect.poll(async () => (await s.list('trees')).total).toBe(1);
  });

  it('keeps a newer local edit that is still in the outbox', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { now: ticking(2_000_000_000_000) });
    await s.start();
    const mine = await s.put('trees', 'a', { name: 'mine' });
    go.remote(remoteChange('a', '000000000000010-0000-dev2', { name: 'older remote' }));
    await s.catchUp();
    const got = await s.get('trees', 'a');
    expect(got).toMatchObject({ doc: { name: 'mine' }, version: mine.version });
    expect(await outboxOf(f)).toHaveLength(1);
  });

  it('fetches the winner when the pulled change lost', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    go.remote(remoteChange('a', '000000000000020-0000-dev3', { name: 'winner' }));
    // Another device's older concurrent edit arrives later; the winner stays.
    go.remote(remoteChange('a', '000000000000010-0000-dev2', { name: 'loser' }));
    go.mirror.shift(); // the UI sees only the losing change: the winner's doc must come from Go
    await s.catchUp();
    expect(await s.get('trees', 'a')).toMatchObject({
      doc: { name: 'winner' },
      state: 'conflict',
      leaves: ['000000000000010-0000-dev2', '000000000000020-0000-dev3'],
    });
  });

  it('catches up after a resolution made in Go', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    go.remote(remoteChange('a', '000000000000010-0000-dev2', { name: 'two' }));
    go.remote(remoteChange('a', '000000000000011-0000-dev3', { name: 'three' }));
    await s.catchUp();
    expect((await s.get('trees', 'a'))?.state).toBe('conflict');
    const c = await s.resolve('trees', 'a', { take: 'merge', doc: { name: 'two and three' } });
    expect(await s.get('trees', 'a')).toMatchObject({
      doc: { name: 'two and three' },
      version: c.version,
      state: 'pending',
      leaves: [c.version],
    });
    expect(await outboxOf(f)).toEqual([]); // Go's change is not captured again
    // The resolution is in Drill once Go pushed it: the refresh finds the
    // record, which carries no seq, through the unsynced log.
    expect(await unsyncedOf(f)).toEqual(['trees/a']);
    go.pushAll();
    await s.refreshStates();
    expect((await s.get('trees', 'a'))?.state).toBe('synced');
    expect(await unsyncedOf(f)).toEqual([]);
  });

  it('issues versions after every version it has seen', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { now: () => 1000 });
    await s.start();
    const future = '000900000000000-0003-dev2';
    go.remote(remoteChange('a', future, { name: 'from the future' }));
    await s.catchUp();
    const mine = await s.put('trees', 'a', { name: 'edit' });
    expect(mine.version > future).toBe(true);
    expect(mine.version.startsWith('000900000000000-0004-dev1.ui')).toBe(true);
    const [c] = await outboxOf(f);
    expect(c?.parents).toEqual([future]);
  });

  it('rebuilds an empty IndexedDB from Go, paged, with progress', async () => {
    const go = new FakeGo();
    for (let i = 0; i < 25; i++) {
      go.remote(remoteChange(`r${String(i).padStart(2, '0')}`, `0000000000001${String(i).padStart(2, '0')}-0000-dev2`, { name: `n${i}` }));
    }
    const f = new IDBFactory();
    const s = await mustOpen(go, f, { pageSize: 10 });
    const seen: string[] = [];
    s.status.subscribe((st) => {
      const p = st.rebuild ? `${st.rebuild.done}/${st.rebuild.total}` : '';
      if (p && seen[seen.length - 1] !== p) seen.push(p);
    });
    await s.start();
    expect(seen).toEqual(['0/0', '10/25', '20/25', '25/25']);
    expect(statusOf(s).rebuild).toBeUndefined();
    expect(statusOf(s).lastMseq).toBe(25);
    const page = await s.list('trees', { sortField: '@record_id', limit: 100 });
    expect(page.total).toBe(25);
    expect(page.rows[0]).toMatchObject({ record_id: 'r00', doc: { name: 'n0' }, state: 'synced' });
    expect(await outboxOf(f)).toEqual([]);
    expect(go.transport.calls.filter((c) => c.method === 'UI.Records')).toHaveLength(3);
  });

  it('rebuilds when Go no longer keeps the sequence it would continue from', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    go.remote(remoteChange('a', '000000000000010-0000-dev2', { name: 'A' }));
    go.remote(remoteChange('b', '000000000000011-0000-dev2', { name: 'B' }));
    go.truncatedBelow = 1; // mseq 1 is forgotten; we are at 0
    await s.catchUp();
    expect((await s.list('trees')).total).toBe(2);
    expect(go.transport.calls.some((c) => c.method === 'UI.Records')).toBe(true);
    expect(statusOf(s).lastMseq).toBe(2);
  });

  it('marks records synced once Go no longer lists them as pending', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    await s.put('trees', 'a', { name: 'A' });
    await s.put('trees', 'b', { name: 'B' });
    await s.put('trees', 'b', { name: 'B2' });
    expect(await unsyncedOf(f)).toEqual(['trees/a', 'trees/b', 'trees/b']);
    await s.refreshStates();
    expect((await s.get('trees', 'a'))?.state).toBe('local'); // still in the outbox
    expect(await unsyncedOf(f)).toEqual(['trees/a', 'trees/b']); // each once
    await s.flush();
    go.pending = [{ collection: 'trees', record_ids: ['b'] }];
    await s.refreshStates();
    expect((await s.get('trees', 'a'))?.state).toBe('synced');
    expect((await s.get('trees', 'b'))?.state).toBe('local');
    expect(await unsyncedOf(f)).toEqual(['trees/b']); // the log keeps only what is not synced
    await s.put('trees', 'a', { name: 'A2' });
    expect((await s.get('trees', 'a'))?.state).toBe('pending');
    expect(await unsyncedOf(f)).toEqual(['trees/b', 'trees/a']);
    await s.flush();
    go.pending = [];
    await s.refreshStates();
    expect((await s.get('trees', 'a'))?.state).toBe('synced');
    expect((await s.get('trees', 'b'))?.state).toBe('synced');
    expect(await unsyncedOf(f)).toEqual([]);
  });
});

describe('sync-state refresh', () => {
  it('says when no refresh is scheduled or running', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    await s.put('trees', 'a', { name: 'A' });
    await s.flush();
    go.pending = [];
    // A push finished: the refresh runs a little later (events come in bursts).
    go.transport.emit('sync:status', { state: 'idle', pending: 0, last_success: '2026-12-06T23:00:00Z' });
    expect((await s.get('trees', 'a'))?.state).toBe('local');
    await s.statesSettled();
    expect((await s.get('trees', 'a'))?.state).toBe('synced');
  });
});

describe('the unsynced log', () => {
  it('stays bounded by the records while no push finishes', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s = await mustOpen(go, f);
    await s.start();
    // Drill out of reach: Go keeps both records pending, no push finishes.
    go.pending = [{ collection: 'trees', record_ids: ['a', 'b'] }];
    for (let i = 0; i < 1000; i++) await s.put('trees', i % 2 === 0 ? 'a' : 'b', { n: i });
    await vi.waitFor(async () => expect(await unsyncedOf(f)).toEqual(['trees/a', 'trees/b']), { timeout: 5000 });
    expect((await s.get('trees', 'a'))?.state).toBe('local');
  });
});

describe('tabs', () => {
  it('keeps another tab of the same profile current', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const name = `fieldsync-test-${Math.random()}`;
    const a = await mustOpen(go, f, { channel: new BroadcastChannel(name) });
    const b = await mustOpen(go, f, { channel: new BroadcastChannel(name) });
    expect((await b.list('trees')).total).toBe(0); // b's index is loaded
    const rec = await a.put('trees', null, { name: 'from tab a' });
    await expect.poll(async () => (await b.list('trees')).total).toBe(1);
    expect((await b.get('trees', rec.record_id))?.doc).toEqual({ name: 'from tab a' });
    await expect.poll(() => statusOf(b).outbox).toBe(1);
    await a.remove('trees', rec.record_id);
    await expect.poll(async () => (await b.list('trees')).total).toBe(0);
  });

  it('keeps the refused count of another tab current on retry and discard', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const name = `fieldsync-test-${Math.random()}`;
    const a = await mustOpen(go, f, { channel: new BroadcastChannel(name) });
    const b = await mustOpen(go, f, { channel: new BroadcastChannel(name) });
    go.reject = () => 'no';
    await a.put('trees', 'x', { name: 'X' });
    await a.put('trees', 'y', { name: 'Y' });
    await a.flush();
    const [x, y] = await a.rejected();
    await expect.poll(() => statusOf(b).rejected).toBe(2);
    go.reject = () => undefined;
    await a.retryRejected(x?.change_id ?? ''); // the mirror loop sends it at once
    await expect.poll(() => go.journal.length).toBe(1);
    await expect.poll(() => statusOf(b)).toMatchObject({ rejected: 1, outbox: 0 });
    await a.discardRejected(y?.change_id ?? '');
    await expect.poll(() => statusOf(b).rejected).toBe(0);
  });
});

describe('list', () => {
  it('loads a collection in chunks with progress and pages it', async () => {
    const go = new FakeGo();
    const f = new IDBFactory();
    const s1 = await mustOpen(go, f);
    await s1.putMany(
      'trees',
      Array.from({ length: 1234 }, (_, i) => ({ id: `r${String(i).padStart(4, '0')}`, doc: { name: `tree ${i}`, n: i } })),
    );
    await s1.put('other', 'x', { name: 'tree elsewhere' });
    s1.close();
    const s = await mustOpen(go, f, { loadChunk: 500 });
    const progress: string[] = [];
    await s.load('trees', (p) => progress.push(`${p.done}/${p.total}`));
    expect(progress).toEqual(['0/1234', '500/1234', '1000/1234', '1234/1234']);
    const page = await s.list('trees', { sortField: 'n', sortDir: 'desc', offset: 10, limit: 5 });
    expect(page.total).toBe(1234);
    expect(page.rows.map((r) => r.doc?.['n'])).toEqual([1223, 1222, 1221, 1220, 1219]);
    expect((await s.list('trees', { search: 'TREE 12' })).total).toBe(1 + 10 + 34);
  });
});
