import { describe, expect, it } from 'vitest';
import { agoTime, formatValue, fromForm, fromLocalInput, relativeTime, toForm, toLocalInput } from './form';
import { inspections } from '../../testing/fixtures';

const base = { site: 'North well', status: 'open', score: '', temperature: '', safe: false, visited_at: '', notes: '' };

describe('fromForm mirrors schema/validate.go', () => {
  const cases: { name: string; values: Record<string, string | boolean>; errors: Record<string, string> }[] = [
    { name: 'valid minimal record', values: base, errors: {} },
    {
      name: 'required text and enum missing',
      values: { ...base, site: '  ', status: '' },
      errors: { site: 'Site is required.', status: 'Status is required.' },
    },
    { name: 'integer with a fraction', values: { ...base, score: '3.5' }, errors: { score: 'Score must be a whole number, such as 12.' } },
    { name: 'integer too large', values: { ...base, score: '9007199254740993' }, errors: { score: 'Score is too large.' } },
    { name: 'number that is text', values: { ...base, temperature: 'warm' }, errors: { temperature: 'Temperature must be a number, such as 12.5.' } },
    { name: 'enum not among the options', values: { ...base, status: 'maybe' }, errors: { status: 'Status must be one of: open, closed, follow-up.' } },
    { name: 'datetime that is not a date', values: { ...base, visited_at: '2026-13-45T99:00' }, errors: { visited_at: 'Visited at must be a date and time.' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = fromForm(inspections.fields, c.values);
      expect(r.errors).toEqual(c.errors);
      expect(r.ok).toBe(Object.keys(c.errors).length === 0);
    });
  }

  it('builds typed values: numbers, booleans, datetime as epoch ms; keeps undeclared fields', () => {
    const r = fromForm(
      inspections.fields,
      { ...base, score: '7', temperature: '-1.25', safe: true, visited_at: '2026-11-20T09:30', notes: 'line 1\nline 2' },
      { extra: 'kept', score: 1 },
    );
    expect(r.ok).toBe(true);
    expect(r.doc).toEqual({
      extra: 'kept',
      site: 'North well',
      status: 'open',
      score: 7,
      temperature: -1.25,
      safe: true,
      visited_at: new Date(2026, 10, 20, 9, 30).getTime(),
      notes: 'line 1\nline 2',
    });
  });

  it('leaves empty optional fields out, even when the base had them', () => {
    const r = fromForm(inspections.fields, base, { score: 4 });
    expect(r.doc).not.toHaveProperty('score');
  });
});

describe('toForm', () => {
  it('fills inputs from a document, including RFC 3339 datetimes', () => {
    const ms = new Date(2026, 0, 2, 3, 4).getTime();
    const v = toForm(inspections.fields, { site: 'A', score: 3, safe: true, visited_at: new Date(ms).toISOString() });
    expect(v).toEqual({ site: 'A', status: '', score: '3', temperature: '', safe: true, visited_at: '2026-01-02T03:04', notes: '' });
  });

  it('round-trips datetime-local values', () => {
    const ms = new Date(2026, 10, 23, 18, 5).getTime();
    expect(fromLocalInput(toLocalInput(ms))).toBe(ms);
    expect(fromLocalInput('2026-02-30T10:00')).toBeUndefined();
  });
});

describe('relativeTime and agoTime', () => {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  const cases: { name: string; t: number | string | undefined; relative: string; ago: string }[] = [
    { name: 'never', t: undefined, relative: 'never', ago: 'never' },
    { name: 'seconds ago', t: now - 10_000, relative: 'just now', ago: 'just now' },
    { name: 'minutes ago', t: now - 5 * 60_000, relative: '5 min ago', ago: '5 min ago' },
    { name: 'hours ago, as text', t: new Date(now - 3 * 3600_000).toISOString(), relative: '3 h ago', ago: '3 h ago' },
    { name: 'slightly ahead (another clock)', t: now + 3_000, relative: 'in a few seconds', ago: 'just now' },
    { name: 'minutes ahead (the next run)', t: now + 5 * 60_000, relative: 'in 5 min', ago: 'just now' },
    { name: 'not a time', t: 'soon', relative: 'soon', ago: 'soon' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(relativeTime(c.t, now)).toBe(c.relative);
      expect(agoTime(c.t, now)).toBe(c.ago);
    });
  }
});

describe('list fields', () => {
  const crew = [{ name: 'crew', label: 'Crew', type: 'list' as const }];
  it('edits one item per line, dropping blanks and repeats', () => {
    expect(toForm(crew, { crew: ['Ana', 'Ben'] })).toEqual({ crew: 'Ana\nBen' });
    expect(fromForm(crew, { crew: ' Ana \n\nBen\nAna' }).doc).toEqual({ crew: ['Ana', 'Ben'] });
    expect(fromForm(crew, { crew: '  ' }).doc).toEqual({});
  });
  it('shows a list as text', () => {
    expect(formatValue(crew[0], ['Ana', 'Ben'])).toBe('Ana, Ben');
    expect(formatValue(crew[0], [])).toBe('—');
  });
});
