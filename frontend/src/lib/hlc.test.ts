import { describe, expect, it } from 'vitest';
import { compareVersions, formatVersion, HLC, parseVersion, uiNode } from './hlc';

describe('version text', () => {
  it.each([
    [{ wallMS: 1_700_000_000_123, counter: 0, node: 'dev1' }, '001700000000123-0000-dev1'],
    [{ wallMS: 5, counter: 0xab, node: 'dev1.ui0f3a' }, '000000000000005-00ab-dev1.ui0f3a'],
  ])('formats and parses %j', (v, text) => {
    expect(formatVersion(v)).toBe(text);
    expect(parseVersion(text)).toEqual(v);
  });

  it.each(['', '1-0000-x', '000000000000005-00AB-x', '000000000000005-0000-', 'junk'])('refuses %j', (s) => {
    expect(() => parseVersion(s)).toThrow(/want WWWWWWWWWWWWWWW-CCCC-node/);
  });

  it('sorts as text in value order', () => {
    const vs = ['000000000000010-0001-a', '000000000000009-ffff-z', '000000000000010-0000-b', '000000000000010-0001-0'];
    expect([...vs].sort(compareVersions)).toEqual([
      '000000000000009-ffff-z',
      '000000000000010-0000-b',
      '000000000000010-0001-0',
      '000000000000010-0001-a',
    ]);
  });
});

describe('HLC', () => {
  it('follows the wall clock and counts within one millisecond', () => {
    let now = 100;
    const h = new HLC('n', () => now);
    expect(h.next()).toBe('000000000000100-0000-n');
    expect(h.next()).toBe('000000000000100-0001-n');
    now = 101;
    expect(h.next()).toBe('000000000000101-0000-n');
  });

  it('never goes back when the wall clock does', () => {
    let now = 1000;
    const h = new HLC('n', () => now);
    const a = h.next();
    now = 10;
    const b = h.next();
    expect(compareVersions(b, a)).toBeGreaterThan(0);
    expect(b).toBe('000000000001000-0001-n');
  });

  it('moves to the next millisecond when the counter is full', () => {
    const h = new HLC('n', () => 7);
    h.observe('000000000000007-ffff-z');
    expect(h.next()).toBe('000000000000008-0000-n');
  });

  it('issues versions after every version it observed', () => {
    const h = new HLC('dev1.ui0001', () => 50);
    h.observe('000000000000090-0002-dev2');
    h.observe('000000000000080-0009-dev3'); // older: ignored
    h.observe('garbage');
    h.observe(undefined);
    const v = h.next();
    expect(v).toBe('000000000000090-0003-dev1.ui0001');
    expect(compareVersions(v, '000000000000090-0002-dev2')).toBeGreaterThan(0);
  });

  it('makes a UI node from the device and 4 random hex digits', () => {
    expect(uiNode('dev1', (b) => b.set([0x0f, 0xa0]))).toBe('dev1.ui0fa0');
    expect(uiNode('dev1')).toMatch(/^dev1\.ui[0-9a-f]{4}$/);
  });
});
