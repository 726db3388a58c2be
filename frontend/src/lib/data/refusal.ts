// Go's reasons for refusing a change, in plain words for the people who made
// it. Go writes its reasons for logs ('invalid change "9f…": inspections
// invalid record: site is required'); the Sync screen shows what this module
// makes of them and keeps Go's text under "Details".

import { clip, docLabel } from '../labels';
import type { Change, Collection } from '../types';
import type { RejectedChange } from './types';

/** One field a refused record got wrong. */
export interface FieldProblem {
  /** The field's name in the record. */
  field: string;
  /** The field's label from the declaration, or its name. */
  label: string;
  /** What is wrong, e.g. "is required", "must be a whole number, not text". */
  message: string;
}

/** What explainRefusal makes of Go's reason. */
export interface Refusal {
  /** One or two sentences for people: what is wrong and what to do. */
  summary: string;
  /** The fields the record got wrong, when Go named them. */
  fields: FieldProblem[];
  /** Go's reason without the change id: for "Details" and support. */
  detail: string;
}

const INVALID_PREFIX = /^invalid change "[^"]*":\s*/;

/** Splits "site is required; score must be a number" into field problems. */
function fieldProblems(text: string, collection: Collection | undefined): FieldProblem[] {
  const names = (collection?.fields ?? []).map((f) => f.name).sort((a, b) => b.length - a.length);
  const out: FieldProblem[] = [];
  for (const part of text.split('; ')) {
    const name = names.find((n) => part.startsWith(`${n} `));
    if (!name) {
      out.push({ field: '', label: '', message: part });
      continue;
    }
    const f = collection?.fields.find((x) => x.name === name);
    out.push({ field: name, label: f?.label || name, message: part.slice(name.length + 1) });
  }
  return out;
}

/**
 * explainRefusal turns Go's reason for refusing a change into plain words.
 * collection is the change's declaration when this device knows it (for
 * field labels). Unknown reasons are shown as Go wrote them.
 */
export function explainRefusal(reason: string, collection?: Collection): Refusal {
  const detail = reason.replace(INVALID_PREFIX, '').trim() || 'fieldsync gave no reason';
  const fix = 'Open the record, correct it and save it again, or discard the change.';

  const record = /^(\S+) invalid record: (.*)$/s.exec(detail);
  if (record) {
    const fields = fieldProblems(record[2] ?? '', collection);
    return {
      summary: `The record does not match what the ${collection?.label || record[1]} form requires (it may have changed since the record was saved). ${fix}`,
      fields,
      detail,
    };
  }
  const unknown = /unknown collection "([^"]*)"/.exec(detail);
  if (unknown) {
    return {
      summary: `The collection "${unknown[1]}" is no longer set up in fieldsync, so its records cannot be saved. Ask whoever manages fieldsync to declare it again, then try again; or discard the change.`,
      fields: [],
      detail,
    };
  }
  const device = /made by device "([^"]*)", but this is device "([^"]*)"/.exec(detail);
  if (device) {
    return {
      summary: `The change was made as device ${device[1]}, but fieldsync now runs as device ${device[2]} (a restored or copied profile). Open the record and save it again to make the change on this device, or discard it.`,
      fields: [],
      detail,
    };
  }
  const size = /doc is (\d+) bytes, more than the (\d+) allowed/.exec(detail);
  if (size) {
    const kib = (n: string) => `${Math.ceil(Number(n) / 1024).toLocaleString()} KB`;
    return {
      summary: `The record is too large: ${kib(size[1] ?? '0')}, and at most ${kib(size[2] ?? '0')} is allowed. Shorten its longest fields and save it again.`,
      fields: [],
      detail,
    };
  }
  if (/not valid UTF-8/.test(detail)) {
    return {
      summary: `The record contains characters that cannot be stored (text that is not valid Unicode, often pasted from another program). ${fix}`,
      fields: [],
      detail,
    };
  }
  if (/version already used by another change/.test(detail)) {
    return {
      summary: 'Another change already used this change’s version number, so fieldsync cannot tell them apart. Open the record and save it again (this makes a new change), then discard this one.',
      fields: [],
      detail,
    };
  }
  if (/(record_id|collection|change_id|device) (is empty|is longer than|contains)/.test(detail)) {
    return {
      summary: `The change names its record in a way fieldsync cannot store (${detail}). It cannot be sent as it is: download it for support, then discard it.`,
      fields: [],
      detail,
    };
  }
  return { summary: `fieldsync refused the change: ${detail}. ${fix}`, fields: [], detail };
}

/**
 * recordLabel is a short readable name for a record: the value of the first
 * field of labelFields (the declaration's title first) that has one, else
 * the first text value of the document; '' when there is none.
 */
export function recordLabel(doc: Record<string, unknown> | undefined, collection?: Collection): string {
  if (!doc) return '';
  const label = docLabel(doc, collection, MAX_LABEL);
  if (label) return label.text;
  const first = Object.values(doc).find((v): v is string => typeof v === 'string' && v.trim() !== '');
  return first === undefined ? '' : clip(first, MAX_LABEL);
}

/** The longest record label on the refused-changes list. */
const MAX_LABEL = 60;

/** What a refused change did, for people. */
export type RefusedKind = 'create' | 'edit' | 'delete';

/** refusedKind tells a new record (a put with no parents), an edit and a delete apart. */
export function refusedKind(c: { op: string; parents: readonly string[] | null }): RefusedKind {
  if (c.op === 'delete') return 'delete';
  return (c.parents ?? []).length === 0 ? 'create' : 'edit';
}

/** The refused change as the JSON export lists it. */
export interface RefusedExportItem {
  change_id: string;
  collection: string;
  record_id: string;
  record_label: string;
  kind: RefusedKind;
  /** Go's reason as Go wrote it, and in plain words. */
  reason: string;
  reason_plain: string;
  refused_at: string;
  superseded_by?: string;
  /** The change exactly as it was sent to fieldsync (document included). */
  change: Change;
}

/** The JSON file "Download as JSON" saves: one refused change or all of them. */
export interface RefusedExport {
  kind: 'fieldsync-refused-changes';
  exported_at: string;
  device: string;
  changes: RefusedExportItem[];
}

/**
 * refusedExport makes the download for IT and support: every change in
 * full with Go's reason, so nothing is lost when one is discarded.
 */
export function refusedExport(
  list: readonly RejectedChange[],
  opts: { device: string; now: number; collections: readonly Collection[] },
): RefusedExport {
  return {
    kind: 'fieldsync-refused-changes',
    exported_at: new Date(opts.now).toISOString(),
    device: opts.device,
    changes: list.map((r) => {
      const col = opts.collections.find((c) => c.name === r.change.collection);
      const item: RefusedExportItem = {
        change_id: r.change_id,
        collection: r.change.collection,
        record_id: r.change.record_id,
        record_label: recordLabel(r.change.doc, col),
        kind: refusedKind(r.change),
        reason: r.reason,
        reason_plain: explainRefusal(r.reason, col).summary,
        refused_at: new Date(r.rejected_at).toISOString(),
        change: r.change,
      };
      if (r.superseded_by) item.superseded_by = r.superseded_by;
      return item;
    }),
  };
}

/** A file name for an export: fieldsync-refused-<what>-<UTC yyyymmdd-hhmm>.json. */
export function refusedFileName(what: string, now: number): string {
  const t = new Date(now).toISOString().replace(/[-:]/g, '').slice(0, 13).replace('T', '-');
  const safe = what.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 60);
  return `fieldsync-refused-${safe}-${t}.json`;
}
