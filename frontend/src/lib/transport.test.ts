import { describe, expect, it } from 'vitest';
import {
  createTransport,
  HttpTransport,
  NotConnectedError,
  TransportError,
  WailsTransport,
  wailsBindings,
  type WailsAppBindings,
} from './transport';
import type { SelfCheckResult } from './types';

function fakeBindings(over: Partial<WailsAppBindings> = {}): WailsAppBindings {
  return {
    Ping: (msg) => Promise.resolve(msg),
    Version: () => Promise.resolve('1.2.3'),
    ReportSelfCheck: () => Promise.resolve(),
    ...over,
  };
}

const result: SelfCheckResult = {
  indexedDB: { ok: true },
  binding: { ok: true },
  userAgent: 'ua',
  durationMs: 1,
};

describe('createTransport', () => {
  it('uses the Wails bindings when window.go has them', () => {
    const t = createTransport({ go: { app: { App: fakeBindings() } } });
    expect(t).toBeInstanceOf(WailsTransport);
    expect(t.kind).toBe('wails');
  });

  it.each([
    ['no window.go', {}],
    ['no app package', { go: {} }],
    ['incomplete bindings', { go: { app: { App: { Ping: () => Promise.resolve('') } } } }],
  ])('falls back to the HTTP bridge with %s', (_name, host) => {
    const t = createTransport({ ...host, location: { origin: 'http://127.0.0.1:8080' } });
    expect(t).toBeInstanceOf(HttpTransport);
    expect(t.kind).toBe('http');
    expect((t as HttpTransport).baseURL).toBe('http://127.0.0.1:8080');
  });

  it('finds bindings only when every method is there', () => {
    expect(wailsBindings({ go: { app: { App: fakeBindings() } } })).toBeDefined();
    expect(wailsBindings({ go: { app: { App: { Version: () => Promise.resolve('') } } } })).toBeUndefined();
  });
});

describe('WailsTransport', () => {
  it('passes calls and values through', async () => {
    const seen: SelfCheckResult[] = [];
    const t = new WailsTransport(
      fakeBindings({
        ReportSelfCheck: (r) => {
          seen.push(r);
          return Promise.resolve();
        },
      }),
    );
    await expect(t.ping('héllo 🚜')).resolves.toBe('héllo 🚜');
    await expect(t.version()).resolves.toBe('1.2.3');
    await t.reportSelfCheck(result);
    expect(seen).toEqual([result]);
  });

  it.each([
    ['a string, as Wails rejects', 'ping: message too long', 'ping: message too long'],
    ['an Error', new Error('boom'), 'boom'],
    ['nothing', undefined, 'Ping failed without a message'],
  ])('turns a rejection with %s into a TransportError', async (_name, rejection, message) => {
    const t = new WailsTransport(fakeBindings({ Ping: () => Promise.reject(rejection) }));
    const err = await t.ping('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ method: 'Ping', message });
  });

  it('turns a synchronous throw into a TransportError', async () => {
    const t = new WailsTransport(
      fakeBindings({
        Version: () => {
          throw new Error('bindings gone');
        },
      }),
    );
    await expect(t.version()).rejects.toMatchObject({ name: 'TransportError', method: 'Version', message: 'bindings gone' });
  });
});

describe('HttpTransport (not connected yet)', () => {
  it.each([
    ['ping', (t: HttpTransport) => t.ping()],
    ['version', (t: HttpTransport) => t.version()],
    ['reportSelfCheck', (t: HttpTransport) => t.reportSelfCheck()],
  ])('%s rejects with NotConnectedError', async (_name, call) => {
    const err = await call(new HttpTransport('http://127.0.0.1:1')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotConnectedError);
    expect((err as Error).message).toMatch(/^Not connected to fieldsync/);
  });
});
