// fieldsync (Go) dies while its window is open: the page keeps capturing
// into IndexedDB and its outbox; when fieldsync is back (same address, so
// the same origin and IndexedDB, and the same key) the page, never
// reloaded, hands every change over. Nothing is lost and nothing is
// journaled twice.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Harness, freePort, waitFor } from '../lib/harness.mjs';
import { createRecord, editRecord, gotoScreen, waitRecords, waitState } from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'restart-' });
let dev, page, addr;

before(async () => {
  await h.setup();
  dev = h.device('field2');
  addr = `127.0.0.1:${await freePort()}`;
  await dev.start({ addr, extra: ['--no-agent'] });
  page = await dev.open('#/records');
  await waitRecords(page);
});

after(() => h.close());

/** handedOver waits until the Sync screen says nothing is left in this window. */
async function handedOver() {
  await gotoScreen(page, 'Sync');
  const line = page.getByText(/still in this window/);
  await waitFor(async () => /·\s*0 still in this window/.test(await line.innerText()), {
    what: 'every change of this window to be handed to fieldsync',
  });
  await gotoScreen(page, 'Records');
}

test('changes captured while fieldsync is down are journaled once it is back', async () => {
  const a = await createRecord(page, C, { site: 'Before the crash', passed: true, risk: 'low', inspected_at: '2026-11-22T08:00' });
  await handedOver();

  await dev.kill(); // a crash: no goodbye to the page
  const b = await createRecord(page, C, { site: 'While fieldsync was down', passed: false, risk: 'high', inspected_at: '2026-11-22T09:00' });
  await editRecord(page, C, a, { inspector: 'edited while down' });
  await waitState(page, b, 'local');
  // The Sync screen says so, and the two changes wait in this window.
  await gotoScreen(page, 'Sync');
  await waitFor(async () => /Not connected/.test(await page.getByTestId('sync-state').innerText()), {
    what: 'the Sync screen to say fieldsync is not connected',
  });
  await waitFor(async () => /·\s*2 still in this window/.test(await page.getByText(/still in this window/).innerText()), {
    what: 'two changes waiting in this window',
  });
  await h.shot(page, 'sync-fieldsync-down');

  // Back on the same address, with the key and session it remembered: the
  // page, never reloaded, reconnects and hands both changes over by itself.
  await dev.start({ addr, extra: ['--no-agent'] });
  await handedOver();

  await dev.stop();
  const docs = await dev.exportDocs(C);
  assert.equal(docs.get(a)?.inspector, 'edited while down');
  assert.equal(docs.get(b)?.site, 'While fieldsync was down');
  const st = JSON.parse(await dev.cli('status', '--json'));
  assert.equal(st.store.journal, 3, `journal: want 3 changes (create a, create b, edit a), got ${st.store.journal}`);
});
