import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { boot, infoWhenReady } from './boot';
import { createApi } from './api';
import { FakeGo } from '../testing/fakeGo';

describe('boot', () => {
  it('opens the data layer once Go has started', async () => {
    const go = new FakeGo();
    let failures = 2;
    const info = go.transport.handlers['UI.Info'];
    go.transport.handlers['UI.Info'] = (...a) => {
      if (failures-- > 0) throw new Error('fieldsync is still starting: try again in a moment');
      return info?.(...a);
    };
    const slept: number[] = [];
    const s = await boot(
      { indexedDB: new IDBFactory() },
      { transport: go.transport, sleep: (ms) => (slept.push(ms), Promise.resolve()) },
    );
    try {
      expect(slept).toEqual([100, 200]);
      expect(s.info.device).toBe('dev1');
      expect(s.data.device).toBe('dev1');
      await s.data.put('trees', 'a', { name: 'A' });
      await s.data.flush();
      expect(go.journal).toHaveLength(1);
    } finally {
      s.data.close();
    }
  });

  it('gives up with the last error', async () => {
    const go = new FakeGo();
    go.offline = true;
    let slept = 0;
    await expect(
      infoWhenReady(createApi(go.transport), 1000, (ms) => ((slept += ms), Promise.resolve())),
    ).rejects.toThrow('fieldsync is not answering');
    expect(slept).toBeGreaterThanOrEqual(1000);
  });

  it('installs the benchmark hook when the page asks for it', async () => {
    const go = new FakeGo();
    const host: { indexedDB: IDBFactory; location: { origin: string; search: string }; __fieldsyncBench?: unknown } = {
      indexedDB: new IDBFactory(),
      location: { origin: '', search: '?bench=1' },
    };
    const s = await boot(host, { transport: go.transport });
    try {
      await expect.poll(() => (host.__fieldsyncBench as { ready?: boolean } | undefined)?.ready).toBe(true);
    } finally {
      s.data.close();
    }
  });
});
