import { describe, expect, it } from 'vitest';
import { DEFAULT_ROUTE, hrefFor, routeFromHash, routes } from './routes';

describe('routes', () => {
  it('has the four screens in order', () => {
    expect(routes.map((r) => r.label)).toEqual(['Records', 'Sync', 'Conflicts', 'Settings']);
  });

  it.each([
    ['', DEFAULT_ROUTE],
    ['#', DEFAULT_ROUTE],
    ['#/sync', 'sync'],
    ['#sync', 'sync'],
    ['#/conflicts/inspections/42', 'conflicts'],
    ['#/settings?tab=auth', 'settings'],
    ['#/nope', DEFAULT_ROUTE],
  ])('routeFromHash(%j) is %s', (hash, id) => {
    expect(routeFromHash(hash).id).toBe(id);
  });

  it('round-trips every route through its href', () => {
    for (const r of routes) expect(routeFromHash(hrefFor(r.id))).toBe(r);
  });
});
