import { describe, expect, it } from 'vitest';
import { CollectionIndex, sortValue } from './memindex';
import type { LocalRecord, SyncState } from './types';

const N = 100_000;
const states: SyncState[] = ['local', 'pending', 'synced', 'conflict'];
const species = ['Oak', 'beech', 'Ash', 'pine', 'Birch'];

function rec(i: number): LocalRecord {
  const r: LocalRecord = {
    collection: 'trees',
    record_id: `r${String(i).padStart(6, '0')}`,
    version: `${String(1_000_000 + i).padStart(15, '0')}-0000-dev1`,
    deleted: i % 1000 === 999,
    leaves: [],
    state: states[i % 4] ?? 'synced',
    updated_at: 1_000_000 + ((i * 7919) % N), // a permutation of 0..N-1
    doc: { species: species[i % 5], height: i % 250, label: `Tree ${i}` },
  };
  if (i % 10 === 0) delete r.doc?.['height']; // missing values sort last
  return r;
}

function mustIndex(tb = N): CollectionIndex {
  const idx = new CollectionIndex('trees');
  idx.upsert(Array.from({ length: tb }, (_, i) => rec(i)));
  return idx;
}

describe('CollectionIndex at 100,000 records', () => {
  const idx = mustIndex();
  const live = N - N / 1000;

  it('pages newest first by default, hiding deleted records', () => {
    const p = idx.list({ limit: 3 });
    expect(p.total).toBe(live);
    expect(p.rows.map((r) => r.updated_at)).toEqual([1_000_000 + N - 1, 1_000_000 + N - 2, 1_000_000 + N - 3]);
    const last = idx.list({ offset: live - 2, limit: 10 });
    expect(last.rows).toHaveLength(2);
    expect(last.offset).toBe(live - 2);
  });

  it.each([
    ['asc', [1, 1, 1]], // height 0 only on multiples of 250, which have no height
    ['desc', [249, 249, 249]],
  ] as const)('sorts by a number field %s with missing values last', (dir, first) => {
    const p = idx.list({ sortField: 'height', sortDir: dir, limit: 3 });
    expect(p.rows.map((r) => r.doc?.['height'])).toEqual(first);
    const tail = idx.list({ sortField: 'height', sortDir: dir, offset: live - 1, limit: 1 });
    expect(tail.rows[0]?.doc?.['height']).toBeUndefined();
    // Ties break by id, so the order is total and pages do not overlap.
    const ids = p.rows.map((r) => r.record_id);
    expect([...ids].sort()).toEqual(ids);
  });

  it('sorts text case-insensitively', () => {
    const p = idx.list({ sortField: 'species', limit: 1, offset: 0 });
    expect(p.rows[0]?.doc?.['species']).toBe('Ash');
    const all = idx.list({ sortField: 'species', limit: live });
    const seq = all.rows.map((r) => String(r.doc?.['species']).toLowerCase());
    expect(seq).toEqual([...seq].sort());
  });

  it('searches the id and every field, case-insensitively', () => {
    expect(idx.list({ search: 'TREE 4242' }).total).toBe(11); // 4242, 42420..42429
    expect(idx.list({ search: 'r099998' }).rows.map((r) => r.record_id)).toEqual(['r099998']);
    expect(idx.list({ search: 'r099999' }).total).toBe(0); // deleted
    expect(idx.list({ search: 'r099999', includeDeleted: true }).total).toBe(1);
    // Birch is i % 5 === 4, like every deleted record (i % 1000 === 999).
    expect(idx.list({ search: 'birch' }).total).toBe(N / 5 - N / 1000);
    expect(idx.list({ search: 'no such thing' }).total).toBe(0);
  });

  it('filters by state', () => {
    const p = idx.list({ states: ['conflict'], sortField: '@record_id', limit: 2 });
    expect(p.rows.map((r) => r.record_id)).toEqual(['r000003', 'r000007']);
    expect(p.total).toBe(N / 4 - N / 1000); // every deleted record (999 mod 4 = 3) is in conflict
  });

  it('sees writes at once', () => {
    const local = mustIndex(1000);
    const before = local.list({ search: 'zebra' }).total;
    local.upsert([{ ...rec(5), doc: { label: 'zebra' } }]);
    expect(local.list({ search: 'zebra' }).total).toBe(before + 1);
    expect(local.list({ sortField: 'label', sortDir: 'desc', limit: 1 }).rows[0]?.record_id).toBe('r000005');
    local.delete(['r000005']);
    expect(local.list({ search: 'zebra' }).total).toBe(before);
    expect(local.size).toBe(999);
  });
});

describe('CollectionIndex patched orders', () => {
  it.each([
    ['height', 'asc'],
    ['height', 'desc'],
    ['label', 'asc'],
    ['@updated_at', 'desc'],
  ] as const)('match a full sort after edits and deletes (%s %s)', (field, dir) => {
    const idx = mustIndex(5000);
    idx.list({ sortField: field, sortDir: dir }); // cache the order
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 20; round++) {
      const batch: LocalRecord[] = [];
      for (let k = 0; k < 15; k++) {
        const i = rnd(6000); // some new, some existing
        const r = rec(i);
        batch.push({ ...r, updated_at: 3_000_000 + rnd(1000), doc: { ...r.doc, height: rnd(300), label: `L${rnd(50)}` } });
      }
      idx.upsert(batch);
      idx.delete([`r${String(rnd(6000)).padStart(6, '0')}`]);
      idx.list({ sortField: field, sortDir: dir, search: 'l1' }); // a filter cached in between
    }
    const fresh = new CollectionIndex('trees');
    fresh.upsert(idx.list({ includeDeleted: true, limit: 1e9 }).rows);
    const q = { sortField: field, sortDir: dir, includeDeleted: true, limit: 1e9 };
    expect(idx.list(q).rows.map((r) => r.record_id)).toEqual(fresh.list(q).rows.map((r) => r.record_id));
    expect(idx.list(q).total).toBe(idx.size);
  });
});

describe('sortValue', () => {
  it.each([
    ['@record_id', 'r000001'],
    ['@state', 'pending'],
    ['species', 'beech'],
    ['label', 'Tree 1'],
    ['nope', undefined],
    ['@nope', undefined],
  ])('%s', (field, want) => {
    expect(sortValue(rec(1), field)).toBe(want);
  });
});
