// The wording of the refused-changes section (RefusedChanges.svelte and its
// rows): what a refused change is called, what discarding it loses, and the
// values it carried. Pure functions, no DOM.

import type { RefusedKind } from '../lib/data/refusal';
import type { RejectedChange } from '../lib/data/types';
import type { Collection } from '../lib/types';
import { formatValue } from '../lib/ui/form';

/** One refused change as the section lists it. */
export interface RefusedEntry {
  r: RejectedChange;
  kind: RefusedKind;
  label: string;
  colLabel: string;
  /** The record as this window has it, when it exists and is not deleted. */
  exists: boolean;
  /** The record still shows the refused version (discarding rewrites it). */
  current: boolean;
}

export const kindText: Record<RefusedKind, string> = { create: 'New record', edit: 'Edit', delete: 'Delete' };

/** The id of a refused change's heading (focus moves there). */
export function headingId(id: string): string {
  return `refused-${id}`;
}

/** What a one-change export file is named after: its collection and record. */
export function fileStem(r: RejectedChange): string {
  return `${r.change.collection}-${r.change.record_id}`;
}

/** The record's name for button labels: its label, else its id. */
export function entryName(item: RefusedEntry): string {
  return item.label || item.r.change.record_id;
}

/** The record as a sentence names it: “label”, else "record <id>". */
export function entryMessage(item: RefusedEntry): string {
  return item.label ? `“${item.label}”` : `record ${item.r.change.record_id}`;
}

/** Discarding only drops the refused version: the record kept a later save or moved on. */
export function keepsLaterSave(item: RefusedEntry): boolean {
  return Boolean(item.r.superseded_by) || !item.current;
}

/** What discarding loses, in plain words. */
export function loses(item: RefusedEntry): string {
  if (keepsLaterSave(item)) {
    return 'The record keeps its later save. Only this refused version is dropped from this device.';
  }
  switch (item.kind) {
    case 'create':
      return `The new record ${entryMessage(item)} exists only on this device and will be removed, with everything entered in it.`;
    case 'edit':
      return `The record goes back to the copy fieldsync holds. The values of this edit, shown below, are lost.`;
    case 'delete':
      return `The record is not deleted: it comes back as fieldsync holds it.`;
  }
}

/** The values the refused change carried, labelled as the declaration names them. */
export function fieldsOf(item: RefusedEntry, col: Collection | undefined): { label: string; value: string }[] {
  const doc = item.r.change.doc ?? {};
  return Object.keys(doc).map((k) => {
    const f = col?.fields.find((x) => x.name === k);
    return { label: f?.label || k, value: formatValue(f, doc[k]) };
  });
}
