import { describe, expect, it } from 'vitest';
import type { Collection, Conflict } from '../lib/ui/ports';
import { change, conflictR1, inspections } from '../testing/fixtures';
import { countByCollection, labelFields, nameOf, plural, recordLabel, shortId, summarize, who } from './conflictSummary';

const pumps: Collection = {
  name: 'pumps',
  fields: [
    { name: 'risk', type: 'enum', required: true, options: ['low', 'high'] },
    { name: 'count', type: 'integer', required: true },
    { name: 'tag', label: 'Tag', type: 'text' },
    { name: 'serial', label: 'Serial', type: 'text', required: true },
  ],
};

describe('labelFields', () => {
  it('puts the required text fields first, then required, then optional string fields', () => {
    expect(labelFields(pumps).map((f) => f.name)).toEqual(['serial', 'risk', 'tag']);
    expect(labelFields(inspections).map((f) => f.name)).toEqual(['site', 'status', 'notes']);
    expect(labelFields(undefined)).toEqual([]);
  });
});

describe('recordLabel', () => {
  const cases: { name: string; col: Collection | undefined; c: () => Conflict; want: string | undefined }[] = [
    { name: 'the first required text field of the newest version', col: inspections, c: conflictR1, want: 'North well B' },
    {
      name: 'the next version when the newest is a delete',
      col: inspections,
      c: () => {
        const c = conflictR1();
        c.leaves = [c.leaves[0]!, change({ version: '000000000000004-0000-tab-2', device: 'tab-2', op: 'delete' })];
        return c;
      },
      want: 'North well',
    },
    {
      name: 'the next field when the first is empty',
      col: pumps,
      c: () => {
        const c = conflictR1();
        c.leaves = [change({ version: '000000000000004-0000-tab-2', device: 'tab-2', doc: { serial: '  ', risk: 'high', count: 2 } })];
        delete c.ancestor;
        return c;
      },
      want: 'high',
    },
    {
      name: 'nothing when no version has a string',
      col: pumps,
      c: () => {
        const c = conflictR1();
        c.leaves = [change({ version: '000000000000004-0000-tab-2', device: 'tab-2', doc: { count: 2 } })];
        delete c.ancestor;
        return c;
      },
      want: undefined,
    },
    { name: 'nothing without a declaration', col: undefined, c: conflictR1, want: undefined },
    {
      name: 'one line, cut at 80 characters',
      col: inspections,
      c: () => {
        const c = conflictR1();
        c.leaves[1]!.doc = { site: `North\n${'x'.repeat(100)}` };
        return c;
      },
      want: `North ${'x'.repeat(73)}…`,
    },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      expect(recordLabel(tc.col, tc.c())?.text).toBe(tc.want);
    });
  }
});

describe('summarize', () => {
  it('lists who made each version, when, and the fields that differ', () => {
    const s = summarize(inspections, conflictR1());
    expect(s.label).toEqual({ text: 'North well B', field: 'site' });
    expect(s.leaves.map(who)).toEqual(['ana on tab-1', 'ben on tab-2']);
    expect(s.leaves.map((l) => l.deleted)).toEqual([false, false]);
    expect(s.differing).toEqual(['Site', 'Status', 'Score']);
  });
});

describe('small words', () => {
  it('shortens ids, names records and counts', () => {
    expect(shortId('0123456789abcdef0123456789abcdef')).toBe('01234567…');
    expect(shortId('r1')).toBe('r1');
    expect(shortId('012345678')).toBe('012345678');
    expect(nameOf(undefined, conflictR1())).toBe('record r1');
    expect(who({ author: '', device: 'tab-9' })).toBe('tab-9');
    expect(plural(1, 'conflict')).toBe('1 conflict');
    expect(plural(1200, 'conflict')).toBe('1,200 conflicts');
    expect(
      countByCollection(
        [
          { collection: 'pumps', record_id: 'a' },
          { collection: 'inspections', record_id: 'b' },
          { collection: 'pumps', record_id: 'c' },
        ],
        [inspections, pumps],
      ),
    ).toEqual([
      { name: 'pumps', label: 'pumps', count: 2 },
      { name: 'inspections', label: 'Inspections', count: 1 },
    ]);
  });
});
