// Ids of changes and new records: 128 bits in 32 lowercase hex digits, the
// first 48 the Unix time in milliseconds and the other 80 random — the
// layout of Go's service.NewChangeID. Ids made later sort after those made
// before, so Go's store indexes new ones at the end of its B+trees: with
// random ids accepting an import cost 2–2.5x the CPU (docs/BENCHMARKS.md,
// "Issue 12, fifth round").

/** Two hex digits of each byte value. */
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Random bytes per id (the 80 bits after the time). */
const RANDOM_BYTES = 10;

/** The 12 hex digits of the low 48 bits of the Unix time nowMS (zeros when it is not a time). */
function timeHex(nowMS: number): string {
  const ms = Math.floor(nowMS);
  return (Number.isFinite(ms) && ms > 0 ? ms % 2 ** 48 : 0).toString(16).padStart(12, '0');
}

function hexOf(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += HEX[b[i] ?? 0];
  return s;
}

/** Makes a new id at time nowMS (ms since the epoch) with bytes from random. */
export function newId(nowMS: number, random: (bytes: Uint8Array) => void): string {
  const b = new Uint8Array(RANDOM_BYTES);
  random(b);
  return timeHex(nowMS) + hexOf(b, 0, RANDOM_BYTES);
}

/**
 * IdMaker makes ids like newId, drawing random bytes for many ids at once:
 * a bulk import makes two ids per record, and one call to random per id
 * was a tenth of the page's own JavaScript (docs/BENCHMARKS.md, issue 12,
 * sixth round).
 */
export class IdMaker {
  private readonly pool = new Uint8Array(RANDOM_BYTES * 256);
  private at = this.pool.length;

  constructor(private readonly random: (bytes: Uint8Array) => void) {}

  /** Makes a new id at time nowMS (ms since the epoch). */
  next(nowMS: number): string {
    if (this.at + RANDOM_BYTES > this.pool.length) {
      this.random(this.pool);
      this.at = 0;
    }
    const s = timeHex(nowMS) + hexOf(this.pool, this.at, this.at + RANDOM_BYTES);
    this.at += RANDOM_BYTES;
    return s;
  }
}
