import { describe, expect, it, vi } from 'vitest';
import type { RecordRef } from '../lib/ui/ports';
import { resolveInChunks, type Take } from './batchResolve';

const refs = (n: number): RecordRef[] => Array.from({ length: n }, (_, i) => ({ collection: 'c', record_id: `r${i}` }));

describe('resolveInChunks', () => {
  it('sends chunks, adds up the outcome and reports progress', async () => {
    type Failed = (RecordRef & { error: string })[];
    const resolveMany = vi.fn((items: RecordRef[], _take: Take) =>
      Promise.resolve<{ resolved: number; failed: Failed }>({
        resolved: items.length - 1,
        failed: [{ ...items[0]!, error: 'changed meanwhile; look at it again' }],
      }),
    );
    const progress: [number, number][] = [];
    const o = await resolveInChunks({ resolveMany }, refs(7), 'server', (d, t) => progress.push([d, t]), 3);
    expect(resolveMany.mock.calls.map((c) => [c[0].map((r) => r.record_id), c[1]])).toEqual([
      [['r0', 'r1', 'r2'], 'server'],
      [['r3', 'r4', 'r5'], 'server'],
      [['r6'], 'server'],
    ]);
    expect(progress).toEqual([
      [3, 7],
      [6, 7],
      [7, 7],
    ]);
    expect(o.resolved).toBe(4);
    expect(o.failed.map((f) => f.record_id)).toEqual(['r0', 'r3', 'r6']);
    expect(o.stopped).toBeUndefined();
  });

  it('stops at a failed call and says how many were not tried', async () => {
    let n = 0;
    const resolveMany = (items: RecordRef[]) =>
      ++n > 1 ? Promise.reject(new Error('fieldsync is not answering')) : Promise.resolve({ resolved: items.length, failed: [] });
    const o = await resolveInChunks({ resolveMany }, refs(5), 'newest', undefined, 2);
    expect(o).toEqual({ resolved: 2, failed: [], stopped: { error: 'fieldsync is not answering', notTried: 3 } });
  });

  it('accepts null for no failures, as Go may send', async () => {
    const resolveMany = (items: RecordRef[]) =>
      Promise.resolve({ resolved: items.length, failed: null as unknown as (RecordRef & { error: string })[] });
    expect(await resolveInChunks({ resolveMany }, refs(2), 'device')).toEqual({ resolved: 2, failed: [] });
  });
});
