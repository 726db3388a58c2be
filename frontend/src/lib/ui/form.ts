// The record form's model: turning a document into input values and back,
// with the same rules as schema/validate.go (required, types, enum options),
// so people see a problem next to the field before Go would reject it.

import type { Doc, Field } from './ports';

/** FormValues holds what the inputs show: text for most fields, a boolean for checkboxes. */
export type FormValues = Record<string, string | boolean>;

/** FieldErrors maps a field name to what is wrong with it, in plain words. */
export type FieldErrors = Record<string, string>;

/** labelOf is the label people see for a field. */
export function labelOf(f: Field): string {
  return f.label || humanize(f.name);
}

/** humanize turns "site_code" into "Site code". */
export function humanize(name: string): string {
  const s = name.replace(/[_-]+/g, ' ').trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** toLocalInput renders epoch ms as the value of <input type="datetime-local">. */
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** fromLocalInput parses a datetime-local value (local time) to epoch ms, or undefined. */
export function fromLocalInput(s: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(s.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const dt = new Date(y, mo - 1, d, h, mi, sec);
  if (dt.getFullYear() !== y || dt.getMonth() !== mo - 1 || dt.getDate() !== d) return undefined;
  return dt.getTime();
}

/** datetimeMillis accepts what Go's schema.DateTimeMillis accepts: epoch ms or RFC 3339 text. */
export function datetimeMillis(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v)) {
    const t = Date.parse(v);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}

/** toForm fills the inputs of fields from doc (empty for a new record). */
export function toForm(fields: readonly Field[], doc: Doc | undefined): FormValues {
  const out: FormValues = {};
  for (const f of fields) {
    const v = doc?.[f.name];
    switch (f.type) {
      case 'boolean':
        out[f.name] = v === true;
        break;
      case 'datetime': {
        const ms = datetimeMillis(v);
        out[f.name] = ms === undefined ? '' : toLocalInput(ms);
        break;
      }
      case 'number':
      case 'integer':
        out[f.name] = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : '';
        break;
      case 'list':
        out[f.name] = Array.isArray(v) ? v.map(String).join('\n') : typeof v === 'string' ? v : '';
        break;
      default:
        out[f.name] = typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
    }
  }
  return out;
}

/**
 * fromForm builds the document from the inputs and checks it. Fields that are
 * not declared are kept from base, as Go keeps them. Empty optional fields
 * are left out of the document.
 */
export function fromForm(
  fields: readonly Field[],
  values: FormValues,
  base?: Doc,
): { doc: Doc; errors: FieldErrors; ok: boolean } {
  const doc: Doc = { ...(base ?? {}) };
  const errors: FieldErrors = {};
  for (const f of fields) {
    const raw = values[f.name];
    const label = labelOf(f);
    if (f.type === 'boolean') {
      doc[f.name] = raw === true;
      continue;
    }
    const s = typeof raw === 'string' ? raw : '';
    const text = f.type === 'note' || f.type === 'text' ? s : s.trim();
    if (text.trim() === '') {
      delete doc[f.name];
      if (f.required) errors[f.name] = `${label} is required.`;
      continue;
    }
    switch (f.type) {
      case 'number': {
        const n = Number(text);
        if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) || !Number.isFinite(n)) {
          errors[f.name] = `${label} must be a number, such as 12.5.`;
        } else doc[f.name] = n;
        break;
      }
      case 'integer': {
        const n = Number(text);
        if (!/^[-+]?\d+$/.test(text)) errors[f.name] = `${label} must be a whole number, such as 12.`;
        else if (!Number.isSafeInteger(n)) errors[f.name] = `${label} is too large.`;
        else doc[f.name] = n;
        break;
      }
      case 'enum': {
        const opts = f.options ?? [];
        if (!opts.includes(text)) errors[f.name] = `${label} must be one of: ${opts.join(', ')}.`;
        else doc[f.name] = text;
        break;
      }
      case 'datetime': {
        const ms = fromLocalInput(text) ?? datetimeMillis(text);
        if (ms === undefined) errors[f.name] = `${label} must be a date and time.`;
        else doc[f.name] = ms;
        break;
      }
      case 'list':
        // One item per line; blank lines and repeats are dropped.
        doc[f.name] = [...new Set(text.split('\n').map((x) => x.trim()).filter((x) => x !== ''))];
        break;
      default:
        doc[f.name] = text;
    }
  }
  return { doc, errors, ok: Object.keys(errors).length === 0 };
}

/** formatValue shows a document value for a field in tables and diffs. */
export function formatValue(f: Field | undefined, v: unknown): string {
  if (v === undefined || v === null || v === '') return '—';
  if (f?.type === 'boolean') return v === true ? 'Yes' : v === false ? 'No' : String(v);
  if (f?.type === 'datetime') {
    const ms = datetimeMillis(v);
    return ms === undefined ? String(v) : formatDateTime(ms);
  }
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.length === 0 ? '—' : v.join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** formatDateTime shows epoch ms (or RFC 3339 text) as a short local date and time. */
export function formatDateTime(t: number | string | undefined): string {
  if (t === undefined || t === '') return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * agoTime is relativeTime for something that already happened: a time a
 * little ahead of now (another device's clock, or now taken just before)
 * reads "just now", never "in a few seconds".
 */
export function agoTime(t: number | string | undefined, now: number): string {
  if (t === undefined || t === '') return relativeTime(t, now);
  const ms = new Date(t).getTime();
  return Number.isNaN(ms) ? relativeTime(t, now) : relativeTime(Math.min(ms, now), now);
}

/** relativeTime says how long ago (or in how long) t is from now, e.g. "5 min ago". */
export function relativeTime(t: number | string | undefined, now: number): string {
  if (t === undefined || t === '') return 'never';
  const ms = new Date(t).getTime();
  if (Number.isNaN(ms)) return String(t);
  const diff = Math.round((ms - now) / 1000);
  const abs = Math.abs(diff);
  let text: string;
  if (abs < 45) return diff > 0 ? 'in a few seconds' : 'just now';
  else if (abs < 90 * 60) text = `${Math.round(abs / 60)} min`;
  else if (abs < 36 * 3600) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} days`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}
