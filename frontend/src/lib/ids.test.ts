import { describe, expect, it } from 'vitest';
import { newId } from './ids';

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
