// Applying one policy to many conflicts: UI.ResolveMany in small chunks so
// the screen can say how far it got, and one outcome for people at the end.

import type { Api, RecordRef } from '../lib/ui/ports';

/** Take is a policy the analyst can apply to a selection. */
export type Take = 'device' | 'server' | 'newest';

/** Failure is one conflict the policy did not resolve, with Go's reason. */
export interface Failure extends RecordRef {
  error: string;
}

/** BatchOutcome is what a batch did. */
export interface BatchOutcome {
  /** How many conflicts the policy resolved. */
  resolved: number;
  /** The conflicts it did not resolve, each with why. */
  failed: Failure[];
  /**
   * Set when a call failed as a whole (e.g. fieldsync stopped): why, and how
   * many conflicts were not tried. Those are unchanged.
   */
  stopped?: { error: string; notTried: number };
}

/** CHUNK is how many conflicts go in one UI.ResolveMany call (Go allows 1000). */
export const CHUNK = 25;

/**
 * resolveInChunks applies take to items, CHUNK at a time, and calls
 * onProgress(done, total) after each chunk. It stops at the first call that
 * fails as a whole and reports the rest as not tried; it never rejects.
 */
export async function resolveInChunks(
  api: Pick<Api, 'resolveMany'>,
  items: readonly RecordRef[],
  take: Take,
  onProgress: (done: number, total: number) => void = () => {},
  chunk = CHUNK,
): Promise<BatchOutcome> {
  const out: BatchOutcome = { resolved: 0, failed: [] };
  for (let i = 0; i < items.length; i += chunk) {
    const part = items.slice(i, i + chunk);
    try {
      const r = await api.resolveMany([...part], take);
      out.resolved += r.resolved;
      // Go sends null for an empty list.
      for (const f of r.failed ?? []) out.failed.push({ collection: f.collection, record_id: f.record_id, error: f.error });
    } catch (err) {
      out.stopped = { error: err instanceof Error ? err.message : String(err), notTried: items.length - i };
      return out;
    }
    onProgress(Math.min(i + part.length, items.length), items.length);
  }
  return out;
}
