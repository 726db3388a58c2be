import { describe, expect, it } from 'vitest';
import { IdMaker, newId } from './ids';

const zeros = (b: Uint8Array): void => {
  b.fill(0);
};
const ones = (b: Uint8Array): void => {
  b.fill(0xff);
};

describe('newId', () => {
  it.each([
    { name: 'the epoch', ms: 0, random: zeros, want: '00000000000000000000000000000000' },
    { name: 'a time in 2023', ms: 1_700_000_000_000, random: zeros, want: '018bcfe56800' + '0'.repeat(20) },
    { name: 'random bytes after the time', ms: 1_700_000_000_000, random: ones, want: '018bcfe56800' + 'f'.repeat(20) },
    { name: 'a fractional clock', ms: 1_700_000_000_000.7, random: zeros, want: '018bcfe56800' + '0'.repeat(20) },
  ])('lays out $name', ({ ms, random, want }) => {
    expect(newId(ms, random)).toBe(want);
  });

  it.each([
    { name: 'one millisecond later', a: 1_700_000_000_000, b: 1_700_000_000_001 },
    { name: 'a year later', a: 1_700_000_000_000, b: 1_731_536_000_000 },
  ])('sorts an id made $name after, whatever the random bytes', ({ a, b }) => {
    expect(newId(a, ones) < newId(b, zeros)).toBe(true);
  });

  it('gives 32 hex digits, different within one millisecond', () => {
    const random = (b: Uint8Array): void => {
      crypto.getRandomValues(b);
    };
    const a = newId(1_700_000_000_000, random);
    const b = newId(1_700_000_000_000, random);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
  });
});

describe('IdMaker', () => {
  it('lays out ids as newId does, each with its own random bytes', () => {
    let calls = 0;
    let n = 0;
    // Bytes 0, 1, 2, ... in the order they are drawn.
    const counting = (b: Uint8Array): void => {
      calls++;
      for (let i = 0; i < b.length; i++) b[i] = n++ % 256;
    };
    const m = new IdMaker(counting);
    const a = m.next(1_700_000_000_000);
    const b = m.next(1_700_000_000_001);
    expect(a).toBe('018bcfe56800' + '00010203040506070809');
    expect(b).toBe('018bcfe56801' + '0a0b0c0d0e0f10111213');
    expect(calls).toBe(1);
  });

  it('draws again when the pool is used up, and never repeats an id', () => {
    const m = new IdMaker((b) => {
      crypto.getRandomValues(b);
    });
    const ids = new Set<string>();
    for (let i = 0; i < 2_000; i++) ids.add(m.next(1_700_000_000_000));
    expect(ids.size).toBe(2_000);
    for (const id of ids) expect(id).toMatch(/^018bcfe56800[0-9a-f]{20}$/);
  });

  it.each([
    { name: 'the epoch', ms: 0, want: '000000000000' },
    { name: 'a time past 2^48 ms (low 48 bits, as newId)', ms: 2 ** 48 + 5, want: '000000000005' },
    { name: 'a negative time', ms: -5, want: '000000000000' },
    { name: 'NaN', ms: Number.NaN, want: '000000000000' },
    { name: 'Infinity', ms: Number.POSITIVE_INFINITY, want: '000000000000' },
  ])('puts the time first at $name', ({ ms, want }) => {
    expect(new IdMaker(zeros).next(ms)).toBe(want + '0'.repeat(20));
  });
});
