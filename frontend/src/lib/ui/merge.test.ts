import { describe, expect, it } from 'vitest';
import { buildMerged, chosenDoc, diffRows, initialChoices, mergedInputs, ruleDecisions, ruleResolutionText } from './merge';
import { change, conflictR1, inspections } from '../../testing/fixtures';

describe('diffRows', () => {
  it('lines up every declared field, then undeclared ones, marking differences and changes', () => {
    const c = conflictR1();
    const extra = c.leaves[1];
    if (extra?.doc) extra.doc['photo'] = 'p.jpg';
    const rows = diffRows(inspections.fields, c.leaves, c.ancestor);
    expect(rows.map((r) => r.name)).toEqual(['site', 'status', 'score', 'temperature', 'safe', 'visited_at', 'notes', 'photo']);
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    expect(by['site']).toMatchObject({ differs: true, values: ['North well', 'North well B'], changed: [false, true] });
    expect(by['status']).toMatchObject({ differs: true, changed: [true, false] });
    expect(by['notes']).toMatchObject({ differs: false, ancestor: 'first visit' });
    expect(by['photo']).toMatchObject({ field: undefined, label: 'Photo', differs: true });
  });

  it('treats a deleted version as having no values', () => {
    const c = conflictR1();
    const del = change({ version: '000000000000004-0000-tab-3', device: 'tab-3', op: 'delete' });
    const rows = diffRows(inspections.fields, [c.leaves[0]!, del]);
    expect(rows.find((r) => r.name === 'site')?.values).toEqual(['North well', undefined]);
  });
});

describe('merging', () => {
  it('starts from a clean three-way merge: the one side that changed a field wins it', () => {
    const c = conflictR1();
    const rows = diffRows(inspections.fields, c.leaves, c.ancestor);
    const choices = initialChoices(rows, c.leaves, c.winner);
    // site and score changed only in B (index 1), status only in A (index 0).
    expect(chosenDoc(rows, choices)).toEqual({ site: 'North well B', status: 'closed', score: 4, notes: 'first visit' });
  });

  it('falls back to the winner without an ancestor', () => {
    const c = conflictR1();
    const rows = diffRows(inspections.fields, c.leaves);
    expect(initialChoices(rows, c.leaves, c.winner).every((i) => i === 1)).toBe(true);
  });

  it('builds the merged doc from per-field choices and edits, and validates it', () => {
    const c = conflictR1();
    const rows = diffRows(inspections.fields, c.leaves, c.ancestor);
    const choices = rows.map(() => 0);
    const inputs = mergedInputs(inspections.fields, rows, choices);
    inputs['notes'] = 'merged by hand';
    expect(buildMerged(inspections.fields, rows, choices, inputs)).toEqual({
      doc: { site: 'North well', status: 'closed', score: 3, notes: 'merged by hand' },
      errors: {},
      ok: true,
    });
    inputs['score'] = 'three';
    expect(buildMerged(inspections.fields, rows, choices, inputs).errors).toEqual({
      score: 'Score must be a whole number, such as 12.',
    });
  });
});

describe('ruleDecisions and ruleResolutionText', () => {
  it('lists the decided fields in declaration order with their labels and words', () => {
    const ds = ruleDecisions(inspections, { notes: 'join', gone: 'newest', temperature: 'higher' });
    expect(ds).toEqual([
      { name: 'temperature', label: 'Temperature', words: 'higher value' },
      { name: 'notes', label: 'Notes', words: 'texts joined' },
      { name: 'gone', label: 'Gone', words: 'newest value' },
    ]);
    expect(ruleDecisions(undefined, undefined)).toEqual([]);
  });

  it.each([
    { note: 'merged by rule: Temperature: higher value', want: 'merged by rule: Temperature: higher value' },
    { note: 'Temperature: higher value', want: 'merged by rule: Temperature: higher value' },
    { note: '', want: 'merged by rule: Temperature: higher value' },
    { note: undefined, want: 'merged by rule: Temperature: higher value' },
  ])('words "$note" with "merged by rule" once', ({ note, want }) => {
    expect(ruleResolutionText(note, ruleDecisions(inspections, { temperature: 'higher' }))).toBe(want);
  });

  it('falls back to the bare words when nothing says which rule', () => {
    expect(ruleResolutionText(undefined)).toBe('merged by rule');
  });
});
