// Page helpers: what a person does on fieldsync's screens, through
// accessible names and the screens' data-testids.

import assert from 'node:assert/strict';
import { waitFor } from './harness.mjs';

/** fieldId is the CSS selector of a field's input in the record form. */
export const fieldId = (collection, name) => `#f-${collection}-${name}`;

/** gotoScreen follows the main navigation link of a screen and waits for its heading. */
export async function gotoScreen(page, label) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await page.locator('#page-title', { hasText: label }).waitFor();
}

/** waitRecords waits until the Records screen has loaded (table visible). */
export async function waitRecords(page) {
  await page.getByTestId('records-table').waitFor();
  await waitFor(async () => !/Loading/.test(await page.getByTestId('records-count').innerText()), {
    what: 'the records list to load',
  });
}

/**
 * fillForm types values into the open record form. values: {field: value};
 * booleans check/uncheck, enums select, datetimes take "YYYY-MM-DDTHH:MM".
 */
export async function fillForm(page, collection, values) {
  const form = page.getByTestId('record-form');
  for (const [name, v] of Object.entries(values)) {
    const el = form.locator(fieldId(collection, name));
    const tag = await el.evaluate((e) => `${e.tagName.toLowerCase()}:${e.getAttribute('type') ?? ''}`);
    if (tag === 'input:checkbox') await el.setChecked(Boolean(v));
    else if (tag.startsWith('select')) await el.selectOption(String(v));
    else await el.fill(String(v));
  }
}

/** createRecord opens "New record", fills it, saves and returns the new row's record id. */
export async function createRecord(page, collection, values) {
  const before = new Set(await page.getByTestId('record-row').evaluateAll((rs) => rs.map((r) => r.dataset.recordId)));
  await page.getByTestId('record-new').first().click();
  await page.getByTestId('record-form').waitFor();
  await fillForm(page, collection, values);
  await page.getByTestId('record-save').click();
  await page.getByTestId('record-form').waitFor({ state: 'detached' });
  return waitFor(async () => {
    const ids = await page.getByTestId('record-row').evaluateAll((rs) => rs.map((r) => r.dataset.recordId));
    return ids.find((id) => !before.has(id));
  }, { what: 'the new record to be listed' });
}

/** row returns the list row of a record. */
export const row = (page, id) => page.locator(`[data-testid="record-row"][data-record-id="${id}"]`);

/** openRecord opens a record's form from its row. */
export async function openRecord(page, id) {
  await row(page, id).locator('.row-open').click();
  await page.getByTestId('record-form').waitFor();
}

/** editRecord opens a record, changes values and saves. */
export async function editRecord(page, collection, id, values) {
  await openRecord(page, id);
  await fillForm(page, collection, values);
  await page.getByTestId('record-save').click();
  await page.getByTestId('record-form').waitFor({ state: 'detached' });
}

/** formValues reads the open form's inputs by field name. */
export async function formValues(page) {
  return page.getByTestId('record-form').evaluate((f) => {
    const out = {};
    for (const el of f.querySelectorAll('input[name], select[name], textarea[name]')) {
      out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
    }
    return out;
  });
}

/** stateOf returns a record's sync badge state ("local", "pending", "synced", "conflict"). */
export async function stateOf(page, id) {
  return row(page, id).getByTestId('sync-badge').getAttribute('data-state');
}

/** waitState waits until a record's badge shows state. */
export async function waitState(page, id, state, timeout = 30_000) {
  await waitFor(async () => (await stateOf(page, id)) === state, {
    timeout,
    what: `record ${id} to show state "${state}"`,
  });
}

/**
 * syncNow presses "Sync now" on the Sync screen and waits for the result
 * (report or error) to be shown. Returns {ok, text}.
 */
export async function syncNow(page) {
  await gotoScreen(page, 'Sync');
  const btn = page.getByTestId('sync-now');
  await waitFor(() => btn.isEnabled(), { what: '"Sync now" to be enabled' });
  await btn.click();
  const result = page.getByTestId('sync-result').locator('.alert');
  const error = page.getByRole('alert').filter({ hasText: 'Sync did not run' });
  const which = await waitFor(async () => {
    if (await result.count()) return 'ok';
    if (await error.count()) return 'error';
    return undefined;
  }, { timeout: 120_000, what: 'the sync to finish' });
  const text = which === 'ok' ? await result.innerText() : await error.innerText();
  return { ok: which === 'ok', text };
}

/** syncOK presses "Sync now", asserts that the sync ran and returns the report text. */
export async function syncOK(page) {
  const r = await syncNow(page);
  assert.ok(r.ok, `Sync now failed: ${r.text}`);
  return r.text;
}
