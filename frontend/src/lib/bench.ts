// Capture benchmarks the browser benchmark (playwright, `make bench`) drives
// in a real page: a bulk import through the data layer until Go acknowledged
// every change, next to raw IndexedDB puts of the same records in the same
// run, and the edit-to-durable latency of single edits.
//
// Dexie 4 vs raw IndexedDB on the data layer's bulk-put path: see the
// numbers at the top of data/store.ts. The data layer uses raw IndexedDB.

import type { Api } from './api';
import type { DataStore } from './data';
import { request, txDone } from './data/idb';
import { HLC, uiNode } from './hlc';
import { newId } from './ids';
import type { Change, Collection, Doc, Field } from './types';

/** Makes the i-th benchmark document. */
export type DocMaker = (i: number) => Doc;

/** A field-worker-like document of about 300 bytes. */
export const defaultDoc: DocMaker = (i) => ({
  site: `Site ${i % 97}`,
  species: ['oak', 'beech', 'ash', 'pine', 'birch'][i % 5] ?? 'oak',
  height_m: 5 + (i % 300) / 10,
  dbh_cm: 10 + (i % 80),
  healthy: i % 7 !== 0,
  observed_at: 1_700_000_000_000 + i * 60_000,
  note: `Observation ${i}: crown intact, bark sound, no visible pests; photo taken from the north side.`,
});

function fieldValue(f: Field, i: number): unknown {
  switch (f.type) {
    case 'text':
      return `${f.label ?? f.name} ${i}`;
    case 'note':
      return `Observation ${i}: crown intact, bark sound, no visible damage; photo taken from the north side.`;
    case 'number':
      return 5 + (i % 300) / 10;
    case 'integer':
      return i % 80;
    case 'boolean':
      return i % 7 !== 0;
    case 'enum':
      return f.options && f.options.length > 0 ? f.options[i % f.options.length] : undefined;
    case 'datetime':
      return 1_700_000_000_000 + i * 60_000;
    case 'list':
      return [`crew ${i % 5}`];
    default:
      return undefined;
  }
}

/** A DocMaker whose documents are valid for the declared collection c. */
export function docMakerFor(c: Collection): DocMaker {
  return (i) => {
    const doc: Doc = {};
    for (const f of c.fields) {
      const v = fieldValue(f, i);
      if (v !== undefined) doc[f.name] = v;
    }
    return doc;
  };
}

/** Options a benchmark script can pass from page.evaluate (plain JSON). */
export interface BenchOptions {
  chunk?: number;
  /** Raw puts: make the documents of this declared collection (the import's), not defaultDoc. */
  collection?: string;
  /**
   * Raw puts: write into one scratch database kept from run to run (record
   * ids continue), so it grows as the data layer's own database does; by
   * default each run starts from an empty database.
   */
  grow?: boolean;
}

/**
 * The functions a browser benchmark calls on window.__fieldsyncBench (boot
 * installs them when the page URL has bench=1). Documents are made valid for
 * the named collection's declaration.
 */
export interface BenchHook {
  ready: true;
  bulkImport(collection: string, n: number, opts?: BenchOptions): Promise<Timing>;
  rawPuts(n: number, opts?: BenchOptions): Promise<Timing>;
  rawPairs(n: number, opts?: BenchOptions): Promise<Timing>;
  rawCarrying(n: number, opts?: BenchOptions): Promise<Timing>;
  goAccept(collection: string, n: number, opts?: BenchOptions): Promise<Timing>;
  settle(): Promise<void>;
  editLatency(collection: string, samples: number): Promise<Latency>;
}

/** Builds the BenchHook over a running data layer and the page's Api. */
export function benchHook(data: DataStore, factory: IDBFactory, api: Api): BenchHook {
  const maker = (collection: string): DocMaker => {
    const decl = data.info.collections.find((c) => c.name === collection);
    return decl ? docMakerFor(decl) : defaultDoc;
  };
  const rawOptions = (opts: BenchOptions) => ({
    makeDoc: opts.collection ? maker(opts.collection) : defaultDoc,
    ...(opts.chunk ? { chunk: opts.chunk } : {}),
    ...(opts.grow ? { grow: true } : {}),
  });
  return {
    ready: true,
    bulkImport: (collection, n, opts = {}) =>
      bulkImport(data, collection, n, { makeDoc: maker(collection), ...(opts.chunk ? { chunk: opts.chunk } : {}) }),
    rawPuts: (n, opts = {}) => rawPuts(factory, n, rawOptions(opts)),
    rawPairs: (n, opts = {}) => rawPuts(factory, n, { ...rawOptions(opts), pairs: true }),
    rawCarrying: (n, opts = {}) => rawPuts(factory, n, { ...rawOptions(opts), carrying: true }),
    editLatency: (collection, samples) => editLatency(data, collection, samples, { makeDoc: maker(collection) }),
    settle: () => settle(data),
    goAccept: (collection, n, opts = {}) =>
      goAccept(api, data, collection, n, { makeDoc: maker(collection), ...(opts.chunk ? { chunk: opts.chunk } : {}) }),
  };
}

/**
 * Waits until the data layer is idle: nothing pending and a catch-up run
 * to the end (after a timed run, so that the background work it leaves,
 * such as reading Go's echo of the import, does not fall into the next).
 */
export async function settle(store: DataStore): Promise<void> {
  await waitAcknowledged(store);
  await store.catchUp();
  // The sync-state refresh the first status event asks for (300 ms later)
  // must not fall into the next timed run either.
  await store.statesSettled();
}

/**
 * Sends n new changes of collection straight to Go (UI.Accept, batches of
 * chunk, two with Go at once like the drain) without IndexedDB, timed until
 * Go acknowledged the last: the floor of any capture that waits for Go's
 * acknowledgement. The changes are made before the clock starts, with a
 * clock node of their own (as another tab would); the page's catch-up is
 * held meanwhile.
 */
export async function goAccept(
  api: Api,
  data: DataStore,
  collection: string,
  n: number,
  opts: { chunk?: number; makeDoc?: DocMaker; now?: () => number; random?: (b: Uint8Array) => void } = {},
): Promise<Timing> {
  const chunk = opts.chunk ?? 500;
  const make = opts.makeDoc ?? defaultDoc;
  const now = opts.now ?? (() => performance.now());
  const random = opts.random ?? ((b: Uint8Array) => crypto.getRandomValues(b));
  const hlc = new HLC(uiNode(data.device, random), Date.now);
  hlc.observe(data.lastVersion());
  // The data layer's ids (lib/ids.ts), so Go indexes them as it would an import's.
  const id = () => newId(Date.now(), random);
  const batches: Change[][] = [];
  for (let i = 0; i < n; i += chunk) {
    const batch: Change[] = [];
    for (let j = i; j < Math.min(n, i + chunk); j++) {
      const c: Change = {
        change_id: id(),
        collection,
        record_id: id(),
        op: 'put',
        doc: make(j),
        version: hlc.next(),
        parents: [],
        device: data.device,
        edited_at: Date.now(),
      };
      if (data.author) c.author = data.author;
      batch.push(c);
    }
    batches.push(batch);
  }
  // Go's events would make the page catch up with these records meanwhile.
  const release = data.holdCatchUp();
  try {
    const start = now();
    let next = 0;
    const worker = async () => {
      for (let b = batches[next++]; b; b = batches[next++]) {
        const res = await api.accept(b);
        if (res.accepted !== b.length) throw new Error(`Go accepted ${res.accepted} of ${b.length} benchmark changes`);
      }
    };
    await Promise.all([worker(), worker()]);
    return timing(n, now() - start);
  } finally {
    release();
  }
}

/** The outcome of a timed run. */
export interface Timing {
  records: number;
  ms: number;
  perSecond: number;
  /** bulkImport: ms until the last chunk was in IndexedDB (the rest is waiting for Go's acknowledgements). */
  writeMs?: number;
}

function timing(records: number, ms: number): Timing {
  return { records, ms, perSecond: ms > 0 ? (records * 1000) / ms : 0 };
}

/**
 * Imports n records through the data layer (putMany in chunks, one
 * transaction each) and waits until Go acknowledged every change.
 */
export async function bulkImport(
  store: DataStore,
  collection: string,
  n: number,
  opts: { chunk?: number; makeDoc?: DocMaker; now?: () => number } = {},
): Promise<Timing> {
  const chunk = opts.chunk ?? 500;
  const make = opts.makeDoc ?? defaultDoc;
  const now = opts.now ?? (() => performance.now());
  const start = now();
  for (let i = 0; i < n; i += chunk) {
    const items = [];
    for (let j = i; j < Math.min(n, i + chunk); j++) items.push({ id: null, doc: make(j) });
    await store.putMany(collection, items);
  }
  const written = now() - start;
  await drained(store);
  return { ...timing(n, now() - start), writeMs: written };
}

/**
 * Resolves when the data layer's own mirror loop has had every change
 * acknowledged by Go, without asking it to run (the timed path is the
 * one an edit takes in the app); rejects after timeoutMs. The status's
 * count going to 0 is confirmed by counting the pending changes in
 * IndexedDB (inside the timed window), so a count that went down early
 * cannot end a run before Go has everything.
 */
export function drained(store: DataStore, timeoutMs = 600_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let unsubscribe: (() => void) | undefined;
    let done = false;
    let checking = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      queueMicrotask(() => unsubscribe?.());
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`the outbox did not drain in ${timeoutMs} ms`)), timeoutMs);
    const check = (outbox: number) => {
      if (done || checking || outbox !== 0) return;
      checking = true;
      store.outboxCount().then(
        (n) => {
          checking = false;
          // Still pending: the loop is at work, and its next status says more.
          if (n === 0) finish();
        },
        (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
      );
    };
    unsubscribe = store.status.subscribe((s) => check(s.outbox));
  });
}

/** Resolves when no change is pending (every change acknowledged by Go). */
export async function waitAcknowledged(store: DataStore): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    await store.flush();
    let outbox = 0;
    store.status.subscribe((s) => (outbox = s.outbox))();
    if (outbox === 0) return;
  }
  throw new Error('the outbox did not drain');
}

/**
 * Puts the same n records straight into a scratch IndexedDB database (one
 * object store, one transaction per chunk) and deletes it afterwards
 * (with grow: into one kept from run to run, which grows): the
 * baseline for bulkImport. With pairs, each record also gets a change
 * object (with the doc) in a second, auto-numbered store in the same
 * transaction: the least a record-plus-outbox design writes. With
 * carrying, each record is shaped as the data layer stores it (carrying its
 * change and capture sequence) in a store without indexes, and each
 * transaction reads and writes the capture counter in a meta store and
 * adds one object to each of the two logs (data/pending.ts,
 * data/states.ts): the least the one-object design writes. Neither does
 * any of the data layer's other work, nor involves Go.
 */
export async function rawPuts(
  factory: IDBFactory,
  n: number,
  opts: {
    chunk?: number;
    makeDoc?: DocMaker;
    now?: () => number;
    dbName?: string;
    pairs?: boolean;
    carrying?: boolean;
    grow?: boolean;
  } = {},
): Promise<Timing> {
  const chunk = opts.chunk ?? 500;
  const make = opts.makeDoc ?? defaultDoc;
  const now = opts.now ?? (() => performance.now());
  const name = opts.dbName ?? (opts.grow ? 'fieldsync-bench-raw-grown' : 'fieldsync-bench-raw');
  if (!opts.grow) await request(factory.deleteDatabase(name));
  const open = factory.open(name, 1);
  open.onupgradeneeded = () => {
    open.result.createObjectStore('records', { keyPath: ['collection', 'record_id'] });
    open.result.createObjectStore('outbox', { keyPath: 'seq', autoIncrement: true });
    open.result.createObjectStore('meta', { keyPath: 'key' });
    open.result.createObjectStore('captures', { keyPath: 'last' });
    open.result.createObjectStore('unsynced', { keyPath: 'id', autoIncrement: true });
  };
  const db = await request(open);
  try {
    // A grown database's records keep their ids: this run's follow them (untimed count).
    const base = opts.grow ? await request(db.transaction('records', 'readonly').objectStore('records').count()) : 0;
    const start = now();
    for (let i = 0; i < n; i += chunk) {
      const tx = db.transaction(['records', 'outbox', 'meta', 'captures', 'unsynced'], 'readwrite');
      const done = txDone(tx);
      const s = tx.objectStore('records');
      const o = tx.objectStore('outbox');
      const end = Math.min(n, i + chunk);
      const write = () => {
        for (let j = i; j < end; j++) {
          const doc = make(j);
          if (opts.carrying) {
            const v = `${String(j).padStart(15, '0')}-0000-bench.ui0000`;
            s.put({
              collection: 'bench',
              record_id: `r${base + j}`,
              doc,
              version: v,
              deleted: false,
              leaves: [v],
              state: 'local',
              updated_at: j,
              edited_at: j,
              device: 'bench',
              seq: j + 1,
              change_id: `c${base + j}`,
              parents: [],
            });
            continue;
          }
          s.put({ collection: 'bench', record_id: `r${base + j}`, doc });
          if (opts.pairs) {
            o.add({ change_id: `c${base + j}`, collection: 'bench', record_id: `r${base + j}`, op: 'put', version: `v${j}`, parents: [], doc });
          }
        }
      };
      if (opts.carrying) {
        const meta = tx.objectStore('meta');
        const counter = meta.get('seq');
        counter.onsuccess = () => {
          write();
          // The capture log's and the unsynced log's one object each per
          // transaction (data/pending.ts, data/states.ts).
          const seqs: number[] = [];
          const keys: [string, string][] = [];
          for (let j = i; j < end; j++) {
            seqs.push(j + 1);
            keys.push(['bench', `r${base + j}`]);
          }
          tx.objectStore('captures').put({ last: end, seqs, keys });
          tx.objectStore('unsynced').put({ keys });
          meta.put({ key: 'seq', value: end });
        };
      } else {
        write();
      }
      await done;
    }
    return timing(n, now() - start);
  } finally {
    db.close();
    if (!opts.grow) await request(factory.deleteDatabase(name)).catch(() => undefined);
  }
}

/** Latency samples in ms and their median and 99th percentile. */
export interface Latency {
  samples: number[];
  medianMs: number;
  p99Ms: number;
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] ?? 0;
}

/**
 * Measures edit-to-durable latency: for each sample, one put through the
 * data layer and the time until the mirror loop had Go acknowledge it.
 */
export async function editLatency(
  store: DataStore,
  collection: string,
  samples: number,
  opts: { makeDoc?: DocMaker; now?: () => number } = {},
): Promise<Latency> {
  const make = opts.makeDoc ?? defaultDoc;
  const now = opts.now ?? (() => performance.now());
  const first = await store.put(collection, null, make(0));
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = now();
    await store.put(collection, first.record_id, make(i + 1));
    await drained(store);
    out.push(now() - start);
  }
  const sorted = [...out].sort((a, b) => a - b);
  return { samples: out, medianMs: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99) };
}
