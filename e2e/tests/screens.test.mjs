// Each screen once, as a person sees it, with a screenshot of each:
// the Records list, the record form with validation messages, Sync,
// Settings with "Test connection" against the real Drillbit. (The Conflicts
// list and a conflict's detail are taken by conflict.test.mjs.)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Harness, waitFor } from '../lib/harness.mjs';
import { createRecord, gotoScreen, row, syncOK, waitRecords, waitState } from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'screens-' });
let dev, page;

before(async () => {
  await h.setup();
  dev = h.device('survey-laptop');
  await dev.start({ extra: ['--no-agent'] });
  page = await dev.open('#/records');
  await waitRecords(page);
});

after(() => h.close());

test('Records: list, form validation, delete with undo', async () => {
  const sites = [
    ['Reservoir inlet', 'Ana', '8.5', '0', true, 'low', '2026-11-16T07:45'],
    ['Old mill bridge', 'Ben', '9', '2', false, 'high', '2026-11-17T11:20'],
    ['Quarry road', 'Cara', '11.2', '1', true, 'medium', '2026-11-18T15:05'],
  ];
  const ids = [];
  for (const [site, inspector, temperature_c, defects, passed, risk, inspected_at] of sites) {
    ids.push(await createRecord(page, C, { site, inspector, temperature_c, defects, passed, risk, inspected_at }));
  }
  assert.match(await page.getByTestId('records-count').innerText(), /3 records/);
  await syncOK(page);
  await gotoScreen(page, 'Records');
  await waitRecords(page);
  for (const id of ids) await waitState(page, id, 'synced');
  const extra = await createRecord(page, C, { site: 'Weir 2', passed: true, risk: 'low', inspected_at: '2026-11-19T10:00' });
  await waitState(page, extra, 'local');
  await h.shot(page, 'records-list');

  // Search narrows the list.
  await page.getByTestId('records-search').fill('mill');
  await waitFor(async () => (await page.getByTestId('record-row').count()) === 1, { what: 'one match for "mill"' });
  await page.getByTestId('records-search').fill('');
  await waitFor(async () => (await page.getByTestId('record-row').count()) === 4, { what: 'all four records again' });

  // An empty form: messages next to the required fields, focus on the first.
  await page.getByTestId('record-new').click();
  await page.getByTestId('record-form').waitFor();
  await page.locator('#f-inspections-temperature_c').fill('warm');
  await page.getByTestId('record-save').click();
  for (const f of ['site', 'risk', 'inspected_at', 'temperature_c']) {
    await page.getByTestId(`error-${f}`).waitFor();
    assert.equal(await page.locator(`#f-inspections-${f}`).getAttribute('aria-invalid'), 'true', `${f} aria-invalid`);
  }
  assert.match(await page.locator('.form-errors').innerText(), /fields need attention/);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-inspections-site');
  await h.shot(page, 'record-form-validation');
  await page.getByTestId('record-cancel').click();
  assert.equal(await page.getByTestId('record-row').count(), 4, 'an invalid form must not create a record');

  // Delete, then undo from the message.
  await row(page, extra).locator('.row-open').click();
  await page.getByTestId('record-delete').click();
  await row(page, extra).waitFor({ state: 'detached' });
  await page.getByTestId('toast').filter({ hasText: 'deleted' }).getByTestId('toast-action').click();
  await row(page, extra).waitFor();
});

test('Sync: state, pending count, last sync, and "Sync now"', async () => {
  const text = await syncOK(page);
  // The extra record: created, deleted, restored by undo = 3 changes.
  assert.match(text, /Sync finished: 3 sent/);
  assert.match(await page.getByTestId('sync-state').innerText(), /Online/);
  assert.equal((await page.getByTestId('pending-count').innerText()).trim(), '0');
  assert.doesNotMatch(await page.getByTestId('last-success').innerText(), /Never/);
  await h.shot(page, 'sync');
});

test('Settings: the values in force, a schedule read aloud, "Test connection" reports each check', async () => {
  await gotoScreen(page, 'Settings');
  await page.getByTestId('settings-form').waitFor();
  assert.equal((await page.getByTestId('settings-urls').inputValue()).trim(), h.drillURL);
  assert.equal(await page.getByTestId('settings-workspace').inputValue(), h.workspace);
  await page.getByTestId('settings-schedule').fill('*/10 * * * *');
  await waitFor(async () => /10 minutes/i.test(await page.getByTestId('schedule-reading').innerText()), {
    what: 'the schedule to be read as "every 10 minutes"',
  });
  await page.getByTestId('settings-schedule').fill('every tuesday');
  await waitFor(async () => (await page.getByTestId('settings-schedule').getAttribute('aria-invalid')) === 'true', {
    what: 'a bad schedule to be flagged',
  });
  await page.getByTestId('settings-schedule').fill('@every 5m');
  await page.getByTestId('settings-test').click();
  const checks = page.locator('[data-testid^="check-"]');
  await waitFor(async () => (await checks.count()) > 0, { timeout: 60_000, what: 'the connection test results' });
  const got = await checks.evaluateAll((cs) => cs.map((c) => ({ name: c.dataset.testid.slice(6), status: c.dataset.status, text: c.textContent })));
  for (const kind of ['reach', 'version', 'query', 'workspace']) {
    const c = got.filter((x) => x.name === kind || x.name.startsWith(`${kind} `));
    assert.ok(c.length > 0, `no "${kind}" check among ${JSON.stringify(got)}`);
    for (const x of c) assert.equal(x.status, 'ok', `${x.name}: ${x.text}`);
  }
  await h.shot(page, 'settings', { top: true });
});
