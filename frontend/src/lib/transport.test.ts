import { describe, expect, it } from 'vitest';
import {
  createTransport,
  HttpTransport,
  NotConnectedError,
  splitMethod,
  TransportError,
  WailsTransport,
  wailsBindings,
  type TransportHost,
  type WailsAppBindings,
} from './transport';
import type { SelfCheckResult } from './types';

function fakeBindings(over: Partial<WailsAppBindings> = {}): Record<string, unknown> {
  return {
    Ping: (msg: string) => Promise.resolve(msg),
    Version: () => Promise.resolve('1.2.3'),
    ReportSelfCheck: () => Promise.resolve(),
    ...over,
  };
}

function host(app: Record<string, unknown>, extra: Record<string, Record<string, unknown>> = {}): TransportHost {
  return { go: { app: { App: app, ...extra } } };
}

const result: SelfCheckResult = {
  indexedDB: { ok: true },
  binding: { ok: true },
  userAgent: 'ua',
  durationMs: 1,
};

describe('createTransport', () => {
  it('uses the Wails bindings when window.go has them', () => {
    const t = createTransport(host(fakeBindings()));
    expect(t).toBeInstanceOf(WailsTransport);
    expect(t.kind).toBe('wails');
  });

  it.each([
    ['no window.go', {}],
    ['no app package', { go: {} }],
    ['incomplete bindings', { go: { app: { App: { Ping: () => Promise.resolve('') } } } }],
  ])('falls back to the HTTP bridge with %s', (_name, h) => {
    const t = createTransport({ ...(h as TransportHost), location: { origin: 'http://127.0.0.1:8080' } });
    expect(t).toBeInstanceOf(HttpTransport);
    expect(t.kind).toBe('http');
    expect((t as HttpTransport).baseURL).toBe('http://127.0.0.1:8080');
  });

  it('finds bindings only when every method is there', () => {
    expect(wailsBindings(host(fakeBindings()))).toBeDefined();
    expect(wailsBindings(host({ Version: () => Promise.resolve('') }))).toBeUndefined();
  });
});

describe('splitMethod', () => {
  it.each([['UI.Accept', ['UI', 'Accept']], ['App.Ping', ['App', 'Ping']]])('splits %s', (m, want) => {
    expect(splitMethod(m)).toEqual(want);
  });
  it.each(['Accept', '.Accept', 'UI.', 'a.b.c', ''])('refuses %j', (m) => {
    expect(() => splitMethod(m)).toThrow(TransportError);
  });
});

describe('WailsTransport', () => {
  it('passes calls and values through', async () => {
    const seen: SelfCheckResult[] = [];
    const t = new WailsTransport(
      host(
        fakeBindings({
          ReportSelfCheck: (r) => {
            seen.push(r);
            return Promise.resolve();
          },
        }),
      ),
    );
    await expect(t.ping('héllo 🚜')).resolves.toBe('héllo 🚜');
    await expect(t.version()).resolves.toBe('1.2.3');
    await t.reportSelfCheck(result);
    expect(seen).toEqual([result]);
  });

  it('calls any bound struct with its arguments', async () => {
    const got: unknown[][] = [];
    const t = new WailsTransport(
      host(fakeBindings(), {
        UI: {
          Records: (...args: unknown[]) => {
            got.push(args);
            return Promise.resolve({ records: [], next: '', total: 0 });
          },
        },
      }),
    );
    await expect(t.call('UI.Records', 'trees', '', 10)).resolves.toEqual({ records: [], next: '', total: 0 });
    expect(got).toEqual([['trees', '', 10]]);
  });

  it('says when a method is not bound', async () => {
    const t = new WailsTransport(host(fakeBindings()));
    await expect(t.call('UI.Accept', [])).rejects.toMatchObject({
      name: 'NotConnectedError',
      method: 'UI.Accept',
      message: 'UI.Accept is not bound in this fieldsync build',
    });
  });

  it.each([
    ['a string, as Wails rejects', 'ping: message too long', 'ping: message too long'],
    ['an Error', new Error('boom'), 'boom'],
    ['nothing', undefined, 'App.Ping failed without a message'],
  ])('turns a rejection with %s into a TransportError', async (_name, rejection, message) => {
    const t = new WailsTransport(host(fakeBindings({ Ping: () => Promise.reject(rejection) })));
    const err = await t.ping('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).toMatchObject({ method: 'App.Ping', message });
  });

  it('turns a synchronous throw into a TransportError', async () => {
    const t = new WailsTransport(
      host(
        fakeBindings({
          Version: () => {
            throw new Error('bindings gone');
          },
        }),
      ),
    );
    await expect(t.version()).rejects.toMatchObject({ name: 'TransportError', method: 'App.Version', message: 'bindings gone' });
  });

  it('listens through window.runtime.EventsOn and stops', () => {
    const listeners = new Map<string, (...d: unknown[]) => void>();
    const h: TransportHost = {
      ...host(fakeBindings()),
      runtime: {
        EventsOn: (name, cb) => {
          listeners.set(name, cb);
          return () => listeners.delete(name);
        },
      },
    };
    const t = new WailsTransport(h);
    const got: unknown[][] = [];
    const off = t.on('sync:status', (...d) => got.push(d));
    listeners.get('sync:status')?.({ state: 'idle' });
    off();
    expect(got).toEqual([[{ state: 'idle' }]]);
    expect(listeners.size).toBe(0);
    const statuses: string[] = [];
    t.onStatus((s) => statuses.push(s));
    expect(statuses).toEqual(['open']);
  });
});

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

describe('HttpTransport', () => {
  it('posts the arguments with the CSRF token and returns the result', async () => {
    const seen: { url: string; init: RequestInit | undefined }[] = [];
    const t = new HttpTransport('http://127.0.0.1:9', {
      port: '9',
      cookies: () => 'other=1; fieldsync-csrf-9=tok%3D',
      fetch: (input, init) => {
        seen.push({ url: String(input), init });
        return Promise.resolve(jsonResponse(200, { result: { accepted: 1 } }));
      },
    });
    await expect(t.call('UI.Accept', [{ change_id: 'a' }])).resolves.toEqual({ accepted: 1 });
    expect(seen[0]?.url).toBe('http://127.0.0.1:9/api/call/UI.Accept');
    expect(seen[0]?.init?.body).toBe('[[{"change_id":"a"}]]');
    expect((seen[0]?.init?.headers as Record<string, string>)['X-CSRF-Token']).toBe('tok=');
  });

  it('turns a Go error into a TransportError with its text', async () => {
    const t = new HttpTransport('', {
      port: '9',
      cookies: () => 'fieldsync-csrf-9=t',
      fetch: () => Promise.resolve(jsonResponse(400, { error: 'accept: change 1: doc is not a JSON object' })),
    });
    const err = await t.call('UI.Accept', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err).not.toBeInstanceOf(NotConnectedError);
    expect(err).toMatchObject({ method: 'UI.Accept', message: 'accept: change 1: doc is not a JSON object' });
  });

  it('says it is not connected when the server does not answer', async () => {
    const t = new HttpTransport('', {
      port: '9',
      cookies: () => 'fieldsync-csrf-9=t',
      fetch: () => Promise.reject(new TypeError('Failed to fetch')),
    });
    const err = await t.ping('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotConnectedError);
    expect((err as Error).message).toMatch(/fieldsync is not answering/);
  });

  it('says it is not connected when the session is gone', async () => {
    const t = new HttpTransport('', {
      port: '9',
      cookies: () => 'fieldsync-csrf-9=t',
      fetch: () => Promise.resolve(jsonResponse(401, { error: 'no session' }, { 'X-Bridge-Refused': 'auth' })),
    });
    await expect(t.version()).rejects.toBeInstanceOf(NotConnectedError);
  });

  it('refreshes the CSRF cookie once when it was refused', async () => {
    let token = 'old';
    let calls = 0;
    const t = new HttpTransport('', {
      port: '9',
      cookies: () => `fieldsync-csrf-9=${token}`,
      fetch: (input, init) => {
        const url = String(input);
        if (url.endsWith('/api/session')) {
          token = 'new';
          return Promise.resolve(jsonResponse(200, { ok: true, csrfCookie: 'fieldsync-csrf-9', csrfHeader: 'X-CSRF-Token' }));
        }
        calls++;
        const sent = (init?.headers as Record<string, string>)['X-CSRF-Token'];
        if (sent !== 'new') return Promise.resolve(jsonResponse(403, { error: 'csrf' }, { 'X-Bridge-Refused': 'csrf' }));
        return Promise.resolve(jsonResponse(200, { result: 'pong' }));
      },
    });
    await expect(t.ping('pong')).resolves.toBe('pong');
    expect(calls).toBe(2);
  });
});
