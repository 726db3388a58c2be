// The start-up self-check: proves that IndexedDB works in this webview and
// that a value round-trips through the Go bindings, then reports both to Go
// (which logs them and writes them where scripts/desktop-smoke.sh looks).

import { describeError, META_STORE, openDatabase } from './db';
import type { Transport } from './transport';
import type { CheckOutcome, SelfCheckResult } from './types';

/** Go rejects check errors longer than this many bytes (app.MaxCheckErrorLen). */
export const MAX_ERROR_BYTES = 4096;
/** Go rejects user agents longer than this many bytes (app.MaxUserAgentLen). */
export const MAX_USER_AGENT_BYTES = 1024;

/** The key of the probe record in the meta store. */
export const PROBE_KEY = 'selfcheck:probe';

/** What the self-check needs from its surroundings; tests pass fakes. */
export interface SelfCheckDeps {
  /** The IndexedDB factory, or undefined where there is none. */
  indexedDB: IDBFactory | undefined;
  transport: Transport;
  userAgent: string;
  /** Milliseconds clock for the duration, e.g. performance.now. */
  now: () => number;
  /** A fresh unique value for the probe and the ping. */
  nonce: () => string;
  /** How long each check may take before it counts as failed. */
  timeoutMs?: number;
}

/** The outcome of runAndReport: the result and whether Go accepted it. */
export interface SelfCheckRun {
  result: SelfCheckResult;
  reported: boolean;
  /** Why reporting failed; set only when reported is false. */
  reportError?: string;
}

const encoder = new TextEncoder();

/** Shortens s to at most max UTF-8 bytes without splitting a character. */
export function clipBytes(s: string, max: number): string {
  if (encoder.encode(s).length <= max) return s;
  let out = '';
  let used = 0;
  const ellipsis = '…';
  const budget = max - encoder.encode(ellipsis).length;
  for (const ch of s) {
    const n = encoder.encode(ch).length;
    if (used + n > budget) break;
    out += ch;
    used += n;
  }
  return out + ellipsis;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(describeError(err)));
      },
    );
  });
}

function txDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('the transaction was aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('the transaction failed'));
  });
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('the request failed'));
  });
}

/**
 * Opens the fieldsync database, writes a probe record, reads it back and
 * deletes it in one transaction, then checks in a second transaction that it
 * is gone. It rejects with an Error whose message says what went wrong.
 */
export async function probeIndexedDB(factory: IDBFactory | undefined, nonce: string): Promise<void> {
  if (!factory) throw new Error('IndexedDB is not available in this webview');
  const db = await openDatabase(factory);
  try {
    const tx = db.transaction(META_STORE, 'readwrite');
    const done = txDone(tx);
    const store = tx.objectStore(META_STORE);
    await request(store.put({ key: PROBE_KEY, value: nonce }));
    const got = (await request(store.get(PROBE_KEY))) as { value?: unknown } | undefined;
    if (got?.value !== nonce) {
      tx.abort();
      await done.catch(() => undefined);
      throw new Error(`the probe record read back as ${JSON.stringify(got?.value)}, expected ${JSON.stringify(nonce)}`);
    }
    await request(store.delete(PROBE_KEY));
    await done;

    const check = db.transaction(META_STORE, 'readonly');
    const left = await request(check.objectStore(META_STORE).count(PROBE_KEY));
    if (left !== 0) throw new Error('the probe record was still there after it was deleted');
  } finally {
    db.close();
  }
}

async function outcome(check: () => Promise<void>): Promise<CheckOutcome> {
  try {
    await check();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: clipBytes(describeError(err), MAX_ERROR_BYTES) };
  }
}

/** Runs both checks and returns the result without reporting it. */
export async function runSelfCheck(deps: SelfCheckDeps): Promise<SelfCheckResult> {
  const timeout = deps.timeoutMs ?? 10_000;
  const start = deps.now();
  const [indexedDB, binding] = await Promise.all([
    outcome(() => withTimeout(probeIndexedDB(deps.indexedDB, deps.nonce()), timeout, 'IndexedDB')),
    outcome(async () => {
      const sent = deps.nonce();
      const got = await withTimeout(deps.transport.ping(sent), timeout, 'The Go binding Ping');
      if (got !== sent) {
        throw new Error(`Ping returned ${JSON.stringify(got)}, expected ${JSON.stringify(sent)}`);
      }
    }),
  ]);
  return {
    indexedDB,
    binding,
    userAgent: clipBytes(deps.userAgent, MAX_USER_AGENT_BYTES),
    durationMs: Math.max(0, deps.now() - start),
  };
}

/** Runs the self-check and reports the result to Go. It never rejects. */
export async function runAndReport(deps: SelfCheckDeps): Promise<SelfCheckRun> {
  const result = await runSelfCheck(deps);
  try {
    await withTimeout(deps.transport.reportSelfCheck(result), deps.timeoutMs ?? 10_000, 'The Go binding ReportSelfCheck');
    return { result, reported: true };
  } catch (err) {
    return { result, reported: false, reportError: describeError(err) };
  }
}

/** A one-line summary of a run for the status bar. */
export function summarize(run: SelfCheckRun): { healthy: boolean; text: string } {
  const { result } = run;
  const problems: string[] = [];
  if (!result.indexedDB.ok) problems.push(`local storage (IndexedDB) failed: ${result.indexedDB.error ?? ''}`);
  if (!result.binding.ok) problems.push(`connection to fieldsync failed: ${result.binding.error ?? ''}`);
  if (!run.reported) problems.push(`result not reported: ${run.reportError ?? ''}`);
  if (problems.length === 0) return { healthy: true, text: 'Self-check passed' };
  return { healthy: false, text: `Self-check: ${problems.join('; ')}` };
}
