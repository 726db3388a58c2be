// Test double: an in-memory Data and an unconnected Api for the screens'
// tests. The real data layer is lib/data (IndexedDB), booted by App.

import { Value } from '../lib/data/readable';
import type { ListPage } from '../lib/data/types';
import type {
  Api,
  Data,
  DataStatus,
  Doc,
  Info,
  ListQuery,
  LocalRecord,
  Progress,
  RecordRef,
  Removed,
  SettingsView,
  Status,
} from '../lib/ui/ports';

function randomId(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** compareValues orders document values: empty last, numbers numerically, text by locale. */
export function compareValues(a: unknown, b: unknown): number {
  const ea = a === undefined || a === null || a === '';
  const eb = b === undefined || b === null || b === '';
  if (ea || eb) return ea === eb ? 0 : ea ? 1 : -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' });
}

/** matches is true when any value of the record contains q (case-insensitive). */
export function matches(r: LocalRecord, q: string): boolean {
  if (!q) return true;
  const needle = q.toLowerCase();
  if (r.record_id.toLowerCase().includes(needle)) return true;
  for (const v of Object.values(r.doc ?? {})) {
    if (v !== null && v !== undefined && String(v).toLowerCase().includes(needle)) return true;
  }
  return false;
}

/** queryRecords filters, sorts and pages records in memory. */
export function queryRecords(all: Iterable<LocalRecord>, q: ListQuery): ListPage {
  const hits: LocalRecord[] = [];
  const search = (q.search ?? '').trim();
  for (const r of all) if ((q.includeDeleted || !r.deleted) && matches(r, search)) hits.push(r);
  const field = q.sortField ?? '@updated_at';
  const dir = (q.sortDir ?? (q.sortField ? 'asc' : 'desc')) === 'desc' ? -1 : 1;
  const key = (r: LocalRecord): unknown =>
    field.startsWith('@') ? (r as unknown as Record<string, unknown>)[field.slice(1)] : r.doc?.[field];
  hits.sort((a, b) => dir * compareValues(key(a), key(b)) || a.record_id.localeCompare(b.record_id));
  const offset = q.offset ?? 0;
  return { rows: hits.slice(offset, offset + (q.limit ?? 50)), total: hits.length, offset };
}

/** MemoryData keeps records in a Map; writes mark them local or pending. */
export class MemoryData implements Data {
  readonly records = new Map<string, LocalRecord>();
  outbox = 0;
  readonly status = new Value<DataStatus>({ mirror: 'idle', outbox: 0, rejected: 0, catchingUp: false, lastMseq: 0 });
  private readonly subs = new Set<() => void>();
  private clock = 0;

  private key(c: string, id: string): string {
    return `${c}\u0000${id}`;
  }

  /** seed adds records as if they came from Go. */
  seed(rs: LocalRecord[]): void {
    for (const r of rs) this.records.set(this.key(r.collection, r.record_id), r);
    this.notify();
  }

  list(collection: string, q: ListQuery): Promise<ListPage> {
    const all = [...this.records.values()].filter((r) => r.collection === collection);
    return Promise.resolve(queryRecords(all, q));
  }

  get(collection: string, id: string): Promise<LocalRecord | undefined> {
    return Promise.resolve(this.records.get(this.key(collection, id)));
  }

  put(collection: string, id: string | null | undefined, doc: Doc): Promise<LocalRecord> {
    const rid = id ?? randomId();
    const prev = this.records.get(this.key(collection, rid));
    const r: LocalRecord = {
      collection,
      record_id: rid,
      doc,
      version: `${String(Date.now()).padStart(15, '0')}-${(this.clock++ & 0xffff).toString(16).padStart(4, '0')}-mem`,
      deleted: false,
      leaves: [],
      state: !prev || prev.state === 'local' ? 'local' : prev.state === 'conflict' ? 'conflict' : 'pending',
      updated_at: Date.now(),
    };
    this.records.set(this.key(collection, rid), r);
    this.outbox++;
    this.notify();
    return Promise.resolve(r);
  }

  remove(collection: string, id: string): Promise<Removed> {
    const prev = this.records.get(this.key(collection, id));
    if (!prev || prev.deleted) return Promise.reject(new Error(`record ${id} of ${collection} does not exist`));
    const rec: LocalRecord = { ...prev, deleted: true, state: 'pending', updated_at: Date.now() };
    delete rec.doc;
    this.records.set(this.key(collection, id), rec);
    this.outbox++;
    this.notify();
    return Promise.resolve({ collection, record_id: id, previous: prev, record: rec });
  }

  undo(removed: Removed): Promise<LocalRecord> {
    return this.put(removed.collection, removed.record_id, removed.previous.doc ?? {});
  }

  subscribe(fn: () => void): () => void {
    this.subs.add(fn);
    fn();
    return () => this.subs.delete(fn);
  }

  outboxCount(): Promise<number> {
    return Promise.resolve(this.outbox);
  }

  private notify(): void {
    this.status.update((s) => ({ ...s, outbox: this.outbox }));
    for (const f of this.subs) f();
  }
}

/**
 * unconnectedApi answers every call with a plain "not connected" error; the
 * screens then show why and keep capture and browsing working.
 */
export function unconnectedApi(reason = 'Not connected to fieldsync on this computer.'): Api {
  const fail = <T>(): Promise<T> => Promise.reject(new Error(reason));
  const none = () => () => {};
  return {
    info: (): Promise<Info> => fail(),
    status: (): Promise<Status> => fail(),
    syncNow: () => fail(),
    conflicts: () => fail(),
    conflict: () => fail(),
    settledByRules: () => fail(),
    resolve: () => fail(),
    keepBoth: () => fail(),
    resolveMany: () => fail(),
    history: () => fail(),
    settings: (): Promise<SettingsView> => fail(),
    saveSettings: () => fail(),
    setPassword: () => fail(),
    testConnection: () => fail(),
    describeSchedule: () => fail(),
    referenceRows: () => fail(),
    referenceOptions: () => fail(),
    pullReferences: () => fail(),
    onStatus: none,
    onProgress: none as (fn: (p: Progress) => void) => () => void,
    onConflict: none as (fn: (e: RecordRef) => void) => () => void,
    onApplied: none,
  };
}
