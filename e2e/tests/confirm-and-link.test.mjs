// Two things a field worker or analyst must be able to trust:
// 1. A policy applied to many conflicts asks first, in a dialog that works
//    with the keyboard only (focus moved in and trapped, Escape cancels and
//    gives the focus back), and then says what it did. The list names each
//    conflict by its record's label, not only its id.
// 2. The header pill follows fieldsync itself: when `fieldsync serve` dies it
//    says "fieldsync is not running" at once (not "Online"), and when serve
//    is back the page says what to do and is fine again once reopened.
//
// The conflicts are made without a Drillbit: the page hands Go, through its
// own bridge session, a record and two edits of it made from the same
// version (two windows of one device), which the journal records as a
// conflict like any other.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Harness, freePort, waitFor } from '../lib/harness.mjs';
import { gotoScreen, waitRecords } from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'confirm-' });
let dev, page, addr;

before(async () => {
  await h.setup();
  dev = h.device('field3');
  addr = `127.0.0.1:${await freePort()}`;
  await dev.start({ addr, extra: ['--no-agent'] });
  page = await dev.open('#/records');
  await waitRecords(page);
});

after(() => h.close());

/**
 * makeConflicts has Go journal n records, each with two edits from the same
 * version, through UI.Accept on the page's bridge session. Returns the ids.
 */
async function makeConflicts(n) {
  return page.evaluate(
    async ({ n, collection, device }) => {
      const session = await (await fetch('/api/session', { credentials: 'same-origin' })).json();
      const csrf = document.cookie
        .split(';')
        .map((p) => p.trim().split('='))
        .find(([k]) => k === session.csrfCookie)?.[1];
      const hex = (len) => Array.from(crypto.getRandomValues(new Uint8Array(len / 2)), (b) => b.toString(16).padStart(2, '0')).join('');
      const version = (ms, node) => `${String(ms).padStart(15, '0')}-0000-${node}`;
      const t0 = Date.now() - 3_600_000;
      const doc = (i, extra) => ({ site: `Weir ${i}`, passed: true, risk: 'low', inspected_at: t0, ...extra });
      const changes = [];
      const ids = [];
      for (let i = 1; i <= n; i++) {
        const id = hex(32);
        ids.push(id);
        const base = version(t0 + i, `${device}.e2e0`);
        const put = (v, d, author, parents, at) => ({
          change_id: hex(32), collection, record_id: id, op: 'put', doc: d, version: v, parents, device, author, edited_at: at,
        });
        changes.push(put(base, doc(i), 'cara', [], t0 + i));
        changes.push(put(version(t0 + 60_000 + i, `${device}.e2ea`), doc(i, { inspector: 'Ana', risk: 'medium' }), 'ana', [base], t0 + 60_000));
        changes.push(put(version(t0 + 120_000 + i, `${device}.e2eb`), doc(i, { inspector: 'Ben', risk: 'high' }), 'ben', [base], t0 + 120_000));
      }
      const res = await fetch('/api/call/UI.Accept', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', [session.csrfHeader]: decodeURIComponent(csrf ?? '') },
        body: JSON.stringify([changes]),
      });
      const body = await res.json();
      if (!res.ok || body.result.accepted !== changes.length) throw new Error(`UI.Accept: ${res.status} ${JSON.stringify(body)}`);
      return ids;
    },
    { n, collection: C, device: dev.name },
  );
}

/** focused returns the data-testid (or id) of the element with the keyboard focus. */
const focused = () =>
  page.evaluate(() => {
    const e = document.activeElement;
    return e?.getAttribute('data-testid') || e?.id || e?.tagName;
  });

/** tabTo presses key until the focused element's testid is want (at most 40 presses). */
async function tabTo(want, key = 'Tab') {
  for (let i = 0; i < 40; i++) {
    if ((await focused()) === want) return;
    await page.keyboard.press(key);
  }
  throw new Error(`${want} never got the keyboard focus (last: ${await focused()})`);
}

test('a policy on a selection asks first, with the keyboard only, and says what it did', async () => {
  const ids = await makeConflicts(3);
  await gotoScreen(page, 'Conflicts');
  const rows = page.getByTestId('conflict-row');
  await waitFor(async () => (await rows.count()) === 3, { what: 'three conflicts listed' });

  // Each row names the record by its Site, says who edited it, and keeps the id secondary.
  const row = page.locator(`[data-testid="conflict-row"][data-record-id="${ids[0]}"]`);
  assert.equal((await row.getByTestId('conflict-label').innerText()).trim(), 'Weir 1');
  assert.equal(await row.getByTestId('conflict-id').innerText(), `${ids[0].slice(0, 8)}…`);
  assert.equal(await row.getByTestId('conflict-id').getAttribute('title'), `Record id ${ids[0]}`);
  assert.match(await row.getByTestId('conflict-versions').innerText(), /ana on field3[\s\S]*ben on field3/);
  assert.equal(await row.getByTestId('conflict-differs').getAttribute('data-count'), '2'); // inspector, risk
  await h.shot(page, 'confirm-conflicts-list');

  // Keyboard only: into the list, select all with "a", back to "Apply to selected".
  await page.locator('#page-title').focus();
  await tabTo('conflict-open');
  await page.keyboard.press('a');
  await waitFor(async () => (await page.getByText('3 selected').count()) === 1, { what: '"3 selected"' });
  await tabTo('batch-apply', 'Shift+Tab');
  await page.keyboard.press('Enter');

  const dialog = page.getByRole('alertdialog');
  await dialog.waitFor();
  assert.match(await dialog.getByRole('heading').innerText(), /Keep the newest version for 3 conflicts\?/);
  const text = await dialog.innerText();
  assert.match(text, /Site inspections \(3\)/);
  assert.match(text, /cannot be undone/);
  for (const site of ['Weir 1', 'Weir 2', 'Weir 3']) assert.match(text, new RegExp(site));
  await waitFor(async () => (await focused()) === 'batch-cancel', { timeout: 5_000, what: 'the focus on Cancel' });
  // The page behind is inert: no clicks, no focus, hidden from screen readers.
  assert.ok(await page.getByTestId('batch-apply').evaluate((e) => !!e.closest('[inert]')), 'the page behind the dialog should be inert');
  // Tab and Shift+Tab stay inside the dialog.
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'batch-confirm');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), 'batch-cancel');
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focused(), 'batch-confirm');
  await h.shot(page, 'confirm-dialog');

  // Escape cancels: nothing resolved, the focus is back on the button.
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await waitFor(async () => (await focused()) === 'batch-apply', { timeout: 5_000, what: 'the focus back on "Apply to selected"' });
  assert.equal(await page.locator('[inert]').count(), 0, 'nothing stays inert after the dialog closed');
  assert.equal(await rows.count(), 3);

  // Again, and confirm.
  await page.keyboard.press('Enter');
  await dialog.waitFor();
  await tabTo('batch-confirm');
  await page.keyboard.press('Enter');
  const resolved = page.getByTestId('batch-resolved');
  await resolved.waitFor({ timeout: 60_000 });
  assert.match(await resolved.innerText(), /3 conflicts resolved with “Keep the newest version”/);
  assert.equal(await page.getByTestId('batch-failures').count(), 0);
  await h.shot(page, 'confirm-outcome');
  await tabTo('batch-close');
  await page.keyboard.press('Enter');
  await dialog.waitFor({ state: 'detached' });
  await waitFor(async () => /0 conflicts/.test(await page.getByTestId('conflict-count').innerText()), {
    what: 'no conflicts left',
  });
  // "Apply to selected" is disabled now; the focus did not fall to the page body.
  assert.notEqual(await focused(), 'BODY');
});

test('the header pill says fieldsync is not running when serve dies, and is fine again when it is back', async () => {
  const pill = page.getByTestId('sync-pill');
  await waitFor(async () => /Online/.test(await pill.innerText()), { what: 'the pill to say Online' });

  await dev.kill(); // a crash: no goodbye to the page
  await waitFor(async () => /fieldsync is not running/.test(await pill.innerText()), {
    timeout: 15_000,
    what: 'the pill to say fieldsync is not running',
  });
  assert.equal(await pill.getAttribute('data-link'), 'down');
  assert.match(await page.getByTestId('connection-notice').innerText(), /kept in this window/);
  await h.shot(page, 'link-not-running');

  // Back on the same address: fieldsync kept its key and session, so this
  // page reconnects by itself, without being opened again.
  await dev.start({ addr, extra: ['--no-agent'] });
  await waitFor(async () => /Online/.test(await pill.innerText()), {
    timeout: 30_000,
    what: 'the pill to say Online again by itself (fieldsync restarted with the same key)',
  });
  assert.equal(await pill.getAttribute('data-link'), 'up');
  assert.equal((await page.getByTestId('connection-notice').innerText()).trim(), '');
  await h.shot(page, 'link-back-by-itself');

  // Restarted with --new-key (IT rotating it): this page's session is over,
  // and the page says to open the address fieldsync printed.
  await dev.stop();
  await dev.start({ addr, extra: ['--no-agent', '--new-key'] });
  await waitFor(async () => /Reconnect needed/.test(await pill.innerText()), {
    timeout: 30_000,
    what: 'the pill to ask for the printed address (fieldsync restarted with a new key)',
  });
  assert.match(await page.getByTestId('connection-notice').innerText(), /Open the address fieldsync printed/);
  await h.shot(page, 'link-session-lost');

  await dev.open('#/records');
  await waitRecords(page);
  await waitFor(async () => /Online/.test(await pill.innerText()), { what: 'the pill to say Online again' });
  assert.equal((await page.getByTestId('connection-notice').innerText()).trim(), '');
});
