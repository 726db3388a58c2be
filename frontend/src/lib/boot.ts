// Wires the frontend's services for a page: the transport (Wails or the
// browser bridge), the typed API and the IndexedDB data layer. main.ts calls
// boot(window) once; screens get the pieces as props.

import { createApi, type Api } from './api';
import { DataStore } from './data';
import { createTransport, type Transport, type TransportHost } from './transport';
import type { Info } from './types';

/** Everything the screens use. */
export interface Services {
  transport: Transport;
  api: Api;
  /** Go's Info(): device, collections, Drill, schedule. */
  info: Info;
  data: DataStore;
}

/**
 * Creates the transport (unless given) and API, asks Go for Info, opens the data layer and
 * starts its mirror loop and catch-up in the background (progress and errors
 * show in data.status). Rejects when Go or IndexedDB cannot be reached.
 */
export async function boot(
  host: TransportHost & {
    location?: { origin: string; search?: string };
    indexedDB?: IDBFactory;
    __fieldsyncBench?: unknown;
  },
  opts: {
    transport?: Transport;
    onError?: (err: unknown) => void;
    /** How long to keep asking while Go is still opening its store (default 30 s). */
    startupMs?: number;
    sleep?: (ms: number) => Promise<void>;
  } = {},
): Promise<Services> {
  const { onError } = opts;
  const transport = opts.transport ?? createTransport(host);
  const api = createApi(transport);
  const info = await infoWhenReady(api, opts.startupMs ?? 30_000, opts.sleep ?? defaultSleep);
  if (!host.indexedDB) throw new Error('IndexedDB is not available in this webview');
  const data = await DataStore.open({ indexedDB: host.indexedDB, api, info, ...(onError ? { onError } : {}) });
  void data.start();
  if (new URLSearchParams(host.location?.search ?? '').get('bench') === '1') {
    // The browser benchmark (scripts/browser-bench.sh) waits for
    // window.__fieldsyncBench.ready; the dynamic import keeps bench.ts out
    // of the main chunk.
    const factory = host.indexedDB;
    void import('./bench').then((b) => {
      host.__fieldsyncBench = b.benchHook(data, factory, api);
    }, onError);
  }
  return { transport, api, info, data };
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Calls api.info until it answers: in the desktop window the page can load
 * while Go is still opening its store ("fieldsync is still starting"). Gives
 * up with the last error after about budgetMs.
 */
export async function infoWhenReady(api: Api, budgetMs: number, sleep: (ms: number) => Promise<void>): Promise<Info> {
  let waited = 0;
  let delay = 100;
  for (;;) {
    try {
      return await api.info();
    } catch (err) {
      if (waited >= budgetMs) throw err;
      await sleep(delay);
      waited += delay;
      delay = Math.min(delay * 2, 2000);
    }
  }
}
