// The in-memory index of one collection: every record, loaded once from
// IndexedDB and kept current on writes and pulls, so list() can search, sort
// and page 100,000 records without touching IndexedDB. Sorted orders are
// cached per (field, direction) and the last search per order, and dropped
// when a record changes.

import type { ListPage, ListQuery, LocalRecord, SyncState } from './types';

const DEFAULT_LIMIT = 50;
const DEFAULT_SORT = '@updated_at';

type SortValue = string | number | boolean | undefined;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** The value of r that sortField names (see ListQuery). */
export function sortValue(r: LocalRecord, field: string): SortValue {
  if (field.startsWith('@')) {
    switch (field) {
      case '@record_id':
        return r.record_id;
      case '@updated_at':
        return r.updated_at;
      case '@edited_at':
        return r.edited_at;
      case '@state':
        return r.state;
      case '@version':
        return r.version;
      default:
        return undefined;
    }
  }
  const v = r.doc?.[field];
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (v === null || v === undefined) return undefined;
  return JSON.stringify(v);
}

function rank(v: SortValue): number {
  switch (typeof v) {
    case 'boolean':
      return 0;
    case 'number':
      return 1;
    case 'string':
      return 2;
    default:
      return 3; // missing values last, in both directions
  }
}

function compareValues(a: SortValue, b: SortValue): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === 'string' && typeof b === 'string') return collator.compare(a, b);
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return 0;
}

/** The lower-case text search() matches against: the id and every doc value. */
function searchText(r: LocalRecord): string {
  const parts: string[] = [r.record_id];
  if (r.doc) {
    for (const v of Object.values(r.doc)) {
      if (v === null || v === undefined) continue;
      parts.push(typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
  }
  return parts.join('\u0000').toLowerCase();
}

/** Orders records by field in dir: missing values last, ties by id (a total order). */
function comparator(field: string, dir: 'asc' | 'desc'): (a: LocalRecord, b: LocalRecord) => number {
  const sign = dir === 'asc' ? 1 : -1;
  return (a, b) => compareDecorated(sortValue(a, field), sortValue(b, field), a.record_id, b.record_id, sign);
}

function compareDecorated(va: SortValue, vb: SortValue, ida: string, idb: string, sign: number): number {
  const ra = rank(va);
  const rb = rank(vb);
  if (ra === 3 || rb === 3) {
    if (ra !== rb) return ra - rb; // missing last either way
  } else {
    const c = compareValues(va, vb);
    if (c !== 0) return sign * c;
  }
  return ida < idb ? -1 : ida > idb ? 1 : 0;
}

/** The first index in sorted whose element does not order before r. */
function lowerBound(sorted: LocalRecord[], r: LocalRecord, cmp: (a: LocalRecord, b: LocalRecord) => number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = sorted[mid];
    if (m !== undefined && cmp(m, r) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Above this many changed records, sorted orders are rebuilt instead of patched. */
const PATCH_LIMIT = 2000;

interface Order {
  rows: LocalRecord[];
  cmp: (a: LocalRecord, b: LocalRecord) => number;
}

/** All records of one collection in memory. */
export class CollectionIndex {
  private readonly byId = new Map<string, LocalRecord>();
  private readonly sorted = new Map<string, Order>();
  private readonly texts = new WeakMap<LocalRecord, string>();
  private lastFilter: { key: string; items: LocalRecord[] } | undefined;

  constructor(readonly collection: string) {}

  /** Records held, deleted ones included. */
  get size(): number {
    return this.byId.size;
  }

  get(id: string): LocalRecord | undefined {
    return this.byId.get(id);
  }

  /**
   * Adds or replaces records (the latest write wins). Cached sorted orders
   * are patched in place (binary search + splice) for small batches, so an
   * edit does not re-sort 100,000 records.
   */
  upsert(records: Iterable<LocalRecord>): void {
    const list = Array.isArray(records) ? (records as LocalRecord[]) : [...records];
    if (list.length === 0) return;
    const patch = list.length <= PATCH_LIMIT && this.sorted.size > 0;
    for (const r of list) {
      const old = this.byId.get(r.record_id);
      this.byId.set(r.record_id, r);
      if (patch) {
        for (const o of this.sorted.values()) {
          if (old) removeFrom(o, old);
          o.rows.splice(lowerBound(o.rows, r, o.cmp), 0, r);
        }
      }
    }
    if (!patch) this.sorted.clear();
    this.lastFilter = undefined;
  }

  /** Removes records by id. */
  delete(ids: Iterable<string>): void {
    let changed = false;
    for (const id of ids) {
      const old = this.byId.get(id);
      if (!old) continue;
      this.byId.delete(id);
      for (const o of this.sorted.values()) removeFrom(o, old);
      changed = true;
    }
    if (changed) this.lastFilter = undefined;
  }

  private order(field: string, dir: 'asc' | 'desc'): LocalRecord[] {
    const key = `${dir}:${field}`;
    const have = this.sorted.get(key);
    if (have) return have.rows;
    // Decorate-sort-undecorate: read each value once, not per comparison.
    const rows = Array.from(this.byId.values(), (r) => ({ r, v: sortValue(r, field) }));
    const sign = dir === 'asc' ? 1 : -1;
    rows.sort((a, b) => compareDecorated(a.v, b.v, a.r.record_id, b.r.record_id, sign));
    const out = rows.map((x) => x.r);
    this.sorted.set(key, { rows: out, cmp: comparator(field, dir) });
    return out;
  }

  private text(r: LocalRecord): string {
    let t = this.texts.get(r);
    if (t === undefined) {
      t = searchText(r);
      this.texts.set(r, t);
    }
    return t;
  }

  /** Searches, sorts and pages the records. */
  list(q: ListQuery = {}): ListPage {
    const field = q.sortField || DEFAULT_SORT;
    const dir = q.sortDir ?? (q.sortField ? 'asc' : 'desc');
    const needle = (q.search ?? '').trim().toLowerCase();
    const states: readonly SyncState[] | undefined = q.states && q.states.length > 0 ? q.states : undefined;
    const includeDeleted = q.includeDeleted ?? false;
    const key = JSON.stringify([field, dir, needle, states ?? null, includeDeleted]);
    let items: LocalRecord[];
    if (this.lastFilter?.key === key) {
      items = this.lastFilter.items;
    } else {
      const ordered = this.order(field, dir);
      items = ordered.filter(
        (r) =>
          (includeDeleted || !r.deleted) &&
          (!states || states.includes(r.state)) &&
          (needle === '' || this.text(r).includes(needle)),
      );
      this.lastFilter = { key, items };
    }
    const offset = Math.max(0, Math.floor(q.offset ?? 0));
    const limit = Math.max(0, Math.floor(q.limit ?? DEFAULT_LIMIT));
    return { rows: items.slice(offset, offset + limit), total: items.length, offset };
  }
}

/** Removes r (found by its own sort position) from o. */
function removeFrom(o: Order, r: LocalRecord): void {
  const i = lowerBound(o.rows, r, o.cmp);
  if (o.rows[i] === r) {
    o.rows.splice(i, 1);
    return;
  }
  // Not where its values say (mutated in place by a caller): find it.
  const j = o.rows.indexOf(r);
  if (j >= 0) o.rows.splice(j, 1);
}
