// What the conflict list shows about one conflict at a glance: a readable
// label for the record, who made each version and when, and which fields
// differ. Pure functions over the Conflict Go sends (UI.Conflicts already
// carries every leaf with its document, device, author and edit time).

import { docLabel, labelFields, shortId, sideName, type RecordLabel } from '../lib/labels';
import { diffRows } from '../lib/ui/merge';
import type { Change, Collection, Conflict, Doc, RecordRef } from '../lib/ui/ports';

export type { RecordLabel };

/** LeafSummary is one version of a conflicting record, for people. */
export interface LeafSummary {
  version: string;
  device: string;
  author: string;
  editedAt: number;
  deleted: boolean;
}

/** ConflictSummary is what one row of the conflict list shows. */
export interface ConflictSummary {
  label: RecordLabel | undefined;
  leaves: LeafSummary[];
  /** The labels of the fields whose values differ between the versions. */
  differing: string[];
}

/** The longest label shown in the list; the rest is cut with an ellipsis. */
const MAX_LABEL = 80;

export { labelFields };

/**
 * newestDocs returns the documents of the versions, the most recent
 * version first (leaves come ascending by version), then the common
 * ancestor's: a deleted leaf has no document, so the next one names the record.
 */
export function newestDocs(c: Conflict): Doc[] {
  const changes: Change[] = [...(c.leaves ?? [])].reverse();
  if (c.ancestor) changes.push(c.ancestor);
  return changes.flatMap((ch) => (ch.op !== 'delete' && ch.doc ? [ch.doc] : []));
}

/**
 * recordLabel names a conflicting record from the most recent version's
 * document: the value of the first field of labelFields that holds a
 * non-empty string. Undefined when no version has one.
 */
export function recordLabel(col: Collection | undefined, c: Conflict): RecordLabel | undefined {
  for (const doc of newestDocs(c)) {
    const label = docLabel(doc, col, MAX_LABEL);
    if (label) return label;
  }
  return undefined;
}

export { shortId };

/** summarize builds the list row of one conflict. */
export function summarize(col: Collection | undefined, c: Conflict): ConflictSummary {
  const leaves = c.leaves ?? [];
  return {
    label: recordLabel(col, c),
    leaves: leaves.map((l) => ({
      version: l.version,
      device: l.device,
      author: l.author ?? '',
      editedAt: l.edited_at,
      deleted: l.op === 'delete',
    })),
    differing: diffRows(col?.fields ?? [], leaves, c.ancestor)
      .filter((r) => r.differs)
      .map((r) => r.label),
  };
}

/** who names the person and device of one version: "ana on tab-1", or "server (ana)" for an edit made in Drill. */
export function who(l: Pick<LeafSummary, 'author' | 'device'>): string {
  return sideName(l, ' on ');
}

/** nameOf is how a record is named in sentences: its label, or its shortened id. */
export function nameOf(col: Collection | undefined, c: Conflict): string {
  return recordLabel(col, c)?.text ?? `record ${shortId(c.record_id)}`;
}

/** CollectionCount is how many of a selection are in one collection. */
export interface CollectionCount {
  name: string;
  label: string;
  count: number;
}

/** countByCollection counts refs per collection, largest first, named by their declaration labels. */
export function countByCollection(refs: readonly RecordRef[], collections: readonly Collection[]): CollectionCount[] {
  const counts = new Map<string, number>();
  for (const r of refs) counts.set(r.collection, (counts.get(r.collection) ?? 0) + 1);
  return [...counts]
    .map(([name, count]) => ({ name, count, label: collections.find((c) => c.name === name)?.label || name }))
    .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

/** plural words a count: plural(1, 'conflict') = "1 conflict", plural(2, 'conflict') = "2 conflicts". */
export function plural(n: number, word: string, words = `${word}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? word : words}`;
}
