import { describe, expect, it } from 'vitest';
import { labelFields, SERVER_DEVICE, sideName } from './labels';
import { recordLabel } from './data/refusal';
import type { Collection } from './types';

const meters: Collection = {
  name: 'meters',
  fields: [
    { name: 'owner', type: 'text', required: true },
    { name: 'kind', type: 'enum', options: ['gas', 'water'] },
    { name: 'serial', type: 'text' },
    { name: 'reading', type: 'number', required: true },
    { name: 'notes', type: 'note' },
  ],
};

describe('labelFields', () => {
  const cases: { name: string; col: Collection | undefined; want: string[] }[] = [
    { name: 'no declaration', col: undefined, want: [] },
    { name: 'required text first, then the rest in order', col: meters, want: ['owner', 'kind', 'serial', 'notes'] },
    { name: 'the declared title first', col: { ...meters, title: 'serial' }, want: ['serial', 'owner', 'kind', 'notes'] },
    { name: 'an unknown title is ignored', col: { ...meters, title: 'nope' }, want: ['owner', 'kind', 'serial', 'notes'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(labelFields(c.col).map((f) => f.name)).toEqual(c.want);
    });
  }
});

describe('recordLabel names a record by its title field', () => {
  const doc = { owner: 'Ana', serial: 'M-77', reading: 3 };
  it('uses the title when it has a value', () => {
    expect(recordLabel(doc, { ...meters, title: 'serial' })).toBe('M-77');
  });
  it('falls back to the next field when the title is empty', () => {
    expect(recordLabel({ ...doc, serial: ' ' }, { ...meters, title: 'serial' })).toBe('Ana');
  });
  it('without a title, the first required text field', () => {
    expect(recordLabel(doc, meters)).toBe('Ana');
  });
});

describe('sideName', () => {
  it('names an edit made in Drill as the server side with the analyst', () => {
    expect(sideName({ author: 'ana', device: SERVER_DEVICE })).toBe('server (ana)');
    expect(sideName({ author: '', device: SERVER_DEVICE }, ' on ')).toBe('server (unknown)');
  });
  it('names a device edit by person and device', () => {
    expect(sideName({ author: 'ann', device: 'tab-1' })).toBe('ann@tab-1');
    expect(sideName({ author: 'ann', device: 'tab-1' }, ' on ')).toBe('ann on tab-1');
    expect(sideName({ device: 'tab-1' }, ' on ')).toBe('tab-1');
  });
});
