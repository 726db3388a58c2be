import { IDBFactory } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { DB_NAME, META_STORE, openDatabase } from './db';
import {
  clipBytes,
  MAX_ERROR_BYTES,
  MAX_USER_AGENT_BYTES,
  probeIndexedDB,
  runAndReport,
  runSelfCheck,
  summarize,
  type SelfCheckDeps,
} from './selfcheck';
import { counter, FakeTransport } from '../testing/fakeTransport';
import { NotConnectedError, TransportError } from './transport';

function deps(over: Partial<SelfCheckDeps> = {}): SelfCheckDeps & { transport: FakeTransport } {
  let t = 0;
  return {
    indexedDB: new IDBFactory(),
    transport: new FakeTransport(),
    userAgent: 'TestAgent/1.0',
    now: () => (t += 5),
    nonce: counter(),
    timeoutMs: 1000,
    ...over,
  } as SelfCheckDeps & { transport: FakeTransport };
}

describe('probeIndexedDB', () => {
  it('writes, reads back and deletes the probe, leaving the store empty', async () => {
    const factory = new IDBFactory();
    await probeIndexedDB(factory, 'n-1');
    const db = await openDatabase(factory);
    try {
      const count = await new Promise<number>((resolve, reject) => {
        const req = db.transaction(META_STORE).objectStore(META_STORE).count();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      expect(count).toBe(0);
      expect(db.name).toBe(DB_NAME);
    } finally {
      db.close();
    }
  });

  it('runs again on an existing database', async () => {
    const factory = new IDBFactory();
    await probeIndexedDB(factory, 'a');
    await expect(probeIndexedDB(factory, 'b')).resolves.toBeUndefined();
  });

  it('fails clearly without IndexedDB', async () => {
    await expect(probeIndexedDB(undefined, 'x')).rejects.toThrow('IndexedDB is not available in this webview');
  });

  it('fails when the database is newer than this code', async () => {
    const factory = new IDBFactory();
    await new Promise<void>((resolve, reject) => {
      const req = factory.open(DB_NAME, 99);
      req.onsuccess = () => {
        req.result.close();
        resolve();
      };
      req.onerror = () => reject(req.error);
    });
    await expect(probeIndexedDB(factory, 'x')).rejects.toMatchObject({ name: 'VersionError' });
  });
});

describe('runSelfCheck', () => {
  it('reports both checks ok when IndexedDB and the binding work', async () => {
    const d = deps();
    const r = await runSelfCheck(d);
    expect(r).toEqual({
      indexedDB: { ok: true },
      binding: { ok: true },
      userAgent: 'TestAgent/1.0',
      durationMs: 5,
    });
  });

  it('reports an IndexedDB failure with its DOMException name', async () => {
    const broken = {
      open() {
        throw new DOMException('storage is disabled', 'SecurityError');
      },
    } as unknown as IDBFactory;
    const r = await runSelfCheck(deps({ indexedDB: broken }));
    expect(r.indexedDB).toEqual({ ok: false, error: 'SecurityError: storage is disabled' });
    expect(r.binding.ok).toBe(true);
  });

  it('fails the binding check when Ping returns another value', async () => {
    const d = deps();
    d.transport.pingImpl = () => Promise.resolve('something else');
    const r = await runSelfCheck(d);
    expect(r.binding.ok).toBe(false);
    expect(r.binding.error).toMatch(/^Ping returned "something else", expected "nonce-\d"$/);
  });

  it('fails the binding check with the Go error text', async () => {
    const d = deps();
    d.transport.pingImpl = () => Promise.reject(new TransportError('Ping', 'ping: message too long'));
    const r = await runSelfCheck(d);
    expect(r.binding).toEqual({ ok: false, error: 'ping: message too long' });
  });

  it('times out a check that never answers', async () => {
    const d = deps({ timeoutMs: 20 });
    d.transport.pingImpl = () => new Promise<string>(() => {});
    const r = await runSelfCheck(d);
    expect(r.binding).toEqual({ ok: false, error: 'The Go binding Ping did not answer within 0.02 s' });
    expect(r.indexedDB.ok).toBe(true);
  });

  it('clips what Go would reject as too long', async () => {
    const d = deps({ userAgent: 'ü'.repeat(MAX_USER_AGENT_BYTES) });
    d.transport.pingImpl = () => Promise.reject(new Error('x'.repeat(MAX_ERROR_BYTES * 2)));
    const r = await runSelfCheck(d);
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    expect(bytes(r.userAgent)).toBeLessThanOrEqual(MAX_USER_AGENT_BYTES);
    expect(bytes(r.binding.error ?? '')).toBeLessThanOrEqual(MAX_ERROR_BYTES);
  });
});

describe('runAndReport', () => {
  it('reports the result to Go', async () => {
    const d = deps();
    const run = await runAndReport(d);
    expect(run.reported).toBe(true);
    expect(d.transport.reports).toEqual([run.result]);
    expect(summarize(run)).toEqual({ healthy: true, text: 'Self-check passed' });
  });

  it('reports a failed check too', async () => {
    const d = deps({ indexedDB: undefined });
    const run = await runAndReport(d);
    expect(run.reported).toBe(true);
    expect(d.transport.reports[0]?.indexedDB.ok).toBe(false);
    const s = summarize(run);
    expect(s.healthy).toBe(false);
    expect(s.text).toContain('local storage (IndexedDB) failed: IndexedDB is not available');
  });

  it('never rejects when reporting fails, and says why', async () => {
    const d = deps();
    d.transport.reportImpl = () => Promise.reject(new NotConnectedError('ReportSelfCheck', 'Not connected to fieldsync.'));
    const run = await runAndReport(d);
    expect(run).toMatchObject({ reported: false, reportError: 'Not connected to fieldsync.' });
    expect(summarize(run)).toEqual({
      healthy: false,
      text: 'Self-check: result not reported: Not connected to fieldsync.',
    });
  });
});

describe('clipBytes', () => {
  it.each([
    ['short stays', 'abc', 10, 'abc'],
    ['exact stays', 'abcd', 4, 'abcd'],
    ['ascii clipped', 'abcdefghij', 6, 'abc…'],
    ['no split characters', '🚜🚜🚜', 9, '🚜…'],
  ])('%s', (_name, input, max, want) => {
    expect(clipBytes(input, max)).toBe(want);
    expect(new TextEncoder().encode(clipBytes(input, max)).length).toBeLessThanOrEqual(max);
  });
});
