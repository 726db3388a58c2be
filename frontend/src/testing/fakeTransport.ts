// Test helpers shared by the unit tests (src/testing/: only *.test.ts may import it).

import type { ConnectionStatus, EventListener, Transport } from '../lib/transport';
import type { SelfCheckResult } from '../lib/types';

/**
 * A Transport whose behaviour each test sets: App.Ping/App.ReportSelfCheck
 * go through pingImpl/reportImpl, other methods through handlers[method].
 * It records the reports and can emit events and connection changes.
 */
export class FakeTransport implements Transport {
  readonly kind = 'wails' as const;
  reports: SelfCheckResult[] = [];
  pingImpl: (msg: string) => Promise<string> = (msg) => Promise.resolve(msg);
  reportImpl: (r: SelfCheckResult) => Promise<void> = () => Promise.resolve();
  /** Handlers by "Struct.Method"; args as the caller passed them. */
  handlers: Record<string, (...args: unknown[]) => unknown> = {};
  /** Every call made, in order. */
  calls: { method: string; args: unknown[] }[] = [];
  private readonly listeners = new Map<string, Set<EventListener>>();
  private readonly statusListeners = new Set<(s: ConnectionStatus, reconnected: boolean) => void>();

  async call<T>(method: string, ...args: unknown[]): Promise<T> {
    this.calls.push({ method, args });
    if (method === 'App.Ping') return (await this.pingImpl(String(args[0]))) as T;
    if (method === 'App.Version') return 'test' as T;
    if (method === 'App.ReportSelfCheck') {
      const r = args[0] as SelfCheckResult;
      this.reports.push(r);
      await this.reportImpl(r);
      return undefined as T;
    }
    const h = this.handlers[method];
    if (!h) throw new Error(`FakeTransport: no handler for ${method}`);
    // Structured copy, as a real transport would: callers must not share objects with Go.
    const copied = JSON.parse(JSON.stringify(args)) as unknown[];
    const out = await h(...copied);
    return (out === undefined ? undefined : JSON.parse(JSON.stringify(out))) as T;
  }

  on(event: string, listener: EventListener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  onStatus(listener: (status: ConnectionStatus, reconnected: boolean) => void): () => void {
    this.statusListeners.add(listener);
    listener('open', false);
    return () => this.statusListeners.delete(listener);
  }

  /** Delivers an event to its listeners, as Go would. */
  emit(event: string, ...data: unknown[]): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) l(...data);
  }

  /** Reports a connection status change. */
  setStatus(status: ConnectionStatus, reconnected = false): void {
    for (const l of [...this.statusListeners]) l(status, reconnected);
  }

  ping(msg: string): Promise<string> {
    return this.call<string>('App.Ping', msg);
  }

  version(): Promise<string> {
    return this.call<string>('App.Version');
  }

  async reportSelfCheck(result: SelfCheckResult): Promise<void> {
    await this.call<unknown>('App.ReportSelfCheck', result);
  }
}

/** A nonce source giving n-1, n-2, ... so tests can predict values. */
export function counter(prefix = 'nonce'): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}
