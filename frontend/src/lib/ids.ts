// Ids of changes and new records: 128 bits in 32 lowercase hex digits, the
// first 48 the Unix time in milliseconds and the other 80 random — the
// layout of Go's service.NewChangeID. Ids made later sort after those made
// before, so Go's store indexes new ones at the end of its B+trees: with
// random ids accepting an import cost 2–2.5x the CPU (docs/BENCHMARKS.md,
// "Issue 12, fifth round").

/** Makes a new id at time nowMS (ms since the epoch) with bytes from random. */
export function newId(nowMS: number, random: (bytes: Uint8Array) => void): string {
  const b = new Uint8Array(16);
  random(b.subarray(6));
  let ms = Math.max(0, Math.floor(nowMS));
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}
