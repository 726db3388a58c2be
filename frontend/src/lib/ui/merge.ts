// Field-by-field comparison of a conflict's versions and the merged document
// the analyst builds by choosing, per field, which version's value to keep
// (and optionally editing it).

import { fromForm, labelOf, humanize, toForm, type FieldErrors, type FormValues } from './form';
import type { Change, Collection, Doc, Field } from './ports';
import type { MergeRule } from '../types';

const ruleText: Record<MergeRule, string> = {
  newest: 'newest value',
  higher: 'higher value',
  lower: 'lower value',
  device: 'this device’s value',
  server: 'the server’s value',
  join: 'texts joined',
  union: 'lists joined',
};

/** ruleWords says what a field's merge rule keeps, as Go's schema.Merge.Words does; '' for none. */
export function ruleWords(collection: Collection | undefined, field: string): string {
  const r = collection?.rules?.[field];
  return r ? (ruleText[r] ?? r) : '';
}

/** RuleDecision is one field a merge rule decided in a resolution. */
export interface RuleDecision {
  name: string;
  label: string;
  /** What the rule kept, in words: "higher value". */
  words: string;
}

/**
 * ruleDecisions lists the fields a resolution's rules decided (Audit.rules),
 * in the collection's field order, then any field it no longer declares.
 */
export function ruleDecisions(collection: Collection | undefined, rules: Record<string, string> | undefined): RuleDecision[] {
  const names = Object.keys(rules ?? {});
  const order = (n: string) => {
    const i = collection?.fields.findIndex((f) => f.name === n) ?? -1;
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  names.sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  return names.map((name) => {
    const field = collection?.fields.find((f) => f.name === name);
    const rule = rules?.[name] ?? '';
    return { name, label: field ? labelOf(field) : humanize(name), words: ruleText[rule as MergeRule] ?? rule };
  });
}

/**
 * ruleResolutionText says what a resolution made by merge rules did, once:
 * "merged by rule: Reading: higher value". Go's note already starts with
 * "merged by rule"; a note without it, or none, is worded here.
 */
export function ruleResolutionText(note: string | undefined, decisions: RuleDecision[] = []): string {
  const n = (note ?? '').trim();
  if (/^merged by rule\b/i.test(n)) return n;
  if (n) return `merged by rule: ${n}`;
  if (decisions.length > 0) return `merged by rule: ${decisions.map((d) => `${d.label}: ${d.words}`).join('; ')}`;
  return 'merged by rule';
}

/** DiffRow is one field across the versions of a conflict. */
export interface DiffRow {
  name: string;
  label: string;
  /** The declaration, or undefined for a field the collection does not declare. */
  field: Field | undefined;
  /** The value in each version (leaf), in the order of the leaves. */
  values: unknown[];
  /** The value in the common ancestor, when it is known. */
  ancestor: unknown;
  /** True when the versions do not all hold the same value. */
  differs: boolean;
  /** Per version: true when it changed this field relative to the ancestor. */
  changed: boolean[];
}

/** same compares two document values (scalars, or JSON for the rest). */
export function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function docOf(c: Change | undefined): Doc | undefined {
  return c && c.op !== 'delete' ? c.doc : undefined;
}

/** diffRows lines up every declared field, then any other field a version holds. */
export function diffRows(fields: readonly Field[], leaves: readonly Change[], ancestor?: Change): DiffRow[] {
  const names: string[] = fields.map((f) => f.name);
  const seen = new Set(names);
  for (const c of [...leaves, ...(ancestor ? [ancestor] : [])]) {
    for (const k of Object.keys(docOf(c) ?? {})) {
      if (!seen.has(k)) {
        seen.add(k);
        names.push(k);
      }
    }
  }
  const anc = docOf(ancestor);
  return names.map((name) => {
    const field = fields.find((f) => f.name === name);
    const values = leaves.map((c) => docOf(c)?.[name]);
    const a = anc?.[name];
    const first = values[0];
    return {
      name,
      label: field ? labelOf(field) : humanize(name),
      field,
      values,
      ancestor: a,
      differs: values.some((v) => !same(v, first)),
      changed: values.map((v) => (ancestor ? !same(v, a) : false)),
    };
  });
}

/**
 * initialChoices picks, per field, the version to start from: the only
 * version that changed the field since the ancestor when there is exactly
 * one (a clean three-way merge), otherwise the current winner.
 */
export function initialChoices(rows: readonly DiffRow[], leaves: readonly Change[], winner: string): number[] {
  const w = Math.max(
    0,
    leaves.findIndex((c) => c.version === winner),
  );
  return rows.map((r) => {
    if (!r.differs) return w;
    const changed = r.changed.flatMap((c, i) => (c ? [i] : []));
    return changed.length === 1 ? (changed[0] ?? w) : w;
  });
}

/** chosenDoc is the document holding, per field, the value of the chosen version. */
export function chosenDoc(rows: readonly DiffRow[], choices: readonly number[]): Doc {
  const doc: Doc = {};
  rows.forEach((r, i) => {
    const v = r.values[choices[i] ?? 0];
    if (v !== undefined) doc[r.name] = v;
  });
  return doc;
}

/** mergedInputs fills the editable merged column from the chosen values. */
export function mergedInputs(fields: readonly Field[], rows: readonly DiffRow[], choices: readonly number[]): FormValues {
  return toForm(fields, chosenDoc(rows, choices));
}

/**
 * buildMerged is the document sent with take:"merge": declared fields from
 * the (possibly edited) merged inputs, other fields from the chosen version.
 */
export function buildMerged(
  fields: readonly Field[],
  rows: readonly DiffRow[],
  choices: readonly number[],
  inputs: FormValues,
): { doc: Doc; errors: FieldErrors; ok: boolean } {
  const extras: Doc = {};
  rows.forEach((r, i) => {
    if (r.field) return;
    const v = r.values[choices[i] ?? 0];
    if (v !== undefined) extras[r.name] = v;
  });
  const r = fromForm(fields, inputs, extras);
  // An unchecked box for a boolean no chosen version holds is "not set", not false.
  rows.forEach((row, i) => {
    if (row.field?.type === 'boolean' && row.values[choices[i] ?? 0] === undefined && r.doc[row.name] === false) {
      delete r.doc[row.name];
    }
  });
  return r;
}
