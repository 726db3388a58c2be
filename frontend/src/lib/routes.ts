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
