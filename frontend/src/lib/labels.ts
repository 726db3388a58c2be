// Which declared fields name a record for people ("Bridge 7" rather than a
// 32-character id). One rule for every screen that names records: the
// conflict list, the conflict view, the refused changes and the messages.

import type { Collection, Field } from './types';

const stringTypes: ReadonlySet<Field['type']> = new Set(['text', 'enum', 'note']);

/**
 * labelFields orders the declared fields that can name a record: the
 * declaration's title field when it has one, then the required text fields
 * (in practice the first is the record's name: "Site"), then the other
 * text, enum and note fields, required ones first, in declaration order.
 */
export function labelFields(col: Collection | undefined): Field[] {
  const fields = col?.fields ?? [];
  const title = col?.title ? fields.filter((f) => f.name === col.title) : [];
  const requiredText = fields.filter((f) => f.required && f.type === 'text' && !title.includes(f));
  const rest = fields.filter((f) => stringTypes.has(f.type) && !requiredText.includes(f) && !title.includes(f));
  const byRequired = [...rest.filter((f) => f.required), ...rest.filter((f) => !f.required)];
  return [...title, ...requiredText, ...byRequired];
}

/** RecordLabel is the text that names a record for people, and the field it came from. */
export interface RecordLabel {
  text: string;
  field: string;
}

/**
 * docLabel names a record from one document: the first field of
 * labelFields holding a non-blank string, on one line and cut to max
 * characters with an ellipsis. Undefined when none has one.
 */
export function docLabel(doc: Record<string, unknown>, col: Collection | undefined, max: number): RecordLabel | undefined {
  for (const f of labelFields(col)) {
    const v = doc[f.name];
    if (typeof v === 'string' && v.trim() !== '') return { text: clip(v, max), field: f.name };
  }
  return undefined;
}

/** clip puts s on one line and cuts it to max characters with an ellipsis. */
export function clip(s: string, max: number): string {
  const one = s.trim().replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

/** shortId shortens a record id for display: the first 8 characters and an ellipsis. */
export function shortId(id: string, keep = 8): string {
  return id.length > keep + 1 ? `${id.slice(0, keep)}…` : id;
}

/**
 * recordName names a record inside a sentence: its label in quotes
 * (“Weir 2”), or, when it has none, "record" and its shortened id.
 */
export function recordName(label: string | undefined, id: string): string {
  return label ? `“${label}”` : `record ${shortId(id)}`;
}

/** SERVER_DEVICE is the device of edits made in Drill (rows an analyst wrote into an inbox, turned into changes by `fieldsync ingest`). */
export const SERVER_DEVICE = 'server';

/**
 * sideName names who made a version, for people: "server (ana)" for an
 * edit made in Drill by the analyst ana, else "ana@tab-1" (join "@") or
 * "ana on tab-1" (join " on ").
 */
export function sideName(c: { author?: string; device: string }, join: '@' | ' on ' = '@'): string {
  if (c.device === SERVER_DEVICE) return `server (${c.author || 'unknown'})`;
  if (join === ' on ') return c.author ? `${c.author} on ${c.device}` : c.device;
  return `${c.author || 'unknown'}@${c.device}`;
}
