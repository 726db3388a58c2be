// The first five minutes: `make run` on a fresh machine (scripts/run.sh,
// which is make run after the build, with a temp HOME and no display, so it
// serves the UI) seeds its demo data through the real Drillbit, and every
// screen has something on it: Records (6 synced inspections, one in
// conflict), Sync, Conflicts (the conflict with the simulated second device,
// opened side by side) and Settings, each with a screenshot. Then: the
// Records table at 1280 and 1024 pixels, repeated toasts collapsing below
// the page, a second `make run` reusing the demo data, the
// conflict-resolved message naming the record by its title, and the seed
// refusing a data dir that holds records not marked as demo data.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, ROOT, binPath, waitFor } from '../lib/harness.mjs';
import { createRecord, gotoScreen, waitRecords } from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'demo-' });
let dev, page;

/** makeRun starts scripts/run.sh as `make run` would after its build. */
function makeRun() {
  return dev.start({
    command: [path.join(ROOT, 'scripts/run.sh')],
    env: { FIELDSYNC_DRILL_URL: h.drillURL, FIELDSYNC_DEMO_WORKSPACE: h.workspace, FIELDSYNC_BIN: binPath() },
    timeout: 180_000,
  });
}

/** states returns the sync state of each listed record by its name (first column). */
async function states() {
  return page.getByTestId('record-row').evaluateAll((rows) =>
    Object.fromEntries(rows.map((r) => [r.querySelector('th')?.textContent?.trim(), r.querySelector('[data-testid="sync-badge"]')?.getAttribute('data-state')])));
}

/** box returns an element's bounding box, asserting it is shown. */
async function box(locator, what) {
  const b = await locator.boundingBox();
  assert.ok(b, `${what} is not shown`);
  return b;
}

before(async () => {
  await h.setup();
  dev = h.device('make-run');
  await makeRun();
  page = await dev.open('#/records');
  await waitRecords(page);
});

after(() => h.close());

const sites = ['Harbour sea wall', 'North pump station', 'Old mill bridge', 'Quarry road culvert', 'Reservoir inlet', 'Weir 2'];

test('make run opens a working product: demo data on every screen', async (t) => {
  await t.test('the header says it is demo data, kept apart from the real data dir', async () => {
    assert.equal((await page.getByTestId('demo-badge').innerText()).trim(), 'Demo data');
    assert.ok(existsSync(path.join(dev.home, '.local/state/fieldsync-demo/data/demo.txt')), 'no demo marker in the demo data dir');
    assert.ok(!existsSync(path.join(dev.home, '.local/state/fieldsync')), 'make run made the real data dir');
  });

  await t.test('Records: the example inspections, synced, one in conflict', async () => {
    await waitFor(async () => Object.keys(await states()).length === sites.length, { what: 'the six demo records' });
    const got = await states();
    assert.deepEqual(Object.keys(got).sort(), sites);
    for (const s of sites) assert.equal(got[s], s === 'Old mill bridge' ? 'conflict' : 'synced', `${s}: ${got[s]}`);
    await h.shot(page, 'demo-records');
    // Synced through the local Drillbit: Drill has them.
    const current = await h.drill.current(h.workspace, C);
    assert.deepEqual([...current.values()].map((r) => r.doc.site).sort(), sites);
  });

  await t.test('Sync: online, nothing waiting, one conflict to review, the last sync', async () => {
    await gotoScreen(page, 'Sync');
    await waitFor(async () => /Online/.test(await page.getByTestId('sync-state').innerText()), { what: 'the Sync screen to say Online' });
    assert.equal((await page.getByTestId('pending-count').innerText()).trim(), '0');
    assert.match(await page.locator('dd', { has: page.locator('a[href="#/conflicts"]') }).innerText(), /^1$/);
    // The seed's last sync, kept in the store.
    assert.doesNotMatch(await page.getByTestId('last-success').innerText(), /Never/);
    await h.shot(page, 'demo-sync');
  });

  await t.test('Conflicts: the record two devices edited, side by side', async () => {
    await gotoScreen(page, 'Conflicts');
    await waitFor(async () => (await page.getByTestId('conflict-row').count()) === 1, { what: 'the demo conflict' });
    assert.equal((await page.getByTestId('conflict-label').innerText()).trim(), 'Old mill bridge');
    await h.shot(page, 'demo-conflicts');
    await page.getByTestId('conflict-open').click();
    await page.getByTestId('conflict-view').waitFor();
    const heads = await page.locator('[data-testid^="leaf-head-"]').allInnerTexts();
    assert.ok(heads.some((x) => x.includes('@demo-tablet')), `no version from the second device in ${JSON.stringify(heads)}`);
    assert.ok(heads.some((x) => x.includes('@demo-laptop')), `no version from this device in ${JSON.stringify(heads)}`);
    assert.equal(await page.getByTestId('diff-row-risk').getAttribute('data-differs'), 'true');
    await h.shot(page, 'demo-conflict-view', { top: true });
    await page.getByTestId('conflict-close').click();
  });

  await t.test('Settings: the demo Drillbit and workspace, saying where they come from', async () => {
    await gotoScreen(page, 'Settings');
    await page.getByTestId('settings-form').waitFor();
    assert.equal((await page.getByTestId('settings-urls').inputValue()).trim(), h.drillURL);
    assert.equal(await page.getByTestId('settings-workspace').inputValue(), h.workspace);
    assert.match(await page.getByTestId('settings-form').innerText(), /command-line flag --drill/);
    await h.shot(page, 'demo-settings', { top: true });
  });
});

test('the Records table fits 1280 (and 1200) pixels and scrolls at 1024 with the name in view', async () => {
  await gotoScreen(page, 'Records');
  await waitRecords(page);
  const wrap = page.getByTestId('records-scroll');
  const overflow = () => wrap.evaluate((e) => e.scrollWidth - e.clientWidth);

  // 1280 pixels, and 1200: the desktop window's width when it opens.
  for (const width of [1200, 1280]) {
    await page.setViewportSize({ width, height: 860 });
    await waitFor(async () => (await overflow()) <= 0, { what: `the table to fit ${width} pixels` });
    const wrapBox = await box(wrap, 'the table frame');
    const last = await box(page.locator('[data-testid="records-table"] thead th').last(), 'the last column');
    assert.ok(last.x + last.width <= wrapBox.x + wrapBox.width + 1,
      `at ${width} pixels the last column ends at ${last.x + last.width}, past the frame (${wrapBox.x + wrapBox.width})`);
  }
  await h.shot(page, 'demo-records-1280');

  await page.setViewportSize({ width: 1024, height: 860 });
  await waitFor(async () => (await overflow()) > 0, { what: 'the table to scroll sideways at 1024 pixels' });
  await wrap.evaluate((e) => e.scrollTo({ left: e.scrollWidth }));
  await waitFor(() => wrap.evaluate((e) => e.scrollLeft > 0), { what: 'the table to scroll' });
  const narrow = await box(wrap, 'the table frame');
  const name = await box(page.locator('[data-testid="record-row"] th').first(), 'the first name cell');
  assert.ok(Math.abs(name.x - narrow.x) <= 2, `the name column left the view: it is at ${name.x}, the frame at ${narrow.x}`);
  const updated = await box(page.locator('[data-testid="records-table"] thead th').last(), 'the last column');
  assert.ok(updated.x + updated.width <= narrow.x + narrow.width + 1, 'the last column cannot be scrolled into view');
  // The frame's bottom (its scroll bar) is inside the window.
  assert.ok(narrow.y + narrow.height <= 860, `the table frame ends at ${narrow.y + narrow.height}, below the window`);
  await h.shot(page, 'demo-records-1024-scrolled');
  await page.setViewportSize({ width: 1280, height: 860 });
});

test('repeated messages collapse below the page, name the records, and Undo undoes them all', async () => {
  await gotoScreen(page, 'Records');
  await waitRecords(page);
  const made = [];
  for (const site of ['Pier 1', 'Pier 2', 'Pier 3']) {
    made.push(await createRecord(page, C, { site, passed: true, risk: 'low', inspected_at: '2026-11-20T09:00' }));
  }
  const toast = page.getByTestId('toast');
  assert.equal(await toast.count(), 1, 'three creations should make one message');
  assert.match(await toast.innerText(), /3 records created: “Pier 1”, “Pier 2”, “Pier 3”\./);
  // The message is below the page, never over it: the main area ends where
  // the messages begin, and the page's own buttons stay clickable.
  const main = await box(page.locator('main#main'), 'the page');
  const band = await box(page.getByTestId('toasts'), 'the message band');
  assert.ok(band.y >= main.y + main.height - 1, `the messages (top ${band.y}) overlap the page (bottom ${main.y + main.height})`);
  await h.shot(page, 'demo-toasts');
  await page.getByTestId('page-size').click({ trial: true });

  await toast.getByTestId('toast-action').click();
  await waitFor(async () => (await page.getByTestId('record-row').count()) === sites.length, { what: 'Undo to remove the three records' });
  assert.match(await page.getByTestId('toast').innerText(), /3 new records removed/);
});

test('a second make run reuses the demo data, and resolving names the record by its title', async () => {
  await dev.stop();
  await makeRun();
  const log = await readFile(dev.logPath, 'utf8');
  assert.match(log, /demo: using the demo data in /);
  page = await dev.open('#/records');
  await waitRecords(page);
  await waitFor(async () => Object.keys(await states()).length === sites.length, { what: 'the six demo records, no more' });
  assert.equal(await page.getByTestId('demo-badge').count(), 1);

  await gotoScreen(page, 'Conflicts');
  await waitFor(async () => (await page.getByTestId('conflict-row').count()) === 1, { what: 'the demo conflict, once' });
  await page.getByTestId('conflict-open').click();
  await page.getByTestId('conflict-view').waitFor();
  await page.getByTestId('conflict-resolve').click();
  await waitFor(async () => /Conflict on “Old mill bridge” resolved\./.test(await page.getByTestId('toasts').innerText()), {
    what: 'the resolved message naming the record by its title',
  });
});

test('the seed never touches a data dir that holds real records', async () => {
  const home = path.join(h.tmp, 'someone');
  const data = path.join(home, '.local/state/fieldsync-demo/data');
  await mkdir(data, { recursive: true });
  await new Promise((resolve, reject) => {
    execFile(binPath(), ['status', '--data-dir', data], { env: { ...dev.env, HOME: home } }, (err) => (err ? reject(err) : resolve()));
  });
  const before = await stat(path.join(data, 'fieldsync.db'));
  const { code, stderr } = await new Promise((resolve) => {
    execFile(path.join(ROOT, 'scripts/demo-seed.sh'), [h.drillURL], { env: { ...dev.env, HOME: home, FIELDSYNC_BIN: binPath() } },
      (err, _out, errText) => resolve({ code: err ? err.code : 0, stderr: errText }));
  });
  assert.equal(code, 1, `demo-seed.sh should refuse: ${stderr}`);
  assert.match(stderr, /holds a store that is not demo data .*make run DEMO=0/);
  const after = await stat(path.join(data, 'fieldsync.db'));
  assert.equal(after.mtimeMs, before.mtimeMs, 'the store was changed');
  assert.ok(!existsSync(path.join(data, 'demo.txt')), 'the real data dir was marked as demo data');
});
