// fieldsync refuses a change made in the window: a field worker captures
// records while fieldsync is down, and meanwhile IT ships a collection
// declaration that no longer allows a value they used (risk "high"). When
// fieldsync is back, it refuses those changes. The Sync screen lists them with
// the reason in plain words; "Try again" sends one again (refused again, with
// the reason), "Discard" asks first, offers the JSON, and removes the other;
// once the declaration allows "high" again, "Try again" gets the change
// journaled. No test hook in Go: the refusal is Go's real declaration check.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { COLLECTIONS, Harness, freePort, waitFor } from '../lib/harness.mjs';
import { createRecord, fieldId, gotoScreen, waitRecords } from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'refused-' });
let dev, page, addr, strict;
/** The declaration file the next start of fieldsync reads. */
let declaration = COLLECTIONS;

before(async () => {
  await h.setup();
  // IT's new declaration: "high" is no longer a risk level.
  const decl = JSON.parse(await readFile(COLLECTIONS, 'utf8'));
  const risk = decl.collections.find((c) => c.name === C).fields.find((f) => f.name === 'risk');
  risk.options = risk.options.filter((o) => o !== 'high');
  strict = path.join(h.tmp, 'collections-strict.json');
  await writeFile(strict, JSON.stringify(decl, null, 2), { mode: 0o600 });

  dev = h.device('field3');
  const flags = dev.flags.bind(dev);
  dev.flags = () => flags().map((a) => (a === COLLECTIONS ? declaration : a));
  addr = `127.0.0.1:${await freePort()}`;
  await dev.start({ addr, extra: ['--no-agent'] });
  page = await dev.open('#/records');
  await waitRecords(page);
});

after(() => h.close());

/** restart starts fieldsync again on the same address (same origin and IndexedDB) and opens the Sync screen. */
async function restart() {
  await dev.stop();
  await dev.start({ addr, extra: ['--no-agent'] });
  await dev.open('#/sync');
  await page.locator('#page-title', { hasText: 'Sync' }).waitFor();
}

const items = () => page.getByTestId('refused-item');
const item = (text) => items().filter({ hasText: text });

test('changes fieldsync refuses are shown with why, tried again, and discarded only after asking', async () => {
  await dev.stop(); // fieldsync is closed while the field worker captures
  const a = await createRecord(page, C, { site: 'Quarry gate', passed: true, risk: 'high', inspected_at: '2026-11-23T08:00' });
  const b = await createRecord(page, C, { site: 'Old mill', passed: false, risk: 'high', inspected_at: '2026-11-23T09:00' });

  declaration = strict;
  await restart();
  await waitFor(async () => (await items().count()) === 2, { what: 'two refused changes on the Sync screen' });
  assert.match(await page.getByTestId('rejected-note').innerText(), /2 changes were refused by fieldsync/);
  const quarry = item('Quarry gate');
  const text = await quarry.innerText();
  assert.match(text, /New record\s+Quarry gate\s+in Site inspections/);
  assert.match(text, new RegExp(`Record ${a}`));
  assert.match(text, /does not match what the Site inspections form requires/);
  assert.match(text, /Risk level must be one of low, medium, not "high"/);
  assert.equal(await quarry.getByTestId('refused-open').getAttribute('href'), `#/records/${C}/${a}`);
  await h.shot(page, 'sync-refused-changes');

  // "Open record" opens the record's form, heading focused, with the
  // reason in plain words; Cancel goes back to the list's address.
  await quarry.getByTestId('refused-open').click();
  const form = page.getByTestId('record-form');
  await form.waitFor();
  await waitFor(async () => (await page.evaluate(() => document.activeElement?.id)) === 'record-form-title', {
    what: "the focus on the record form's heading",
  });
  assert.equal(await form.locator(fieldId(C, 'site')).inputValue(), 'Quarry gate');
  await h.shot(page, 'records-refused-record');
  await page.getByTestId('record-cancel').click();
  await waitFor(async () => new URL(page.url()).hash === `#/records/${C}`, { what: 'the address of the list after Cancel' });
  await gotoScreen(page, 'Sync');
  await waitFor(async () => (await items().count()) === 2, { what: 'the refused changes listed again' });

  // Try again while the declaration still refuses "high": it comes back, marked.
  await quarry.getByRole('button', { name: /^Try again/ }).click();
  await quarry.getByTestId('refused-again').waitFor();
  assert.match(await quarry.innerText(), /Risk level must be one of low, medium/);

  // Discard asks first, says what is lost and offers the JSON.
  const mill = item('Old mill');
  await mill.getByRole('button', { name: /^Discard/ }).click();
  const confirm = mill.getByTestId('refused-confirm');
  assert.match(await confirm.innerText(), /The new record “Old mill” exists only on this device and will be removed/);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    confirm.getByRole('button', { name: 'Download as JSON' }).click(),
  ]);
  const saved = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.equal(saved.kind, 'fieldsync-refused-changes');
  assert.deepEqual(saved.changes.map((c) => [c.record_id, c.change.doc.site]), [[b, 'Old mill']]);
  await h.shot(page, 'sync-refused-discard');
  // Keyboard: Escape keeps it, focus back on Discard; then discard for real.
  await page.keyboard.press('Escape');
  await confirm.waitFor({ state: 'detached' });
  assert.match(await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? ''), /^Discard: Old mill/);
  await page.keyboard.press('Enter');
  await mill.getByRole('button', { name: 'Discard change' }).click();
  await waitFor(async () => (await items().count()) === 1, { what: 'the discarded change to leave the list' });
  assert.match(
    await page.evaluate(() => document.activeElement?.closest('[data-testid="refused-item"]')?.textContent ?? ''),
    /Quarry gate/,
    'focus moves to the change left',
  );
  await gotoScreen(page, 'Records');
  await waitRecords(page);
  assert.equal(await page.locator(`[data-testid="record-row"][data-record-id="${b}"]`).count(), 0, 'the discarded new record is gone');

  // IT puts "high" back: Try again gets the change journaled.
  declaration = COLLECTIONS;
  await restart();
  await item('Quarry gate').getByRole('button', { name: /^Try again/ }).click();
  await page.getByTestId('refused-empty').waitFor();
  await waitFor(async () => /·\s*0 still in this window/.test(await page.getByText(/still in this window/).innerText()), {
    what: 'the retried change to be handed to fieldsync',
  });
  assert.equal(await page.getByTestId('rejected-note').count(), 0);

  await dev.stop();
  const docs = await dev.exportDocs(C);
  assert.equal(docs.get(a)?.risk, 'high');
  assert.equal(docs.has(b), false, 'the discarded change never reached the journal');
  const st = JSON.parse(await dev.cli('status', '--json'));
  assert.equal(st.store.journal, 1, `journal: want only the retried change, got ${st.store.journal}`);
});
