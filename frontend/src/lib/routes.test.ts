import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROUTE,
  conflictFromHash,
  conflictHref,
  hrefFor,
  recordHref,
  recordsTargetFromHash,
  routeFromHash,
  routes,
} from './routes';

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
    ['#/records/inspections/42', 'records'],
    ['#/records/inspections', 'records'],
    ['#/settings?tab=auth', 'settings'],
    ['#/nope', DEFAULT_ROUTE],
  ])('routeFromHash(%j) is %s', (hash, id) => {
    expect(routeFromHash(hash).id).toBe(id);
  });

  it('round-trips every route through its href', () => {
    for (const r of routes) expect(routeFromHash(hrefFor(r.id))).toBe(r);
  });
});

describe('record addresses', () => {
  it.each([
    ['#/records', undefined],
    ['#/records/', undefined],
    ['#/sync/inspections/r1', undefined],
    ['#/conflicts/inspections/r1', undefined],
    ['#/records/inspections', { collection: 'inspections' }],
    ['#/records/inspections/', { collection: 'inspections' }],
    ['#/records/inspections/r1', { collection: 'inspections', record_id: 'r1' }],
    ['#records/inspections/r1', { collection: 'inspections', record_id: 'r1' }],
    ['#/records/site%20visits/a%2Fb%20c', { collection: 'site visits', record_id: 'a/b c' }],
    ['#/records/inspections/a/b', { collection: 'inspections', record_id: 'a/b' }],
    ['#/records/inspections/%E0%A4%A', undefined], // malformed escape
    ['#/records/%ZZ', undefined],
  ])('recordsTargetFromHash(%j) is %j', (hash, want) => {
    expect(recordsTargetFromHash(hash)).toEqual(want);
  });

  it.each([
    ['#/conflicts', undefined],
    ['#/conflicts/inspections', undefined],
    ['#/records/inspections/r1', undefined],
    ['#/conflicts/inspections/r1', { collection: 'inspections', record_id: 'r1' }],
    ['#/conflicts/a%2Fb/%C3%A9t%C3%A9%3F1', { collection: 'a/b', record_id: 'été?1' }],
  ])('conflictFromHash(%j) is %j', (hash, want) => {
    expect(conflictFromHash(hash)).toEqual(want);
  });

  it.each([
    ['inspections', 'r1'],
    ['site visits', 'a/b?c#d%e'],
    ['é', '42 '],
  ])('recordHref and conflictHref round-trip (%j, %j)', (collection, id) => {
    const href = recordHref(collection, id);
    expect(routeFromHash(href).id).toBe('records');
    expect(recordsTargetFromHash(href)).toEqual({ collection, record_id: id });
    expect(conflictFromHash(conflictHref(collection, id))).toEqual({ collection, record_id: id });
    expect(recordsTargetFromHash(recordHref(collection))).toEqual({ collection });
  });

  it('writes the encoded addresses the Sync and Conflicts screens link to', () => {
    expect(recordHref('inspections', 'r-new')).toBe('#/records/inspections/r-new');
    expect(recordHref('site visits', 'a/b')).toBe('#/records/site%20visits/a%2Fb');
    expect(recordHref('inspections')).toBe('#/records/inspections');
    expect(conflictHref('inspections', 'r 1')).toBe('#/conflicts/inspections/r%201');
  });
});
