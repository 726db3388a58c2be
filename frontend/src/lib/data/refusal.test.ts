import { describe, expect, it } from 'vitest';
import type { Collection } from '../types';
import { explainRefusal, recordLabel, refusedFileName, refusedKind } from './refusal';

const inspections: Collection = {
  name: 'inspections',
  label: 'Inspections',
  fields: [
    { name: 'site', label: 'Site', type: 'text', required: true },
    { name: 'status', label: 'Status', type: 'enum', options: ['open', 'closed'] },
    { name: 'score', label: 'Score', type: 'integer' },
    { name: 'site_code', type: 'text' },
    { name: 'notes', label: 'Notes', type: 'note' },
  ],
};

describe('explainRefusal', () => {
  const cases: { name: string; reason: string; summary: RegExp; fields?: string[]; detail?: string }[] = [
    {
      name: 'a record that does not match the declaration, per field with labels',
      reason: 'invalid change "0a1b": inspections invalid record: site is required; site_code must be text, not a number; score must be a whole number, not text',
      summary: /does not match what the Inspections form requires/,
      fields: ['Site: is required', 'site_code: must be text, not a number', 'Score: must be a whole number, not text'],
      detail: 'inspections invalid record: site is required; site_code must be text, not a number; score must be a whole number, not text',
    },
    {
      name: 'a collection no longer declared',
      reason: 'invalid change "0a1b": schema: unknown collection "trees" (declared: inspections)',
      summary: /"trees" is no longer set up in fieldsync/,
    },
    {
      name: 'another device id',
      reason: 'invalid change "0a1b": made by device "tab-1", but this is device "tab-9"',
      summary: /made as device tab-1, but fieldsync now runs as device tab-9/,
    },
    {
      name: 'a document too large',
      reason: 'invalid change "0a1b": doc is 2097152 bytes, more than the 1048576 allowed',
      summary: /too large: 2,048 KB, and at most 1,024 KB/,
    },
    { name: 'text that is not UTF-8', reason: 'invalid change "x": doc is not valid UTF-8 text', summary: /not valid Unicode/ },
    {
      name: 'a version used twice',
      reason: 'version already used by another change: change "a" has version V of c/r, already used by change "b"',
      summary: /already used this change’s version/,
    },
    { name: 'a bad record id', reason: 'invalid change "x": record_id contains a slash, backslash or control character', summary: /cannot be sent as it is/ },
    { name: 'anything else, as Go wrote it', reason: 'the disk is on fire', summary: /^fieldsync refused the change: the disk is on fire\. Open the record/ },
    { name: 'no reason', reason: '', summary: /fieldsync gave no reason/ },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const r = explainRefusal(tc.reason, inspections);
      expect(r.summary).toMatch(tc.summary);
      expect(r.summary).not.toContain('0a1b'); // the change id means nothing to people
      if (tc.fields) expect(r.fields.map((f) => `${f.label}: ${f.message}`)).toEqual(tc.fields);
      if (tc.detail) expect(r.detail).toBe(tc.detail);
    });
  }

  it('names the collection when this device does not know its declaration', () => {
    const r = explainRefusal('invalid change "a": trees invalid record: height must be a number, not text');
    expect(r.summary).toContain('the trees form');
    expect(r.fields).toEqual([{ field: '', label: '', message: 'height must be a number, not text' }]);
  });
});

describe('recordLabel', () => {
  const cases: { name: string; doc: Record<string, unknown> | undefined; want: string }[] = [
    { name: 'a required text field first', doc: { site_code: 'N-1', site: 'North well' }, want: 'North well' },
    { name: 'another text field when the required one is empty', doc: { site: ' ', site_code: 'N-1' }, want: 'N-1' },
    { name: 'an enum when there is no text', doc: { status: 'open', score: 3 }, want: 'open' },
    { name: 'any text value of an undeclared field', doc: { score: 3, extra: 'found it' }, want: 'found it' },
    { name: 'nothing readable', doc: { score: 3 }, want: '' },
    { name: 'no document (a delete)', doc: undefined, want: '' },
    { name: 'long text, shortened on one line', doc: { site: `a\nb ${'x'.repeat(80)}` }, want: `a b ${'x'.repeat(55)}…` },
  ];
  for (const tc of cases) {
    it(tc.name, () => expect(recordLabel(tc.doc, inspections)).toBe(tc.want));
  }
});

describe('refusedKind', () => {
  const cases = [
    { name: 'a put without parents creates a record', c: { op: 'put', parents: [] }, want: 'create' },
    { name: 'a put with parents edits one', c: { op: 'put', parents: ['v1'] }, want: 'edit' },
    { name: 'parents null from Go count as none', c: { op: 'put', parents: null }, want: 'create' },
    { name: 'a delete', c: { op: 'delete', parents: ['v1'] }, want: 'delete' },
  ] as const;
  for (const tc of cases) it(tc.name, () => expect(refusedKind(tc.c)).toBe(tc.want));
});

describe('refusedFileName', () => {
  it('names the file by what it holds and the UTC minute, with only safe characters', () => {
    expect(refusedFileName('inspections-a/b c', Date.UTC(2026, 0, 2, 3, 4, 59))).toBe(
      'fieldsync-refused-inspections-a_b_c-20260102-0304.json',
    );
  });
});
