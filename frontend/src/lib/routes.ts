// The app's screens and hash-based routing (#/records, #/sync, ...). Hash
// routes work the same from Wails' asset server and from the browser bridge,
// with no server-side routing.

export type RouteId = 'records' | 'sync' | 'conflicts' | 'settings';

export interface Route {
  id: RouteId;
  label: string;
  /** One line under the heading saying what the screen is for. */
  summary: string;
}

export const routes: readonly Route[] = [
  { id: 'records', label: 'Records', summary: 'Capture and browse records, online or offline.' },
  { id: 'sync', label: 'Sync', summary: 'See what is pending, when the last sync ran, and sync now.' },
  { id: 'conflicts', label: 'Conflicts', summary: 'Review records edited on more than one device and resolve them.' },
  { id: 'settings', label: 'Settings', summary: 'Drillbit connection, workspace, credentials and schedule.' },
];

export const DEFAULT_ROUTE: RouteId = 'records';

/** The route for a location hash such as "#/sync"; unknown hashes give the default. */
export function routeFromHash(hash: string): Route {
  const id = hash.replace(/^#\/?/, '').split(/[/?]/, 1)[0] ?? '';
  return routes.find((r) => r.id === id) ?? routeById(DEFAULT_ROUTE);
}

export function routeById(id: RouteId): Route {
  const r = routes.find((x) => x.id === id);
  if (!r) throw new Error(`unknown route ${id}`);
  return r;
}

export function hrefFor(id: RouteId): string {
  return `#/${id}`;
}

/** RecordAddress names one record in an address such as #/records/<collection>/<id>. */
export interface RecordAddress {
  collection: string;
  record_id: string;
}

/** Where recordAddress points: a collection's list, or one record of it. */
export interface RecordsTarget {
  collection: string;
  /** The record to open; undefined for the collection's list. */
  record_id?: string | undefined;
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined; // a malformed %-escape: not an address this app wrote
  }
}

/**
 * targetFromHash reads the part after the screen in #/<screen>/<collection>[/<id>]
 * (both URL-encoded, as recordHref and conflictHref write them). undefined
 * when the hash is for another screen, names no collection or cannot be decoded.
 */
function targetFromHash(screen: RouteId, hash: string): RecordsTarget | undefined {
  const path = hash.replace(/^#\/?/, '').split('?', 1)[0] ?? '';
  const parts = path.split('/');
  if (parts[0] !== screen || !parts[1]) return undefined;
  const collection = decode(parts[1]);
  // An id may not contain "/" once encoded; anything after it is kept whole.
  const rest = parts.slice(2).join('/');
  const record_id = rest ? decode(rest) : undefined;
  if (collection === undefined || (rest && record_id === undefined)) return undefined;
  return record_id ? { collection, record_id } : { collection };
}

/** recordsTargetFromHash reads #/records/<collection>[/<record id>]; undefined for #/records and other screens. */
export function recordsTargetFromHash(hash: string): RecordsTarget | undefined {
  return targetFromHash('records', hash);
}

/** conflictFromHash reads #/conflicts/<collection>/<record id>; undefined when no record is named. */
export function conflictFromHash(hash: string): RecordAddress | undefined {
  const t = targetFromHash('conflicts', hash);
  return t?.record_id ? { collection: t.collection, record_id: t.record_id } : undefined;
}

/** recordHref is the address of a record's form on the Records screen (the list of its collection without an id). */
export function recordHref(collection: string, recordId?: string): string {
  const c = `#/records/${encodeURIComponent(collection)}`;
  return recordId ? `${c}/${encodeURIComponent(recordId)}` : c;
}

/** conflictHref is the address of a record's conflict on the Conflicts screen. */
export function conflictHref(collection: string, recordId: string): string {
  return `#/conflicts/${encodeURIComponent(collection)}/${encodeURIComponent(recordId)}`;
}
