import { describe, expect, it } from 'vitest';
import { devicesOf, matchesFilter, toFilter } from './filters';
import { conflictR1 } from '../testing/fixtures';

describe('conflict filters', () => {
  it.each([
    [{ collection: '', device: '', ageMs: 0 }, {}],
    [{ collection: 'inspections', device: '', ageMs: 0 }, { collection: 'inspections' }],
    [{ collection: '', device: ' tab-2 ', ageMs: 0 }, { device: 'tab-2' }],
    [{ collection: 'a', device: 'd', ageMs: 86_400_000 }, { collection: 'a', device: 'd', older_than_ms: 86_400_000 }],
  ])('toFilter(%j) = %j', (form, want) => {
    expect(toFilter(form)).toEqual(want);
  });

  it('matches in memory like Go filters', () => {
    const c = conflictR1();
    const now = c.detected_at + 2 * 3_600_000;
    expect(matchesFilter(c, {}, now)).toBe(true);
    expect(matchesFilter(c, { device: 'tab-2' }, now)).toBe(true);
    expect(matchesFilter(c, { device: 'tab-9' }, now)).toBe(false);
    expect(matchesFilter(c, { collection: 'other' }, now)).toBe(false);
    expect(matchesFilter(c, { older_than_ms: 3_600_000 }, now)).toBe(true);
    expect(matchesFilter(c, { older_than_ms: 86_400_000 }, now)).toBe(false);
  });

  it('lists the devices of the versions once, sorted', () => {
    expect(devicesOf([conflictR1(), conflictR1()])).toEqual(['tab-1', 'tab-2']);
  });
});
