// Test helpers shared by the unit tests (not bundled: only *.test.ts import it).

import type { Transport } from './transport';
import type { SelfCheckResult } from './types';

/** A Transport whose behaviour each test sets; it records the reports. */
export class FakeTransport implements Transport {
  readonly kind = 'wails' as const;
  reports: SelfCheckResult[] = [];
  pingImpl: (msg: string) => Promise<string> = (msg) => Promise.resolve(msg);
  reportImpl: (r: SelfCheckResult) => Promise<void> = () => Promise.resolve();

  ping(msg: string): Promise<string> {
    return this.pingImpl(msg);
  }

  version(): Promise<string> {
    return Promise.resolve('test');
  }

  reportSelfCheck(result: SelfCheckResult): Promise<void> {
    this.reports.push(result);
    return this.reportImpl(result);
  }
}

/** A nonce source giving n-1, n-2, ... so tests can predict values. */
export function counter(prefix = 'nonce'): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}
