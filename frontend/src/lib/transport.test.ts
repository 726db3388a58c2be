import { describe, expect, it } from 'vitest';
import {
  createTransport,
  watchLink,
  type CallOutcome,
  type ConnectionStatus,
  type Link,
  type Transport,
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

  it.each([
    { name: 'a short call as a string', changes: 1, blob: false },
    { name: 'a drain batch as a Blob of the same JSON', changes: 500, blob: true },
  ])('posts $name', async ({ changes, blob }) => {
    const seen: (RequestInit | undefined)[] = [];
    const t = new HttpTransport('http://127.0.0.1:9', {
      port: '9',
      cookies: () => 'fieldsync-csrf-9=tok',
      fetch: (_input, init) => {
        seen.push(init);
        return Promise.resolve(jsonResponse(200, { result: { accepted: changes } }));
      },
    });
    const batch = Array.from({ length: changes }, (_, i) => ({ change_id: `c${i}`, doc: { note: 'x'.repeat(100) } }));
    await expect(t.call('UI.Accept', batch)).resolves.toEqual({ accepted: changes });
    const body = seen[0]?.body;
    expect(body instanceof Blob).toBe(blob);
    const text = body instanceof Blob ? await body.text() : body;
    expect(text).toBe(JSON.stringify([batch]));
    expect((seen[0]?.headers as Record<string, string>)['Content-Type']).toBe('application/json');
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

describe('HttpTransport call outcomes', () => {
  it.each<[string, () => Promise<Response>, CallOutcome]>([
    ['an answer', () => Promise.resolve(jsonResponse(200, { result: 'x' })), 'ok'],
    ['a Go error', () => Promise.resolve(jsonResponse(500, { error: 'disk full' })), 'ok'],
    ['no answer', () => Promise.reject(new TypeError('Failed to fetch')), 'down'],
    ['a lost session', () => Promise.resolve(jsonResponse(403, { error: 'bad key' }, { 'X-Bridge-Refused': 'auth' })), 'unauthorized'],
  ])('reports %s', async (_name, fetchImpl, want) => {
    const t = new HttpTransport('', { port: '9', cookies: () => 'fieldsync-csrf-9=t', fetch: fetchImpl });
    const got: CallOutcome[] = [];
    const off = t.onCall((o) => got.push(o));
    await t.call('UI.Status').catch(() => {});
    off();
    await t.call('UI.Status').catch(() => {});
    expect(got).toEqual([want]);
  });

  it('probes /api/health without a session and never rejects', async () => {
    const urls: string[] = [];
    const up = new HttpTransport('http://127.0.0.1:9', {
      fetch: (input) => {
        urls.push(String(input));
        return Promise.resolve(jsonResponse(200, { ok: true }));
      },
    });
    await expect(up.probe()).resolves.toBe(true);
    expect(urls).toEqual(['http://127.0.0.1:9/api/health']);
    const down = new HttpTransport('', { fetch: () => Promise.reject(new TypeError('Failed to fetch')) });
    await expect(down.probe()).resolves.toBe(false);
  });
});

/** LinkFake is a transport whose stream state, call outcomes and probe answer a test sets. */
class LinkFake implements Transport {
  readonly kind = 'http' as const;
  answers = false;
  probes = 0;
  private status: ConnectionStatus = 'closed';
  private readonly statusFns = new Set<(s: ConnectionStatus, r: boolean) => void>();
  private readonly callFns = new Set<(o: CallOutcome) => void>();
  call<T>(): Promise<T> {
    return Promise.reject(new Error('not used'));
  }
  on(): () => void {
    return () => {};
  }
  onStatus(fn: (s: ConnectionStatus, r: boolean) => void): () => void {
    this.statusFns.add(fn);
    fn(this.status, false);
    return () => this.statusFns.delete(fn);
  }
  onCall(fn: (o: CallOutcome) => void): () => void {
    this.callFns.add(fn);
    return () => this.callFns.delete(fn);
  }
  probe(): Promise<boolean> {
    this.probes++;
    return Promise.resolve(this.answers);
  }
  setStatus(s: ConnectionStatus): void {
    this.status = s;
    for (const fn of [...this.statusFns]) fn(s, false);
  }
  callDone(o: CallOutcome): void {
    for (const fn of [...this.callFns]) fn(o);
  }
  ping(): Promise<string> {
    return Promise.resolve('');
  }
  version(): Promise<string> {
    return Promise.resolve('');
  }
  reportSelfCheck(): Promise<void> {
    return Promise.resolve();
  }
}

function linkSetup() {
  const t = new LinkFake();
  const timers: { fn: () => void; ms: number }[] = [];
  const links: Link[] = [];
  const stop = watchLink(t, (l) => links.push(l), {
    probeEveryMs: 50,
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    clearTimeout: () => {},
  });
  return { t, timers, links, stop };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('watchLink', () => {
  it('says fieldsync is not running when the stream breaks and nothing answers, and up when it is back', async () => {
    const { t, timers, links } = linkSetup();
    t.answers = true;
    t.setStatus('connecting');
    await tick();
    t.setStatus('open');
    expect(links).toEqual(['connecting', 'up']);

    t.answers = false;
    t.setStatus('reconnecting'); // the process died: the stream broke at once
    await tick();
    expect(links.at(-1)).toBe('down');
    // It keeps asking while the stream is lost.
    expect(timers.at(-1)?.ms).toBe(50);
    t.answers = true;
    timers.at(-1)?.fn();
    await tick();
    expect(links.at(-1)).toBe('down'); // the stream decides when it is really back
    t.setStatus('open');
    expect(links).toEqual(['connecting', 'up', 'down', 'up']);
  });

  it('does not cry wolf when the stream only reconnects', async () => {
    const { t, links } = linkSetup();
    t.setStatus('open');
    t.answers = true;
    t.setStatus('reconnecting');
    await tick();
    t.setStatus('open');
    expect(links).toEqual(['connecting', 'up']);
    expect(t.probes).toBe(1);
  });

  it('says the session is lost when fieldsync came back with a new key', async () => {
    const { t, links } = linkSetup();
    t.setStatus('open');
    t.setStatus('reconnecting');
    await tick();
    t.setStatus('unauthorized');
    expect(links).toEqual(['connecting', 'up', 'down', 'session-lost']);
    t.callDone('down');
    expect(links.at(-1)).toBe('down');
    t.callDone('unauthorized');
    expect(links.at(-1)).toBe('session-lost');
  });

  it('follows calls: a failed call with the stream lost means down, any answer means up', () => {
    const { t, links, stop } = linkSetup();
    t.setStatus('open');
    t.callDone('down'); // one failed request while the stream is open is no proof
    expect(links).toEqual(['connecting', 'up']);
    t.setStatus('closed');
    t.callDone('down');
    t.callDone('ok');
    expect(links).toEqual(['connecting', 'up', 'down', 'up']);
    stop();
    t.callDone('down');
    expect(links).toHaveLength(4);
  });

  it('is always up in the window', () => {
    const links: Link[] = [];
    watchLink(new WailsTransport(host(fakeBindings())), (l) => links.push(l));
    expect(links).toEqual(['connecting', 'up']);
  });
});
