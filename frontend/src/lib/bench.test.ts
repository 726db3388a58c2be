import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it, vi } from 'vitest';
import { createApi } from './api';
import { benchHook, bulkImport, docMakerFor, drained, editLatency, quantile, rawPuts } from './bench';
import type { Collection } from './types';
import { DataStore } from './data';
import { FakeGo } from '../testing/fakeGo';
import { request } from './data/idb';

/** A data layer with the app's own mirror-loop timing (the benchmarks time that path). */
async function mustStore(go: FakeGo, debounceMs?: number): Promise<DataStore> {
  return DataStore.open({
    indexedDB: new IDBFactory(),
    api: createApi(go.transport),
    ...(debounceMs === undefined ? {} : { debounceMs }),
    retryMinMs: 60_000,
    channel: null,
  });
}

describe('bench', () => {
  it('bulkImport returns once Go acknowledged every record', async () => {
    const go = new FakeGo();
    const s = await mustStore(go);
    try {
      const t = await bulkImport(s, 'trees', 1200, { chunk: 400 });
      expect(t.records).toBe(1200);
      expect(t.ms).toBeGreaterThanOrEqual(0);
      expect(go.journal).toHaveLength(1200);
      expect(await s.outboxCount()).toBe(0);
    } finally {
      s.close();
    }
  });

  it('drained waits for the mirror loop and never runs it', async () => {
    const go = new FakeGo();
    const s = await mustStore(go, 60_000);
    try {
      await s.put('trees', null, { name: 'a' });
      await expect(drained(s, 200)).rejects.toThrow(/did not drain in 200 ms/);
      expect(go.journal).toHaveLength(0);
      await s.flush();
      await drained(s, 200);
      expect(go.journal).toHaveLength(1);
    } finally {
      s.close();
    }
  });

  it('an edit reaches Go without anyone asking (no debounce by default)', async () => {
    const go = new FakeGo();
    const s = await mustStore(go);
    try {
      await s.put('trees', null, { name: 'a' });
      await drained(s, 2_000);
      expect(go.journal).toHaveLength(1);
    } finally {
      s.close();
    }
  });

  it('rawPuts writes into a scratch database and removes it', async () => {
    const f = new IDBFactory();
    const t = await rawPuts(f, 1000, { chunk: 300 });
    expect(t.records).toBe(1000);
    const dbs = await f.databases();
    expect(dbs.map((d) => d.name)).not.toContain('fieldsync-bench-raw');
  });

  it('rawPuts with grow keeps its database and adds to it', async () => {
    const f = new IDBFactory();
    await rawPuts(f, 300, { chunk: 200, grow: true });
    const t = await rawPuts(f, 500, { chunk: 200, grow: true });
    expect(t.records).toBe(500);
    const db = await request(f.open('fieldsync-bench-raw-grown'));
    try {
      const n = await request(db.transaction('records', 'readonly').objectStore('records').count());
      expect(n).toBe(800); // the second run's ids follow the first's: nothing overwritten
    } finally {
      db.close();
    }
  });

  it('benchHook raw puts make the named collection\'s documents', async () => {
    const go = new FakeGo({ collections: ['trees'] });
    const s = await mustStore(go);
    try {
      const f = new IDBFactory();
      const hook = benchHook(s, f, createApi(go.transport));
      await hook.rawPuts(10, { collection: 'trees', grow: true });
      const db = await request(f.open('fieldsync-bench-raw-grown'));
      try {
        const all = (await request(db.transaction('records', 'readonly').objectStore('records').getAll())) as { doc: Record<string, unknown> }[];
        expect(all).toHaveLength(10);
        const want = docMakerFor(s.info.collections.find((c) => c.name === 'trees')!)(0);
        expect(Object.keys(all[0]!.doc).sort()).toEqual(Object.keys(want).sort());
      } finally {
        db.close();
      }
    } finally {
      s.close();
    }
  });

  it('rawPuts with pairs writes a change beside each record', async () => {
    const f = new IDBFactory();
    let seen = 0;
    const t = await rawPuts(f, 700, {
      chunk: 300,
      pairs: true,
      dbName: 'pairs',
      makeDoc: (i) => {
        seen++;
        return { i };
      },
    });
    expect(t.records).toBe(700);
    expect(seen).toBe(700); // one doc per record, shared by record and change
    expect((await f.databases()).map((d) => d.name)).not.toContain('pairs');
  });

  it('rawPuts carrying writes one record object per record and the counter per chunk', async () => {
    const f = new IDBFactory();
    const put = vi.spyOn(IDBObjectStore.prototype, 'put');
    try {
      const t = await rawPuts(f, 700, { chunk: 300, carrying: true, dbName: 'carrying' });
      expect(t.records).toBe(700);
      const names = put.mock.contexts.map((c) => (c as IDBObjectStore).name);
      expect(names.filter((n) => n === 'records')).toHaveLength(700);
      expect(names.filter((n) => n === 'meta')).toHaveLength(3);
      expect(put.mock.calls[0]?.[0]).toMatchObject({ seq: 1, change_id: 'c0', state: 'local' });
    } finally {
      put.mockRestore();
    }
    expect((await f.databases()).map((d) => d.name)).not.toContain('carrying');
  });

  it('editLatency samples each edit until it is durable in Go', async () => {
    const go = new FakeGo();
    const s = await mustStore(go);
    try {
      let t = 0;
      const l = await editLatency(s, 'trees', 5, { now: () => (t += 2) });
      expect(l.samples).toEqual([2, 2, 2, 2, 2]);
      expect(l.medianMs).toBe(2);
      expect(go.journal).toHaveLength(6); // the first put and five edits
      expect(new Set(go.journal.map((c) => c.record_id)).size).toBe(1);
    } finally {
      s.close();
    }
  });

  it.each([
    [[], 0.5, 0],
    [[1], 0.99, 1],
    [[1, 2, 3, 4], 0.5, 2],
    [Array.from({ length: 100 }, (_, i) => i + 1), 0.99, 99],
    [Array.from({ length: 100 }, (_, i) => i + 1), 1, 100],
  ])('quantile(%j, %d) = %d', (sorted, q, want) => {
    expect(quantile(sorted, q)).toBe(want);
  });

  it('makes documents valid for a declaration', () => {
    const inspections: Collection = {
      name: 'inspections',
      fields: [
        { name: 'site', type: 'text', required: true },
        { name: 'temperature_c', type: 'number' },
        { name: 'defects', type: 'integer' },
        { name: 'passed', type: 'boolean', required: true },
        { name: 'risk', type: 'enum', options: ['low', 'medium', 'high'], required: true },
        { name: 'inspected_at', type: 'datetime', required: true },
        { name: 'notes', type: 'note' },
      ],
    };
    const make = docMakerFor(inspections);
    for (const i of [0, 1, 2, 7, 9999]) {
      const d = make(i);
      expect(typeof d['site']).toBe('string');
      expect(typeof d['temperature_c']).toBe('number');
      expect(Number.isInteger(d['defects'])).toBe(true);
      expect(typeof d['passed']).toBe('boolean');
      expect(['low', 'medium', 'high']).toContain(d['risk']);
      expect(Number.isInteger(d['inspected_at'])).toBe(true);
      expect(typeof d['notes']).toBe('string');
    }
  });

  it('benchHook imports declared documents', async () => {
    const go = new FakeGo({ collections: ['trees'] });
    const s = await mustStore(go);
    try {
      const hook = benchHook(s, new IDBFactory(), createApi(go.transport));
      const t = await hook.bulkImport('trees', 10);
      expect(t.records).toBe(10);
      expect(go.journal[0]?.doc).toEqual({ name: 'name 0' });

      // Straight to Go, no IndexedDB: new records, a clock node of its own.
      const g = await hook.goAccept('trees', 7, { chunk: 3 });
      expect(g.records).toBe(7);
      expect(go.acceptSizes.slice(-3)).toEqual([3, 3, 1]);
      const sent = go.journal.slice(10);
      expect(sent).toHaveLength(7);
      expect(new Set(sent.map((c) => c.record_id)).size).toBe(7);
      expect(sent.filter((c) => c.version.endsWith(`-${s.node}`))).toEqual([]);
      expect(sent[0]?.doc).toEqual({ name: 'name 0' });
      expect(await s.outboxCount()).toBe(0);

      // settle catches up: Go's 17 mirror entries are read, the 7 records made in Go arrive.
      await hook.settle();
      let last = -1;
      s.status.subscribe((st) => (last = st.lastMseq))();
      expect(last).toBe(17);
      expect(await s.get('trees', sent[0]?.record_id ?? '')).toMatchObject({ doc: { name: 'name 0' } });
    } finally {
      s.close();
    }
  });
});
