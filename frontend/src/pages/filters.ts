// Conflict list filters: what the analyst picks and the filter Go receives.

import type { Conflict, ConflictFilter } from '../lib/ui/ports';

/** AGES are the age choices of the conflict list, in ms (0 = any age). */
export const AGES: readonly { label: string; ms: number }[] = [
  { label: 'Any age', ms: 0 },
  { label: 'Older than 1 hour', ms: 3_600_000 },
  { label: 'Older than 1 day', ms: 86_400_000 },
  { label: 'Older than 7 days', ms: 7 * 86_400_000 },
  { label: 'Older than 30 days', ms: 30 * 86_400_000 },
];

/** FilterForm is what the filter inputs hold. */
export interface FilterForm {
  collection: string;
  device: string;
  ageMs: number;
}

/** toFilter turns the inputs into UI.Conflicts' filter, leaving out what is not set. */
export function toFilter(f: FilterForm): ConflictFilter {
  const out: ConflictFilter = {};
  if (f.collection) out.collection = f.collection;
  const d = f.device.trim();
  if (d) out.device = d;
  if (f.ageMs > 0) out.older_than_ms = f.ageMs;
  return out;
}

/** matchesFilter applies the same filter in memory (for lists already loaded). */
export function matchesFilter(c: Conflict, f: ConflictFilter, now: number): boolean {
  if (f.collection && c.collection !== f.collection) return false;
  if (f.device && !(c.leaves ?? []).some((l) => l.device === f.device)) return false;
  if (f.older_than_ms && now - c.detected_at < f.older_than_ms) return false;
  return true;
}

/** devicesOf lists the devices that made the versions of the conflicts, sorted. */
export function devicesOf(cs: readonly Conflict[]): string[] {
  return [...new Set(cs.flatMap((c) => (c.leaves ?? []).map((l) => l.device)))].sort();
}
