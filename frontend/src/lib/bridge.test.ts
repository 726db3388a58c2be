import { describe, expect, it } from 'vitest';
import { BridgeTransport, type BridgeStatus } from './bridge';

/** A scripted EventSource: tests open it, send events and fail it. */
class FakeES {
  static all: FakeES[] = [];
  readonly CLOSED = 2;
  readyState = 0;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  private readonly handlers = new Map<string, ((ev: Event) => void)[]>();
  constructor(readonly url: string) {
    FakeES.all.push(this);
  }
  addEventListener(name: string, fn: (ev: Event) => void): void {
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), fn]);
  }
  close(): void {
    this.readyState = this.CLOSED;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  send(name: string, data: string, id = ''): void {
    const ev = { data, lastEventId: id } as unknown as Event;
    for (const fn of this.handlers.get(name) ?? []) fn(ev);
  }
  fail(gaveUp: boolean): void {
    this.readyState = gaveUp ? this.CLOSED : 0;
    this.onerror?.();
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

function setup(session: () => Response = () => json(200, { ok: true, csrfCookie: 'c', csrfHeader: 'X-CSRF-Token' })) {
  FakeES.all = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const b = new BridgeTransport({
    baseURL: 'http://127.0.0.1:7',
    port: '7',
    cookies: () => '',
    EventSource: FakeES as unknown as typeof EventSource,
    fetch: () => Promise.resolve(session()),
    setTimeout: (fn, ms) => timers.push({ fn, ms }),
    clearTimeout: () => {},
    retryMinMs: 100,
    retryMaxMs: 400,
  });
  const statuses: [BridgeStatus, boolean][] = [];
  b.onStatus((s, r) => statuses.push([s, r]));
  return { b, timers, statuses };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('BridgeTransport events', () => {
  it('hands listeners the JSON array of arguments and stops on unsubscribe', () => {
    const { b } = setup();
    const got: unknown[][] = [];
    const off = b.on('sync:status', (...a) => got.push(a));
    const es = FakeES.all[0];
    expect(es?.url).toBe('http://127.0.0.1:7/api/events');
    es?.open();
    es?.send('sync:status', '[{"state":"idle"},2]', '5');
    es?.send('sync:status', 'not json');
    off();
    es?.send('sync:status', '[1]');
    expect(got).toEqual([[{ state: 'idle' }, 2], []]);
  });

  it('opens no stream before the first listener', () => {
    setup();
    expect(FakeES.all).toEqual([]);
  });

  it('reports a reconnect after the stream came back by itself', () => {
    const { b, statuses } = setup();
    b.on('x', () => {});
    const e = FakeES.all[0];
    e?.open();
    e?.fail(false);
    e?.open();
    expect(statuses).toEqual([
      ['closed', false],
      ['connecting', false],
      ['open', false],
      ['reconnecting', false],
      ['open', true],
    ]);
  });

  it('opens a new stream with the last event id and backs off when the stream gave up', async () => {
    const { b, timers, statuses } = setup();
    b.on('sync:applied', () => {});
    const first = FakeES.all[0];
    first?.open();
    first?.send('sync:applied', '[]', '41');
    first?.fail(true);
    await flush();
    expect(timers.map((t) => t.ms)).toEqual([100]);
    timers[0]?.fn();
    expect(FakeES.all[1]?.url).toBe('http://127.0.0.1:7/api/events?lastEventId=41');
    FakeES.all[1]?.fail(true);
    await flush();
    expect(timers.map((t) => t.ms)).toEqual([100, 200]);
    timers[1]?.fn();
    FakeES.all[2]?.open();
    expect(statuses[statuses.length - 1]).toEqual(['open', true]);
  });

  it('stops retrying when the session is gone', async () => {
    const { b, timers, statuses } = setup(() => json(401, { error: 'no session' }, { 'X-Bridge-Refused': 'auth' }));
    b.on('x', () => {});
    FakeES.all[0]?.fail(true);
    await flush();
    expect(timers).toEqual([]);
    expect(statuses[statuses.length - 1]).toEqual(['unauthorized', false]);
  });

  it('close() stops the stream', () => {
    const { b, statuses } = setup();
    b.on('x', () => {});
    b.close();
    expect(FakeES.all[0]?.readyState).toBe(2);
    expect(statuses[statuses.length - 1]).toEqual(['closed', false]);
  });
});
